package kafkatest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest/kafkatest"
)

func TestProducedMessagesCanBeConsumedFromEveryPartition(t *testing.T) {
	b := kafkatest.Start(t, 3)
	var vals [][]byte
	for i := range 30 {
		vals = append(vals, fmt.Appendf(nil, `{"n":%d}`, i))
	}
	b.Produce(t, b.Topics.Declarations, vals, func(i int) []byte { return fmt.Appendf(nil, "k%d", i) })
	got := b.Consume(t, b.Topics.Declarations, 30, 10*time.Second)
	if len(got) != 30 {
		t.Fatalf("consumed %d messages, want 30", len(got))
	}
	parts := map[int]bool{}
	for _, m := range got {
		parts[m.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("messages landed on %d partition(s); keyed messages should spread", len(parts))
	}
}
