package ingest

import (
	"context"
	"errors"
	"testing"

	"github.com/segmentio/kafka-go"
)

// After a restart the uncommitted range can span many batches: every message below the
// partition's end as found at the first read counts as a possible redelivery, not only the
// first batch; a partition read in order from then on does not.
func TestEveryMessageBelowTheEndFoundAtTheFirstReadMayBeARedelivery(t *testing.T) {
	c := &Consumer{next: map[int]int64{}, suspect: map[int]int64{}, fresh: map[int]bool{},
		committed: func(context.Context, int) (bool, error) { return true, nil }}
	batch := func(p int, from, to, hwm int64) []kafka.Message {
		var ms []kafka.Message
		for o := from; o < to; o++ {
			ms = append(ms, kafka.Message{Partition: p, Offset: o, HighWaterMark: hwm})
		}
		return ms
	}
	steps := []struct {
		name string
		ms   []kafka.Message
		want bool
	}{
		{"first batch after the start, resuming at the commit", batch(0, 100, 110, 130), true},
		{"the next batch, still below the end found at the start", batch(0, 110, 120, 140), true},
		{"the batch that crosses that end", batch(0, 120, 135, 140), true},
		{"in order past that end", batch(0, 135, 140, 150), false},
		{"another partition's first batch", append(batch(0, 140, 141, 150), batch(1, 7, 8, 8)...), true},
		{"both in order past their ends", append(batch(0, 141, 142, 150), batch(1, 8, 9, 9)...), false},
		{"a jump back (the partition came back after a rebalance)", batch(1, 3, 5, 12), true},
		{"up to the end found at the jump", batch(1, 5, 12, 12), true},
		{"then in order again", batch(1, 12, 13, 13), false},
	}
	for _, s := range steps {
		if got := c.mayBeRedelivered(context.Background(), s.ms); got != s.want {
			t.Errorf("%s: may be redelivered %v, want %v", s.name, got, s.want)
		}
	}
}

// A group that never committed a partition reads it from its start without the redelivery
// check (a new group catching up on a backlog); when the broker cannot say, the check is kept.
func TestAPartitionTheGroupNeverCommittedIsNotARedelivery(t *testing.T) {
	msgs := func(p int, from, to, hwm int64) []kafka.Message {
		var ms []kafka.Message
		for o := from; o < to; o++ {
			ms = append(ms, kafka.Message{Partition: p, Offset: o, HighWaterMark: hwm})
		}
		return ms
	}
	fresh := &Consumer{next: map[int]int64{}, suspect: map[int]int64{}, fresh: map[int]bool{},
		committed: func(context.Context, int) (bool, error) { return false, nil }}
	if fresh.mayBeRedelivered(context.Background(), msgs(0, 0, 10, 500)) || fresh.mayBeRedelivered(context.Background(), msgs(0, 10, 20, 500)) {
		t.Error("a partition the group never committed was treated as a possible redelivery")
	}
	if !fresh.mayBeRedelivered(context.Background(), msgs(0, 5, 6, 500)) {
		t.Error("a jump back in a fresh partition was not treated as a possible redelivery")
	}
	unknown := &Consumer{next: map[int]int64{}, suspect: map[int]int64{}, fresh: map[int]bool{},
		committed: func(context.Context, int) (bool, error) { return false, errors.New("coordinator not available") }}
	if !unknown.mayBeRedelivered(context.Background(), msgs(0, 0, 10, 500)) {
		t.Error("when the broker cannot say, the first read must be checked")
	}
}
