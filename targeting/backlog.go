package targeting

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// backlog is a bounded queue drained by a goroutine that exists only while there is work: the
// first push starts it, it retries failed batches with backoff, and it exits when the queue is
// empty. Nothing needs starting or stopping for it to work; close stops it early.
type backlog[T any] struct {
	mu      sync.Mutex
	items   []T
	max     int
	batch   int
	running bool
	closed  bool
	stop    chan struct{}
	idle    *sync.Cond
	work    func(context.Context, []T) ([]T, error)
	gauge   func(int)
	log     *slog.Logger
	dropped int
	// linger is how long a round waits for a full batch before taking what is queued (0: no
	// wait): fewer, larger writes where each write has a fixed cost (a ClickHouse insert is a
	// new part to merge).
	linger time.Duration
}

func newBacklog[T any](max, batch int, work func(context.Context, []T) ([]T, error), gauge func(int), log *slog.Logger) *backlog[T] {
	b := &backlog[T]{max: max, batch: batch, work: work, gauge: gauge, log: log, stop: make(chan struct{})}
	b.idle = sync.NewCond(&b.mu)
	return b
}

func (b *backlog[T]) push(items ...T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.items = append(b.items, items...)
	if over := len(b.items) - b.max; over > 0 {
		b.items = b.items[over:]
		b.dropped += over
		b.log.Error("retry queue full: oldest entries dropped", "dropped", over, "total_dropped", b.dropped)
	}
	b.setGauge()
	if !b.running {
		b.running = true
		go b.loop()
	}
}

func (b *backlog[T]) setGauge() {
	if b.gauge != nil {
		b.gauge(len(b.items))
	}
}

func (b *backlog[T]) loop() {
	wait := 100 * time.Millisecond
	for {
		b.mu.Lock()
		if b.linger > 0 && len(b.items) < b.batch && !b.closed {
			b.mu.Unlock()
			select {
			case <-b.stop:
			case <-time.After(b.linger):
			}
			b.mu.Lock()
		}
		if len(b.items) == 0 || b.closed {
			b.running = false
			b.idle.Broadcast()
			b.mu.Unlock()
			return
		}
		n := min(len(b.items), b.batch)
		batch := append([]T(nil), b.items[:n]...)
		b.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		failed, err := b.work(ctx, batch)
		cancel()
		if err != nil {
			// Keep only what failed, in place of the batch.
			b.mu.Lock()
			b.items = append(failed, b.items[n:]...)
			b.setGauge()
			b.mu.Unlock()
			b.log.Warn("retry failed", "items", n, "err", err, "next_in", wait)
			select {
			case <-b.stop:
			case <-time.After(wait):
			}
			wait = min(wait*2, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		b.mu.Lock()
		b.items = b.items[n:]
		b.setGauge()
		b.mu.Unlock()
	}
}

func (b *backlog[T]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.items)
}

// wait blocks until the queue is empty and idle, or ctx ends.
func (b *backlog[T]) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		b.mu.Lock()
		for b.running {
			b.idle.Wait()
		}
		b.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *backlog[T]) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
}
