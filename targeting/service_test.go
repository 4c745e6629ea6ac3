package targeting

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// kafkaPublish publishes decisions to the broker's decisions topic with the project's producer.
func kafkaPublish(tb testing.TB, b *kafkatest.Broker) func(context.Context, []Decision) error {
	p := ingest.NewProducer([]string{b.Addr})
	tb.Cleanup(func() { p.Close() })
	return func(ctx context.Context, ds []Decision) error {
		msgs := make([]ingest.Message, len(ds))
		for i := range ds {
			msgs[i] = ingest.Message{Topic: b.Topics.Decisions, Key: ds[i].DeclarationNo, Value: ds[i]}
		}
		return p.Publish(ctx, msgs...)
	}
}

func decisionsOnTopic(tb testing.TB, b *kafkatest.Broker, n int, timeout time.Duration) map[string]int {
	tb.Helper()
	got := map[string]int{}
	for _, m := range b.Consume(tb, b.Topics.Decisions, n, timeout) {
		var d Decision
		if err := json.Unmarshal(m.Value, &d); err != nil {
			tb.Fatalf("decision message does not decode: %v", err)
		}
		got[d.ID()]++
	}
	return got
}

func TestServiceDecidesIdempotentlyAndPublishesOnce(t *testing.T) {
	b := kafkatest.Start(t, 1)
	reg := prometheus.NewRegistry()
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d1, err := s.Decide(ctx, testDecl(1, "IMP0000001"))
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Decide(ctx, testDecl(1, "IMP0000001"))
	if err != nil {
		t.Fatal(err)
	}
	if d1.ID() != d2.ID() || d1.Channel != d2.Channel || d1.Score != d2.Score || !d1.DecidedAt.Equal(d2.DecidedAt) {
		t.Fatalf("second decision differs: %+v vs %+v", d1, d2)
	}
	amended := testDecl(1, "IMP0000001")
	amended.Version = 2
	if _, err := s.Decide(ctx, amended); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.Decision(d1.DeclarationNo, 0); !ok || got.Version != 2 {
		t.Errorf("latest decision: %+v %v, want version 2", got.Version, ok)
	}
	if got, ok := s.Decision(d1.DeclarationNo, 1); !ok || got.Score != d1.Score {
		t.Errorf("decision version 1 not found")
	}
	got := decisionsOnTopic(t, b, 3, 2*time.Second)
	if got[d1.ID()] != 1 || got[amended.ID()] != 1 || len(got) != 2 {
		t.Errorf("decisions on the topic: %v, want each version once", got)
	}
	if n := sumCounters(t, s.m.decisions); n != 2 {
		t.Errorf("decisions counted %v, want 2", n)
	}
}

func TestWhenKafkaRefusesWritesTheDecisionIsStillReturnedAndPublishedLater(t *testing.T) {
	b := kafkatest.Start(t, 1)
	var down atomic.Bool
	down.Store(true)
	b.Cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.Cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker unavailable"), true
		}
		return nil, nil, false
	})
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: kafkaPublish(t, b), PublishTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	d, err := s.Decide(ctx, testDecl(7, "IMP0000001"))
	if err != nil || d.Channel == "" {
		t.Fatalf("decision while Kafka is down: %+v, %v", d, err)
	}
	if err := s.Accept(ctx, []*ingest.Declaration{testDecl(8, "IMP0000001")}); err == nil {
		t.Fatal("Accept returned nil although publishing failed: the consumer would commit unpublished decisions")
	}
	if h := s.Health(); h.PendingPublish != 1 {
		t.Fatalf("pending publications %d, want 1", h.PendingPublish)
	}
	down.Store(false)
	kafkatest.WaitFor(t, 20*time.Second, "retry queue drains", func() bool { return s.Health().PendingPublish == 0 })
	if err := s.Accept(ctx, []*ingest.Declaration{testDecl(8, "IMP0000001")}); err != nil {
		t.Fatalf("Accept after Kafka returned: %v", err)
	}
	got := decisionsOnTopic(t, b, 2, 3*time.Second)
	if got[d.ID()] != 1 || got[testDecl(8, "").ID()] != 1 {
		t.Errorf("decisions on the topic: %v", got)
	}
}

func TestFeedbackUpdatesTheProfileAndSkipsMalformedMessages(t *testing.T) {
	s, err := NewService(mustEngine(t, nil), ServiceDeps{Publish: func(context.Context, []Decision) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, _ := s.Decide(ctx, testDecl(1, "IMP0000042"))
	before := posteriorMean(s.Engine(), "importer", "IMP0000042")

	full, _ := json.Marshal(map[string]any{"schema": "portguard.inspection-result/v1", "label": outcomeFor(d, true, 1)})
	// A label without features borrows them from the decision the service remembers.
	bare := outcomeFor(d, true, 1)
	bare.DeclarationNo, bare.Features = "310100000000000002", nil
	d2, _ := s.Decide(ctx, testDecl(2, "IMP0000042"))
	bare.Version = d2.Version
	bareMsg, _ := json.Marshal(map[string]any{"label": bare})
	batch := []kafka.Message{
		{Value: []byte("{not json")},
		{Value: []byte(`{"label": null}`)},
		{Value: full},
		{Value: full}, // redelivered
		{Value: bareMsg},
	}
	if err := s.FeedbackHandler()(ctx, batch); err != nil {
		t.Fatalf("handler asked for a retry: %v", err)
	}
	after := posteriorMean(s.Engine(), "importer", "IMP0000042")
	if !(after > before) {
		t.Fatalf("importer posterior %.4f → %.4f after two hits", before, after)
	}
	if got := sumCounters(t, s.m.fbMalformed); got != 2 {
		t.Errorf("malformed counted %v, want 2", got)
	}
	if got := sumCounters(t, s.m.fbApplied); got != 2 {
		t.Errorf("applied counted %v, want 2", got)
	}
	if got := sumCounters(t, s.m.fbDuplicate); got != 1 {
		t.Errorf("duplicates counted %v, want 1", got)
	}
}

// sumCounters adds up every counter a collector exports.
func sumCounters(tb testing.TB, c prometheus.Collector) float64 {
	tb.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			tb.Fatal(err)
		}
		sum += pb.GetCounter().GetValue()
	}
	return sum
}
