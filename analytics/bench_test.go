package analytics

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
)

// TestBenchLoadsAndTimesEveryDashboardQuery runs Bench small (PORTGUARD_BENCH_ROWS overrides the
// size for a manual measurement; the figures are printed with -v, never asserted).
func TestBenchLoadsAndTimesEveryDashboardQuery(t *testing.T) {
	s, db := mustStore(t)
	rows := 3000
	if v, err := strconv.Atoi(os.Getenv("PORTGUARD_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	var progress bytes.Buffer
	res, err := Bench(context.Background(), s, &progress, rows)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", progress.String())
	if res.Rows != rows || db.Count(t, "decisions FINAL", "") != uint64(rows) {
		t.Fatalf("rows = %d, decisions stored = %d, want %d", res.Rows, db.Count(t, "decisions FINAL", ""), rows)
	}
	if got := db.Count(t, "inspection_results", ""); res.Results == 0 || got != uint64(res.Results) {
		t.Fatalf("results = %d, stored %d", res.Results, got)
	}
	if len(res.Queries) < 8 || res.LoadRowsPerS <= 0 {
		t.Fatalf("result %+v", res)
	}
	for _, q := range res.Queries {
		if q.Name == "" || q.ColdMS <= 0 || q.WarmMS <= 0 {
			t.Errorf("query %+v not measured", q)
		}
	}
	// The generator's data must make the dashboards say something: some inspections, some hits.
	h, err := s.HitRates(context.Background(), Scope{From: benchEnd.AddDate(-1, 0, 0), To: benchEnd})
	if err != nil {
		t.Fatal(err)
	}
	if h.Overall.N == 0 || h.Overall.Hits == 0 || h.Random.N == 0 || h.Declarations != uint64(rows) {
		t.Fatalf("generated data is degenerate: %+v", h)
	}
	t.Logf("hit rates: random %.3f targeted %.3f lift %.2f ipw %.3f", h.Random.Rate, h.Targeted.Rate, h.Lift, h.IPWNonCompliance)
}
