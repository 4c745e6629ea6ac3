package analytics

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// bruteTrend computes the day × group counts straight from the raw tables, deduplicating with
// GROUP BY and argMax over every row (no FINAL, no rollup): the reference the rollups must match.
func bruteTrend(t *testing.T, db *chtest.DB, tz, group string) map[string]string {
	t.Helper()
	q := `SELECT toString(toDate(d_at, '` + tz + `')) AS day, ` + group + ` AS g, count(),
 countIf(ch IN ('RED', 'YELLOW')), countIf(has = 1), countIf(has = 1 AND hit = 1), sumIf(rev, has = 1 AND hit = 1)
FROM (
 SELECT declaration_no, version, max(decided_at) AS d_at, argMax(toString(channel), decided_at) AS ch,
  argMax(port, decided_at) AS port, argMax(hs2, decided_at) AS hs2s
 FROM decisions GROUP BY declaration_no, version
) ANY LEFT JOIN (
 SELECT declaration_no, version, toUInt8(1) AS has, hit, rev FROM (
  SELECT declaration_no, decl_version AS version, argMax(toString(outcome), result_version) AS o,
   argMax(hit, result_version) AS hit, argMax(revenue, result_version) AS rev
  FROM inspection_results GROUP BY declaration_no, decl_version
 ) WHERE o != 'PENDING_LAB'
) USING (declaration_no, version)
GROUP BY day, g ORDER BY day, g`
	rows, err := db.Conn.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var day, g string
		var n, insp, res, hits uint64
		var rev float64
		if err := rows.Scan(&day, &g, &n, &insp, &res, &hits, &rev); err != nil {
			t.Fatal(err)
		}
		out[day+"|"+g] = fmt.Sprintf("%d/%d/%d/%d/%.2f", n, insp, res, hits, rev)
	}
	return out
}

func trendMap(t *testing.T, s *Store, req TrendRequest) map[string]string {
	t.Helper()
	res, err := s.Trend(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res.Rows {
		out[r.Period.Format(dateLayout)+"|"+strings.Join(r.Group, "|")] = fmt.Sprintf("%d/%d/%d/%d/%.2f", r.Declarations, r.Inspected, r.Results, r.Hits, r.Revenue)
	}
	return out
}

func sameMaps(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d groups, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got[k], v)
		}
	}
}

// messyStream inserts, in rounds, decisions and results with everything an at-least-once stream
// does: exact re-deliveries (in the same batch and in later ones), re-decisions an hour later
// (across midnight too), amendments, laboratory results pending then concluded, corrections,
// and results that arrive after the dashboards have already been read.
type messyStream struct {
	rng   *rand.Rand
	n     int
	sent  []targeting.Decision
	rsent []clearance.InspectionResult
}

func (m *messyStream) round(t *testing.T, s *Store, count int) {
	t.Helper()
	var ds []targeting.Decision
	var rs []clearance.InspectionResult
	chapters := []string{"03", "08", "44", "85"}
	for range count {
		m.n++
		ch := []targeting.Channel{targeting.Green, targeting.Green, targeting.Red, targeting.Yellow}[m.rng.IntN(4)]
		sel := targeting.NotSelected
		if ch != targeting.Green {
			sel = []targeting.Selection{targeting.SelectedByRule, targeting.SelectedByModel, targeting.SelectedByRandom}[m.rng.IntN(3)]
		}
		// Decisions cluster around midnights so that re-decisions cross days.
		at := day0.Add(time.Duration(m.rng.IntN(4))*24*time.Hour + time.Duration(m.rng.IntN(180)-90)*time.Minute)
		d := testDecision(declNo(m.n), 1+m.rng.IntN(2), ch, sel, at)
		d.Port = []string{"2201", "2202"}[m.rng.IntN(2)]
		d.Propensity = 0.05 + m.rng.Float64()*0.9
		d.Features = []targeting.Feature{{Name: "hs4", Value: chapters[m.rng.IntN(4)] + "01"}, {Name: "origin", Value: "VN"}}
		ds = append(ds, d)
		if m.rng.IntN(10) == 0 {
			ds = append(ds, d) // re-delivered in the same batch
		}
		if m.rng.IntN(8) == 0 {
			re := d
			re.DecidedAt = d.DecidedAt.Add(time.Hour)
			re.Channel, re.Selection = targeting.Red, targeting.SelectedByModel
			ds = append(ds, re)
			d = re
		}
		m.sent = append(m.sent, d)
		if d.Channel == targeting.Green {
			continue
		}
		out := clearance.Conforming
		if m.rng.IntN(3) == 0 {
			out = clearance.NonConforming
		}
		if m.rng.IntN(6) == 0 {
			rs = append(rs, testResult(d.DeclarationNo, d.Version, 1, clearance.PendingLab, d.DecidedAt.Add(time.Hour)))
			m.rsent = append(m.rsent, testResult(d.DeclarationNo, d.Version, 2, out, d.DecidedAt.Add(50*time.Hour)))
			continue
		}
		r := testResult(d.DeclarationNo, d.Version, 1, out, d.DecidedAt.Add(2*time.Hour))
		rs = append(rs, r)
		if m.rng.IntN(8) == 0 {
			c := testResult(d.DeclarationNo, d.Version, 2, map[bool]clearance.Conformity{true: clearance.Conforming, false: clearance.NonConforming}[out == clearance.NonConforming], d.DecidedAt.Add(30*time.Hour))
			m.rsent = append(m.rsent, c)
		}
	}
	// Earlier rounds' messages delivered again, and the late results of earlier rounds.
	for range count / 5 {
		if len(m.sent) > 0 {
			ds = append(ds, m.sent[m.rng.IntN(len(m.sent))])
		}
	}
	rs = append(rs, m.rsent...)
	m.rsent = nil
	ctx := context.Background()
	if err := s.InsertDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
}

