package analytics

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecorderStoresEveryMessageExactlyOnce produces decisions, results, releases and dead letters
// to a real broker — some twice, one malformed — and watches the rows appear in ClickHouse once.
func TestRecorderStoresEveryMessageExactlyOnce(t *testing.T) {
	b := kafkatest.Start(t, 2)
	db := chtest.New(t)
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = db.Addr, db.Database
	reg := prometheus.NewRegistry()
	s, err := Open(context.Background(), cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunRecorder(ctx, []string{b.Addr}, b.Topics, "", s, nil) }()

	d1 := mustJSON(t, testDecision(declNo(1), 1, targeting.Red, targeting.SelectedByRule, day0))
	d2 := mustJSON(t, testDecision(declNo(2), 1, targeting.Green, targeting.NotSelected, day0))
	r1 := mustJSON(t, testResult(declNo(1), 1, 1, clearance.NonConforming, day0))
	r2 := mustJSON(t, testResult(declNo(1), 1, 2, clearance.Conforming, day0))
	rel := mustJSON(t, clearance.Release{Schema: clearance.SchemaReleaseV1, DeclarationNo: declNo(1), DeclVersion: 1, Port: "2201", Channel: targeting.Red, Disposition: "RELEASE", ReleasedBy: "o", ReleasedAt: day0})
	dl := mustJSON(t, ingest.DeadLetter{Schema: ingest.SchemaDeadLetterV1, SourceTopic: "portguard.declarations", Offset: 3, Value: []byte("{"), Reason: "invalid JSON", At: day0})
	key := func(i int) []byte { return []byte(declNo(1)) }
	b.Produce(t, b.Topics.Decisions, [][]byte{d1, []byte("{not json"), d2, d1}, key)
	b.Produce(t, b.Topics.InspectionResults, [][]byte{r1, r2, r1}, key)
	b.Produce(t, b.Topics.Releases, [][]byte{rel, rel}, key)
	b.Produce(t, b.Topics.DeadLetters, [][]byte{dl, dl, []byte(`{"schema":"x"}`)}, key)

	want := map[string]uint64{"decisions": 2, "inspection_results": 2, "releases": 1, "dead_letters": 1}
	kafkatest.WaitFor(t, 30*time.Second, "every row recorded", func() bool {
		for table, n := range want {
			if db.Count(t, table+" FINAL", "") != n {
				return false
			}
		}
		// Every non-malformed message went through an insert, duplicates included.
		return db.Count(t, "decisions", "") >= 3 && db.Count(t, "dead_letters", "") >= 2
	})
	var skipped float64
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "portguard_analytics_skipped_messages_total" {
			for _, m := range mf.GetMetric() {
				skipped += m.GetCounter().GetValue()
			}
		}
	}
	if skipped != 2 {
		t.Fatalf("skipped messages = %v, want 2 (one malformed decision, one dead letter without source)", skipped)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunRecorder returned %v after cancellation, want nil", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RunRecorder did not stop after cancellation")
	}
	for table, n := range want {
		if got := db.Count(t, table+" FINAL", ""); got != n {
			t.Errorf("%s FINAL = %d, want %d", table, got, n)
		}
	}
}
