package targeting

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func TestProfileTableAgreesWithAMapThroughInsertsUpdatesAndDeletes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var tb ptable
	ref := map[uint64]stat{}
	// Few distinct keys with clustered homes force long probe runs and wrap-around, where
	// backward-shift deletion is easiest to get wrong; key 0 checks the empty-marker remap.
	keys := make([]uint64, 300)
	for i := range keys {
		keys[i] = r.Uint64() >> uint(r.IntN(64))
	}
	keys[0] = 0
	for step := 0; step < 200_000; step++ {
		k := fixKey(keys[r.IntN(len(keys))])
		switch r.IntN(3) {
		case 0, 1:
			st := stat{h: float64(step), n: float64(step + 1), t: int64(step)}
			tb.put(k, st)
			ref[k] = st
		case 2:
			tb.del(k)
			delete(ref, k)
		}
		if step%997 == 0 {
			if tb.n != len(ref) {
				t.Fatalf("step %d: table holds %d entries, map %d", step, tb.n, len(ref))
			}
			for _, k := range keys {
				k = fixKey(k)
				got, ok := tb.get(k)
				want, wok := ref[k]
				if ok != wok || got != want {
					t.Fatalf("step %d: key %x: table (%v, %v), map (%v, %v)", step, k, got, ok, want, wok)
				}
			}
		}
	}
	seen := 0
	tb.each(func(k uint64, st stat) {
		seen++
		if ref[k] != st {
			t.Errorf("each yields %x=%v, map has %v", k, st, ref[k])
		}
	})
	if seen != len(ref) {
		t.Errorf("each yielded %d entries, want %d", seen, len(ref))
	}
}

func TestProfileShardReadersNeverSeeATornOrMisplacedEntry(t *testing.T) {
	var s pshard
	const keys = 2000
	done := make(chan struct{})
	errs := make(chan string, 4)
	for g := 0; g < 3; g++ {
		go func(g int) {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				k := uint64(r.IntN(keys)) + 1
				st, ok := s.get(k)
				// Every write stores h = n = t = the key times a version; anything else is torn
				// or belongs to another key.
				if ok && (st.h != st.n || float64(st.t) != st.n || uint64(st.n)%k != 0) {
					errs <- fmt.Sprintf("key %d read %+v", k, st)
					return
				}
			}
		}(g)
	}
	r := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 300_000; i++ {
		k := uint64(r.IntN(keys)) + 1
		v := float64(k * uint64(1+r.IntN(1000)))
		if r.IntN(4) == 0 {
			v = 0 // delete
		}
		s.mu.Lock()
		s.set(k, stat{h: v, n: v, t: int64(v)})
		s.mu.Unlock()
	}
	close(done)
	for g := 0; g < 3; g++ {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}
