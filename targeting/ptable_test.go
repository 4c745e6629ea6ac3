package targeting

import (
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
