package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/ingest"
)

// TestBenchPrintsItsFigures runs the self-contained benchmark small: it must start its own
// servers, push every declaration through, and print one JSON object with positive figures.
func TestBenchPrintsItsFigures(t *testing.T) {
	startOwnClickHouse(t) // skips with the reason when clickhouse-server is missing (never under CI)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	res, err := ingest.Bench(ctx, &out, ingest.BenchOptions{Declarations: 3000, OpenStore: func(ctx context.Context, addr string) (ingest.Store, error) {
		cfg := analytics.DefaultConfig()
		cfg.Addr = addr
		s, err := analytics.Open(ctx, cfg, nil, prometheus.NewRegistry())
		if err != nil {
			return nil, err
		}
		return s, s.Migrate(ctx)
	}})
	if err != nil {
		t.Fatal(err)
	}
	var printed map[string]float64
	if err := json.Unmarshal(out.Bytes(), &printed); err != nil {
		t.Fatalf("output is not one JSON object: %q", out.String())
	}
	for _, k := range []string{"declarations_per_s", "raw_kafka_per_s", "raw_clickhouse_rows_per_s", "ratio"} {
		if !(printed[k] > 0) {
			t.Errorf("%s = %v", k, printed[k])
		}
	}
	t.Logf("%+v", res)
}