// TestRollupsCountEveryDeclarationVersionOnce compares the dashboards (cube and facts paths)
// with a brute-force query over the raw rows after each round of a messy stream, in UTC and in
// China Standard Time.
func TestRollupsCountEveryDeclarationVersionOnce(t *testing.T) {
	for _, tz := range []string{"UTC", "Asia/Shanghai"} {
		t.Run("days cut in "+tz, func(t *testing.T) {
			t.Parallel() // each in its own database
			db := chtest.New(t)
			cfg := DefaultConfig()
			cfg.Addr, cfg.Database, cfg.TimeZone = db.Addr, db.Database, tz
			s, err := Open(context.Background(), cfg, nil, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			loc, _ := time.LoadLocation(tz)
			from := time.Date(2026, 2, 27, 0, 0, 0, 0, loc)
			to := from.AddDate(0, 0, 10)
			m := &messyStream{rng: rand.New(rand.NewPCG(3, 4))}
			for round := range 3 {
				m.round(t, s, 120)
				// The cube answers by channel and port; the facts by HS chapter (an array).
				sameMaps(t, fmt.Sprintf("round %d by channel (cube)", round),
					trendMap(t, s, TrendRequest{From: from, To: to, GroupBy: []Dimension{DimChannel}}), bruteTrend(t, db, tz, "ch"))
				sameMaps(t, fmt.Sprintf("round %d by port (cube)", round),
					trendMap(t, s, TrendRequest{From: from, To: to, GroupBy: []Dimension{DimPort}}), bruteTrend(t, db, tz, "port"))
				sameMaps(t, fmt.Sprintf("round %d by HS chapter (facts)", round),
					trendMap(t, s, TrendRequest{From: from, To: to, GroupBy: []Dimension{DimHS2}}), bruteTrend(t, db, tz, "arrayJoin(hs2s)"))
				// A period not cut at midnight is answered from the facts.
				sameMaps(t, fmt.Sprintf("round %d by channel, unaligned (facts)", round),
					trendMap(t, s, TrendRequest{From: from.Add(-time.Second), To: to, GroupBy: []Dimension{DimChannel}}), bruteTrend(t, db, tz, "ch"))
				cube, err := s.HitRates(context.Background(), Scope{From: from, To: to})
				if err != nil {
					t.Fatal(err)
				}
				facts, err := s.HitRates(context.Background(), Scope{From: from.Add(-time.Second), To: to})
				if err != nil {
					t.Fatal(err)
				}
				if cube.Declarations != facts.Declarations || cube.Random != facts.Random || cube.Targeted != facts.Targeted ||
					cube.Overall != facts.Overall || !near(cube.IPWNonCompliance, facts.IPWNonCompliance) {
					t.Errorf("round %d: hit rates from the cube %+v differ from the facts %+v", round, cube, facts)
				}
			}
			if uint64(len(m.sent)) != db.Count(t, "decision_facts", "") {
				t.Errorf("facts hold %d rows, want %d declaration versions", db.Count(t, "decision_facts", ""), len(m.sent))
			}
		})
	}
}

func TestRollupIsCheapWhenNothingChanged(t *testing.T) {
	s, _ := mustStore(t)
	loadLoop(t, s)
	ctx := context.Background()
	// Let the server's clock pass the insert's second (and the margin after it), so that the
	// first rollup provably saw every touched day.
	for {
		var fresh uint8
		if err := s.conn.QueryRow(ctx, "SELECT now() > (SELECT max(touched_at) FROM rollup_touched) + 1").Scan(&fresh); err != nil {
			t.Fatal(err)
		}
		if fresh == 1 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	first, err := s.Rollup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Days == 0 || first.Facts == 0 {
		t.Fatalf("first rollup built nothing: %+v", first)
	}
	again, err := s.Rollup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again.Days != 0 {
		t.Fatalf("second rollup rebuilt %d days with nothing changed", again.Days)
	}
}

func TestChunkDays(t *testing.T) {
	got := chunkDays([]string{"2026-01-01", "2026-01-02", "2026-01-04", "2026-01-05", "2026-02-01"})
	want := "[[2026-01-01 2026-01-02] [2026-01-04 2026-01-05] [2026-02-01]]"
	if fmt.Sprint(got) != want {
		t.Fatalf("chunks %v, want %s", got, want)
	}
	var long []string
	for i := range 40 {
		long = append(long, time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC).Format(dateLayout))
	}
	if c := chunkDays(long); len(c) != 2 || len(c[0]) != maxChunkDays {
		t.Fatalf("40 consecutive days cut into %d chunks of %d", len(c), len(c[0]))
	}
}
