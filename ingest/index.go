package ingest

import "time"

// bounded is a map that holds at most about limit entries: two generations, the older one
// dropped whole when the newer fills up. Lookups cost two map probes; there is no per-entry
// bookkeeping, which matters for a million-entry dedup set. Not safe for concurrent use.
type bounded[V any] struct {
	limit    int
	cur, old map[string]V
}

func newBounded[V any](limit int) *bounded[V] {
	if limit < 2 {
		limit = 2
	}
	return &bounded[V]{limit: limit, cur: map[string]V{}}
}

func (b *bounded[V]) get(k string) (V, bool) {
	if v, ok := b.cur[k]; ok {
		return v, true
	}
	v, ok := b.old[k]
	return v, ok
}

func (b *bounded[V]) put(k string, v V) {
	if _, ok := b.cur[k]; !ok && len(b.cur) >= b.limit/2 {
		b.old, b.cur = b.cur, make(map[string]V, b.limit/2)
	}
	b.cur[k] = v
	delete(b.old, k)
}

func (b *bounded[V]) del(k string) {
	delete(b.cur, k)
	delete(b.old, k)
}

func (b *bounded[V]) len() int { return len(b.cur) + len(b.old) }

// timed is a value remembered with the time it arrived, for the join window.
type timed[V any] struct {
	v  V
	at time.Time
}
