package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics/chserver"
)

// TestBenchHTTPPrintsItsFigures runs `bench http` small: its last line is one JSON object with
// every figure, every request answered, and the CPU accounting filled in — the benchmark is a
// command people run to judge the API, so it must keep working.
func TestBenchHTTPPrintsItsFigures(t *testing.T) {
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it") // the bench starts its own
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"bench", "http", "--json", "--requests", "400", "--connections", "8"}, os.Getenv, &out, &errOut); err != nil {
		t.Fatalf("bench http: %v\n%s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r httpBenchResult
	dec := json.NewDecoder(strings.NewReader(lines[len(lines)-1]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("last line is not the result: %v: %q", err, lines[len(lines)-1])
	}
	if r.Connections != 8 || r.Requests != 400 || r.Errors != 0 || r.Stages != "none" {
		t.Errorf("result %+v: want 8 connections, 400 requests, no errors, stages none", r)
	}
	for name, v := range map[string]float64{"rps": r.RPS, "p50_ms": r.P50ms, "p99_ms": r.P99ms, "baseline_rps": r.BaselineRPS,
		"ratio": r.Ratio, "cpu_us_per_request": r.CPUus, "baseline_cpu_us_per_request": r.BaseCPUus, "cpu_ratio": r.CPURatio} {
		if !(v > 0) {
			t.Errorf("%s = %v, want a positive figure", name, v)
		}
	}
	if r.P99ms < r.P50ms {
		t.Errorf("p99 %v below p50 %v", r.P99ms, r.P50ms)
	}
}
