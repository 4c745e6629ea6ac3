package analytics

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// BenchResult is what `portguard bench analytics --json` prints last.
type BenchResult struct {
	Rows         int          `json:"rows"`            // decisions loaded
	Results      int          `json:"results"`         // inspection result rows loaded (corrections included)
	LoadSeconds  float64      `json:"load_seconds"`    // generating and inserting both
	LoadRowsPerS float64      `json:"load_rows_per_s"` // decisions + results per second
	Queries      []BenchQuery `json:"queries"`
}

// BenchQuery is one dashboard query's latency: the first run after loading (mark cache dropped)
// and the median of the warm runs that follow.
type BenchQuery struct {
	Name   string  `json:"name"`
	ColdMS float64 `json:"cold_ms"`
	WarmMS float64 `json:"warm_ms"`
}

// benchEnd is the fixed end of the generated year, so that runs are comparable.
var benchEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Bench loads rows realistic decisions over one year (20 ports, 40 HS chapters, 30 origins,
// 50,000 importers, rule, model and random selections; about 12% inspected with hits depending
// on HS × origin, some results corrected later) into s, which must be migrated and empty, and
// then times each dashboard query cold and warm. Progress goes to w (may be nil).
func Bench(ctx context.Context, s *Store, w io.Writer, rows int) (BenchResult, error) {
	if w == nil {
		w = io.Discard
	}
	if rows <= 0 {
		return BenchResult{}, fmt.Errorf("analytics: bench: %w: rows must be positive", ErrInvalid)
	}
	res := BenchResult{Rows: rows}
	start := time.Now()
	n, err := benchLoad(ctx, s, w, rows)
	if err != nil {
		return res, err
	}
	res.Results = n
	res.LoadSeconds = time.Since(start).Seconds()
	res.LoadRowsPerS = float64(rows+n) / res.LoadSeconds
	fmt.Fprintf(w, "loaded %d decisions and %d results in %.1fs (%.0f rows/s)\n", rows, n, res.LoadSeconds, res.LoadRowsPerS)
	// Merge the parts, as background merges do on a server that is not being bulk-loaded this
	// very minute: the dashboards are measured on settled data, not on hundreds of fresh parts.
	t0 := time.Now()
	for _, table := range []string{"decisions", "inspection_results", "decisions_daily"} {
		err := s.run(ctx, "bench", 30*time.Minute, func(ctx context.Context) error {
			return s.conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL")
		})
		if err != nil {
			return res, fmt.Errorf("analytics: bench: optimize %s: %w", table, err)
		}
	}
	fmt.Fprintf(w, "merged parts in %.1fs\n", time.Since(t0).Seconds())

	year := Scope{From: benchEnd.AddDate(-1, 0, 0), To: benchEnd}
	quarter := Scope{From: benchEnd.AddDate(0, -3, 0), To: benchEnd}
	queries := []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"daily_trend_year", func(ctx context.Context) error {
			_, err := s.DailyTrend(ctx, TrendQuery{From: year.From, To: year.To})
			return err
		}},
		{"daily_trend_year_one_port", func(ctx context.Context) error {
			_, err := s.DailyTrend(ctx, TrendQuery{From: year.From, To: year.To, Port: "2201"})
			return err
		}},
		{"trend_month_by_port", func(ctx context.Context) error {
			_, err := s.Trend(ctx, TrendRequest{From: year.From, To: year.To, Interval: Month, GroupBy: []Dimension{DimPort}})
			return err
		}},
		{"trend_week_by_hs2_one_origin", func(ctx context.Context) error {
			_, err := s.Trend(ctx, TrendRequest{From: year.From, To: year.To, Interval: Week, GroupBy: []Dimension{DimHS2}, Filters: map[Dimension][]string{DimOrigin: {"VN"}}})
			return err
		}},
		{"trend_quarter_by_enterprise", func(ctx context.Context) error {
			_, err := s.Trend(ctx, TrendRequest{From: quarter.From, To: quarter.To, Interval: Month, GroupBy: []Dimension{DimEnterprise}, Limit: 1000})
			return err
		}},
		{"hit_rates_year", func(ctx context.Context) error { _, err := s.HitRates(ctx, year); return err }},
		{"rule_yield_quarter", func(ctx context.Context) error {
			_, err := s.RuleYields(ctx, quarter, RuleYieldOptions{Now: benchEnd})
			return err
		}},
		{"model_yield_quarter", func(ctx context.Context) error { _, err := s.ModelYields(ctx, quarter); return err }},
	}
	for _, q := range queries {
		// Cold: without ClickHouse's mark cache (the OS page cache cannot be dropped from here).
		_ = s.do(ctx, "bench", func(ctx context.Context) error { return s.conn.Exec(ctx, "SYSTEM DROP MARK CACHE") })
		t0 := time.Now()
		if err := q.run(ctx); err != nil {
			return res, fmt.Errorf("analytics: bench %s: %w", q.name, err)
		}
		cold := time.Since(t0)
		var warm []float64
		for range 3 {
			t0 := time.Now()
			if err := q.run(ctx); err != nil {
				return res, fmt.Errorf("analytics: bench %s: %w", q.name, err)
			}
			warm = append(warm, ms(time.Since(t0)))
		}
		sort.Float64s(warm)
		bq := BenchQuery{Name: q.name, ColdMS: ms(cold), WarmMS: warm[1]}
		fmt.Fprintf(w, "%-30s cold %8.1f ms   warm %8.1f ms\n", bq.Name, bq.ColdMS, bq.WarmMS)
		res.Queries = append(res.Queries, bq)
	}
	return res, nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/100) / 10 }

