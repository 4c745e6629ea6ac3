package targeting

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// TestALingeringBacklogWritesFewerLargerBatches: with a linger, items pushed one at a time
// within it go to the store in one write (the audit chain's inserts are ClickHouse parts);
// without one, each push that finds the queue idle is written on its own; and a lingering
// round still ends at once when the backlog is closed.
func TestALingeringBacklogWritesFewerLargerBatches(t *testing.T) {
	run := func(linger time.Duration) []int {
		var mu sync.Mutex
		var sizes []int
		b := newBacklog(1000, 500, func(_ context.Context, xs []int) ([]int, error) {
			mu.Lock()
			sizes = append(sizes, len(xs))
			mu.Unlock()
			return nil, nil
		}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		b.linger = linger
		for i := range 20 {
			b.push(i)
			time.Sleep(2 * time.Millisecond)
		}
		if err := b.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, n := range sizes {
			total += n
		}
		if total != 20 {
			t.Fatalf("linger %v: %d items written, want 20", linger, total)
		}
		return sizes
	}
	if sizes := run(time.Second); len(sizes) != 1 {
		t.Errorf("linger 1s: %d writes %v, want the 20 pushes (40 ms) in one", len(sizes), sizes)
	}
	if sizes := run(0); len(sizes) < 10 {
		t.Errorf("no linger: %d writes %v, want each push written about as it came", len(sizes), sizes)
	}

	b := newBacklog(1000, 500, func(context.Context, []int) ([]int, error) { return nil, nil }, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.linger = time.Hour
	b.push(1)
	start := time.Now()
	b.close()
	if err := b.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("close took %v to end a lingering round", d)
	}
}
