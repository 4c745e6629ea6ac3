package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics/chtest"
)

// TestBenchLoadsAndTimesEveryDashboardQuery runs the benchmark small, over 30 days, and checks
// that what it loaded is all there exactly once and that the dashboards answer on it.
func TestBenchLoadsAndTimesEveryDashboardQuery(t *testing.T) {
	s, db := mustStore(t)
	const rows = 3000
	var progress bytes.Buffer
	res, err := BenchWith(context.Background(), s, &progress, BenchOptions{Rows: rows, Days: 30, Batch: 700})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", progress.String())
	// The rollup job adds 100 decisions without declarations at the end.
	if res.Rows != rows || db.Count(t, "declarations FINAL", "") != rows || db.Count(t, "decision_facts", "") != rows+100 {
		t.Fatalf("rows = %d, declarations stored = %d, facts = %d, want %d", res.Rows,
			db.Count(t, "declarations FINAL", ""), db.Count(t, "decision_facts", ""), rows)
	}
	if got := db.Count(t, "declaration_items", ""); res.Items < rows || got != uint64(res.Items) {
		t.Fatalf("items = %d, stored %d", res.Items, got)
	}
	// Re-deliveries and re-decisions make more decision rows than declarations, one per
	// declaration once deduplicated.
	if got := db.Count(t, "decisions FINAL", "importer != 'BENCH'"); res.Decisions <= rows || got != rows {
		t.Fatalf("decisions = %d (want more than %d), stored %d once deduplicated, want %d", res.Decisions, rows, got, rows)
	}
	if got := db.Count(t, "inspection_results", ""); res.Results == 0 || got != uint64(res.Results) {
		t.Fatalf("results = %d, stored %d", res.Results, got)
	}
	if len(res.Queries) < 13 || len(res.Jobs) != 5 || res.LoadRowsPerS <= 0 {
		t.Fatalf("result %+v", res)
	}
	names := map[string]bool{}
	for _, q := range res.Queries {
		names[q.Name] = true
	}
	if !names["trend_month_by_enterprise_grade"] || !names["trend_week_by_enterprise_grade_hs2_red_black"] {
		t.Errorf("the trends by enterprise grade are not measured: %v", names)
	}
	// Decisions after the grading count under grades; the ones before it are ungraded.
	if graded := db.Count(t, "decision_facts", "enterprise_grade != ''"); graded == 0 || graded >= rows {
		t.Errorf("%d of %d facts graded, want those decided after %s only", graded, rows, benchGradeAt(30).Format(dateLayout))
	}
	for _, q := range res.Queries {
		if q.Name == "" || q.ColdMS <= 0 || q.WarmMS <= 0 {
			t.Errorf("query %+v not measured", q)
		}
	}
	// The generated data must make the dashboards say something: random control, targeting
	// that beats it, and hits.
	h, err := s.HitRates(context.Background(), Scope{From: benchEnd.AddDate(0, 0, -30), To: benchEnd})
	if err != nil {
		t.Fatal(err)
	}
	if h.Overall.N == 0 || h.Overall.Hits == 0 || h.Random.N == 0 || h.Declarations != rows+100 || h.Lift <= 1 {
		t.Fatalf("generated data is degenerate: %+v", h)
	}
	t.Logf("hit rates: random %.3f targeted %.3f lift %.2f ipw %.3f", h.Random.Rate, h.Targeted.Rate, h.Lift, h.IPWNonCompliance)
}

// BenchmarkDashboards runs the analytics benchmark once per iteration and prints its JSON:
//
//	PORTGUARD_BENCH_ROWS=1000000 go test -run '^$' -bench Dashboards -benchtime 1x ./analytics/
//
// PORTGUARD_BENCH_ADDR=host:port uses that ClickHouse (a fresh database in it) instead of the
// test server; with PORTGUARD_BENCH_DB=name as well, it only reruns the queries on a database a
// previous run loaded, or with PORTGUARD_BENCH_RESUME=n as well resumes an interrupted load
// after (about) n declarations. `portguard bench analytics --json` is the same measurement.
func BenchmarkDashboards(b *testing.B) {
	rows := 100000
	if v, err := strconv.Atoi(os.Getenv("PORTGUARD_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	for range b.N {
		cfg := DefaultConfig()
		reuse := os.Getenv("PORTGUARD_BENCH_DB")
		if addr := os.Getenv("PORTGUARD_BENCH_ADDR"); addr != "" {
			cfg.Addr, cfg.Database = addr, "bench_"+strconv.FormatInt(time.Now().Unix(), 10)
			if reuse != "" {
				cfg.Database = reuse
			}
			if os.Getenv("PORTGUARD_BENCH_RESUME") != "" {
				reuse = "" // load the rest into cfg.Database, then measure
			}
		} else {
			db := chtest.New(b)
			cfg.Addr, cfg.Database = db.Addr, db.Database
		}
		s, err := Open(context.Background(), cfg, nil, prometheus.NewRegistry())
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Migrate(context.Background()); err != nil {
			b.Fatal(err)
		}
		var res BenchResult
		if reuse != "" {
			res.Queries, err = BenchQueries(context.Background(), s, os.Stderr, 365)
			if err == nil {
				res.Jobs, err = BenchJobs(context.Background(), s, os.Stderr)
			}
		} else {
			skip, _ := strconv.Atoi(os.Getenv("PORTGUARD_BENCH_RESUME"))
			res, err = BenchWith(context.Background(), s, os.Stderr, BenchOptions{Rows: rows, Skip: skip})
		}
		s.Close()
		if err != nil {
			b.Fatal(err)
		}
		out, _ := json.Marshal(res)
		b.Logf("%s", out)
		os.Stdout.Write(append(out, '\n'))
	}
}