// benchLoad generates and inserts the decisions and results in chunks, returning how many
// result rows it inserted.
func benchLoad(ctx context.Context, s *Store, w io.Writer, rows int) (int, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	ports := make([]string, 20)
	for i := range ports {
		ports[i] = strconv.Itoa(2200 + i*5)
	}
	ports[0] = "2201"
	origins := []string{"CN", "VN", "TH", "MY", "ID", "IN", "JP", "KR", "US", "CA", "BR", "AR", "CL", "AU", "NZ",
		"DE", "FR", "IT", "ES", "NL", "GB", "RU", "TR", "EG", "ZA", "NG", "MX", "PE", "NO", "PH"}
	chapters := []string{"01", "02", "03", "04", "06", "07", "08", "09", "10", "12", "15", "16", "17", "19", "20",
		"21", "22", "23", "27", "28", "29", "30", "33", "38", "39", "40", "44", "48", "52", "61", "62", "64", "72",
		"73", "76", "84", "85", "87", "90", "94"}
	zipf := func(n int) *rand.Zipf { return rand.NewZipf(rng, 1.2, 2, uint64(n-1)) }
	portZ, originZ, chapterZ, importerZ := zipf(len(ports)), zipf(len(origins)), zipf(len(chapters)), zipf(50000)
	// Each HS chapter × origin has its own latent non-compliance rate, 1% … 30%.
	risk := make([]float64, len(chapters)*len(origins))
	for i := range risk {
		risk[i] = 0.01 + 0.29*math.Pow(rng.Float64(), 3)
	}
	rules := []string{"R-MEAT-BR", "R-FISH-VN", "R-WOOD-RU", "R-TOY-CN", "R-SEED-US", "R-OIL-ID", "R-UV-85", "R-OLD-01"}
	span := benchEnd.Sub(benchEnd.AddDate(-1, 0, 0))
	const chunk = 200000
	results := 0
	ds := make([]targeting.Decision, 0, chunk)
	rs := make([]clearance.InspectionResult, 0, chunk/5)
	for done := 0; done < rows; {
		ds, rs = ds[:0], rs[:0]
		for i := 0; i < chunk && done < rows; i++ {
			done++
			c, o := int(chapterZ.Uint64()), int(originZ.Uint64())
			hs4 := chapters[c] + fmt.Sprintf("%02d", rng.IntN(8)+1)
			p := risk[c*len(origins)+o]
			at := benchEnd.Add(-time.Duration(rng.Int64N(int64(span))))
			score := math.Log(p/(1-p)) + rng.NormFloat64()*0.7
			prob := 1 / (1 + math.Exp(-score))
			d := targeting.Decision{
				Schema: targeting.SchemaDecisionV1, DeclarationNo: fmt.Sprintf("%018d", done), Version: 1,
				Port: ports[portZ.Uint64()], Importer: fmt.Sprintf("31%08d", importerZ.Uint64()),
				Channel: targeting.Green, Action: targeting.ActionRelease, Selection: targeting.NotSelected,
				Score: score, Probability: prob, Propensity: 0.03, ModelVersion: "gbt-" + at.Format("2006-01"),
				Features:  []targeting.Feature{{Name: "hs4", Value: hs4}, {Name: "origin", Value: origins[o]}, {Name: "trade_mode", Value: "0110"}},
				Reasons:   []targeting.Reason{{Code: "model", ZH: "模型评分", EN: "model score", Weight: score}},
				DecidedAt: at,
			}
			if rng.IntN(10) == 0 {
				r := rules[rng.IntN(len(rules))]
				d.RulesFired = []targeting.RuleHit{{ID: r, Version: 1, Selected: rng.IntN(2) == 0}}
			}
			switch u := rng.Float64(); {
			case u < 0.03:
				d.Selection, d.Random = targeting.SelectedByRandom, true
			case len(d.RulesFired) > 0 && d.RulesFired[0].Selected:
				d.Selection, d.Propensity = targeting.SelectedByRule, 1
			case prob > 0.45:
				d.Selection, d.Propensity = targeting.SelectedByModel, 0.9
			}
			if d.Selection != targeting.NotSelected {
				d.Channel, d.Action = targeting.Red, targeting.ActionPhysical
				if rng.IntN(4) == 0 {
					d.Channel, d.Action = targeting.Yellow, targeting.ActionDocuments
				}
				out := clearance.Conforming
				if rng.Float64() < p {
					out = clearance.NonConforming
				}
				r := clearance.InspectionResult{Schema: clearance.SchemaInspectionResultV1, DeclarationNo: d.DeclarationNo,
					DeclVersion: 1, Version: 1, TaskID: d.ID(), Officer: "o" + strconv.Itoa(rng.IntN(200)), Port: d.Port,
					Outcome: out, Disposition: "RELEASE", InspectedAt: at.Add(time.Duration(rng.IntN(72)+1) * time.Hour)}
				if out == clearance.NonConforming {
					r.Findings = []clearance.Finding{{Code: "UNDERVALUATION", Severity: 1 + rng.IntN(3)}}
					r.Adjustment = math.Round(rng.ExpFloat64() * 20000)
				}
				rs = append(rs, r)
				if rng.IntN(20) == 0 { // a later correction flips the outcome
					c := r
					c.Version = 2
					c.InspectedAt = r.InspectedAt.Add(24 * time.Hour)
					if c.Outcome == clearance.Conforming {
						c.Outcome = clearance.NonConforming
					} else {
						c.Outcome, c.Findings, c.Adjustment = clearance.Conforming, nil, 0
					}
					rs = append(rs, c)
				}
			}
			ds = append(ds, d)
		}
		if err := s.InsertDecisions(ctx, ds); err != nil {
			return results, err
		}
		if err := s.InsertResults(ctx, rs); err != nil {
			return results, err
		}
		results += len(rs)
		if done%(chunk*20) == 0 || done == rows {
			fmt.Fprintf(w, "loaded %d/%d decisions\n", done, rows)
		}
	}
	return results, nil
}
