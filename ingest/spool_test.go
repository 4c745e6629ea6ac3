package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type spooled struct {
	kind string
	raw  string
}

func drainAll(t *testing.T, s *Spool) []spooled {
	t.Helper()
	var got []spooled
	if err := s.Drain(context.Background(), func(kind string, raw []byte) error {
		got = append(got, spooled{kind, string(raw)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 200) // tiny segments: several files
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		if err := s.Append(ctx, "declarations", map[string]int{"n": i}, map[string]int{"n": 100 + i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ctx, "manifests", []byte(`{ "bl" : "X" }`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) < 2 {
		t.Fatalf("expected several segments, got %d", len(files))
	}

	s, err = OpenSpool(dir, 200)
	if err != nil {
		t.Fatal(err)
	}
	if s.Depth() != 21 {
		t.Fatalf("depth after reopen %d, want 21", s.Depth())
	}
	got := drainAll(t, s)
	if len(got) != 21 || got[0].raw != `{"n":0}` || got[1].raw != `{"n":100}` || got[20] != (spooled{"manifests", `{"bl":"X"}`}) {
		t.Fatalf("drained %v", got)
	}
	if s.Depth() != 0 {
		t.Fatalf("depth after drain %d", s.Depth())
	}
	files, _ = filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != 0 {
		t.Fatalf("segments left after a full drain: %v", files)
	}
	if got := drainAll(t, s); len(got) != 0 {
		t.Fatalf("a second drain delivered again: %v", got)
	}
}

func TestSpoolKeepsRecordsWhenDrainFails(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if err := s.Append(ctx, "k", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	down := errors.New("store down")
	calls := 0
	err = s.Drain(ctx, func(string, []byte) error {
		calls++
		if calls == 3 {
			return down
		}
		return nil
	})
	if !errors.Is(err, down) {
		t.Fatalf("drain error %v", err)
	}
	if s.Depth() != 3 {
		t.Fatalf("depth %d after delivering 2 of 5", s.Depth())
	}
	got := drainAll(t, s)
	if len(got) != 3 || got[0].raw != `{"n":2}` {
		t.Fatalf("the retry should resume at the failed record: %v", got)
	}
}

func TestSpoolIgnoresATornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), "k", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("deadbeef k {\"n\":2}\n0000") // a corrupt line and a torn one
	f.Close()
	s, err = OpenSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := drainAll(t, s); len(got) != 1 || got[0].raw != `{"n":1}` {
		t.Fatalf("got %v", got)
	}
}

func TestSpoolAppendsConcurrentlyWithDrain(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), 4096)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := s.Append(ctx, "k", map[string]string{"id": strconv.Itoa(w) + "-" + strconv.Itoa(i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	collect := func(kind string, raw []byte) error {
		mu.Lock()
		seen[string(raw)]++
		mu.Unlock()
		return nil
	}
	for i := 0; i < 20; i++ {
		if err := s.Drain(ctx, collect); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := s.Drain(ctx, collect); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 800 {
		t.Fatalf("got %d distinct records, want 800", len(seen))
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
	if s.Depth() != 0 {
		t.Fatalf("depth %d", s.Depth())
	}
}

func TestSpoolDrainsInBatchesOfOneKind(t *testing.T) {
	s, err := OpenSpool(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		_ = s.Append(ctx, "a", i)
	}
	_ = s.Append(ctx, "b", 9)
	var sizes []string
	if err := s.DrainBatches(ctx, 2, func(kind string, raws [][]byte) error {
		sizes = append(sizes, kind+strconv.Itoa(len(raws)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sizes, ","); got != "a2,a2,a1,b1" {
		t.Fatalf("batches %s", got)
	}
}
