package evaluate

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/targeting"
)

// synthRows generates days of labelled history at perDay declarations a day.
func synthRows(tb testing.TB, seed int64, days int, perDay float64) []Row {
	tb.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Days, cfg.PerDay = seed, days, perDay
	cfg.Enterprises = 2000
	g := synth.New(cfg)
	end := cfg.Start.Add(time.Duration(days) * 24 * time.Hour)
	var rows []Row
	for {
		s := g.Next()
		if !s.Decl.DeclaredAt.Before(end) {
			return rows
		}
		rows = append(rows, Row{Decl: s.Decl, Hit: s.Truth.Hit, Revenue: s.Truth.Revenue, At: s.Decl.DeclaredAt, Line: len(rows) + 2})
	}
}

func TestEvaluateRanksGeneratedHistoryWellAboveChance(t *testing.T) {
	rows := synthRows(t, 5, 120, 300)
	train, test := SplitAt(rows, rows[0].At.Add(90*24*time.Hour))
	var seen int
	rep, err := EvaluateEach(context.Background(), train, test, targeting.DefaultConfig(), func(Row, targeting.Decision) { seen++ })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("train %d test %d hits %d base %.3f: AUC %.3f AP %.3f at %+v revenue %v model %s",
		rep.Train, rep.Test, rep.Hits, rep.BaseRate, rep.AUC, rep.AveragePrecision, rep.At, rep.RevenueAt, rep.ModelVersion)
	if seen != len(test) || rep.Test != len(test) {
		t.Errorf("scored %d of %d test rows", seen, len(test))
	}
	if rep.AUC < 0.7 {
		t.Errorf("AUC %.3f, want > 0.7 on planted patterns", rep.AUC)
	}
	if p10 := rep.At[3]; p10.Rate != 0.10 || p10.Precision < 2*rep.BaseRate {
		t.Errorf("precision at 10%% %.3f, want at least twice the base rate %.3f", p10.Precision, rep.BaseRate)
	}
}

func TestReplayNeverRevealsTheLabelOfAnUnselectedConsignment(t *testing.T) {
	rows := synthRows(t, 6, 75, 200)
	cfg := targeting.DefaultConfig()
	cfg.RetrainGrowth = 0 // refit every week: every refit is a chance for a leaked label to show
	opts := ReplayOptions{InspectRate: 0.10, WarmupDays: 30, Config: &cfg}
	warmEnd := rows[0].At.Add(30 * 24 * time.Hour)

	// First run: record what was inspected.
	inspected := map[string]bool{}
	var first []string
	opts.OnDecision = func(r Row, d targeting.Decision, in bool) {
		inspected[r.Decl.Number] = in
		first = append(first, string(d.Channel)+d.ModelVersion)
	}
	rep1, err := Replay(context.Background(), rows, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Second run on poisoned history: every label the engine must not see is inverted (and its
	// revenue made absurd). If any of them reached the engine, some later decision would change.
	poisoned := make([]Row, len(rows))
	flipped := 0
	for i, r := range rows {
		poisoned[i] = r
		if !r.At.Before(warmEnd) && !inspected[r.Decl.Number] {
			poisoned[i].Hit = !r.Hit
			poisoned[i].Revenue = 1e12
			flipped++
		}
	}
	var second []string
	opts.OnDecision = func(r Row, d targeting.Decision, in bool) {
		second = append(second, string(d.Channel)+d.ModelVersion)
	}
	rep2, err := Replay(context.Background(), poisoned, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rows after warm-up, %d labels poisoned; %d inspected, %d retrains", rep1.Declarations, flipped, rep1.Inspected, rep1.Retrains)
	if flipped < len(rows)/3 || rep1.Retrains < 3 {
		t.Fatalf("the test poisons %d labels over %d retrains: too few to mean anything", flipped, rep1.Retrains)
	}
	if len(first) != len(second) {
		t.Fatalf("%d decisions, then %d", len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("decision %d changed from %s to %s when unselected labels were poisoned", i, first[i], second[i])
		}
	}
	if rep1.Hits != rep2.Hits || rep1.Inspected != rep2.Inspected {
		t.Errorf("inspected hits changed: %d/%d vs %d/%d", rep1.Hits, rep1.Inspected, rep2.Hits, rep2.Inspected)
	}
}

func TestReplayTracksTheTargetAndBeatsRandom(t *testing.T) {
	rows := synthRows(t, 7, 150, 200)
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"at a 10% target the physically inspected share after warm-up is 10% ± 1.5 points", 0.10},
		{"at a 20% target the physically inspected share after warm-up is 20% ± 1.5 points", 0.20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var progressed int
			rep, err := Replay(context.Background(), rows, ReplayOptions{InspectRate: tc.rate, WarmupDays: 30},
				func(done, total int) { progressed = done })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("replay: %d decl (%d warm-up), inspected %.3f, precision %.3f recall %.3f (base %d), random precision %.3f recall %.3f, last 90 days %+v, %d retrains, %.0f decl/s",
				rep.Declarations, rep.WarmupDeclarations, rep.InspectedShare, rep.Precision, rep.Recall, rep.RecallBase,
				rep.Random.Precision, rep.Random.Recall, rep.Last90Days, rep.Retrains, rep.DeclarationsPerS)
			if progressed != len(rows) {
				t.Errorf("progress ended at %d of %d", progressed, len(rows))
			}
			if math.Abs(rep.InspectedShare-tc.rate) > 0.015 {
				t.Errorf("inspected share %.3f, want %.2f ± 0.015", rep.InspectedShare, tc.rate)
			}
			if math.Abs(rep.Last90Days.InspectedShare-tc.rate) > 0.015 {
				t.Errorf("inspected share of the last 90 days %.3f, want %.2f ± 0.015", rep.Last90Days.InspectedShare, tc.rate)
			}
			if math.Abs(float64(rep.Random.Inspected)/float64(rep.Declarations)-tc.rate) > 0.01 {
				t.Errorf("random baseline inspected %d of %d", rep.Random.Inspected, rep.Declarations)
			}
			if rep.Precision < 1.5*rep.Random.Precision || rep.Recall < 1.5*rep.Random.Recall {
				t.Errorf("precision %.3f recall %.3f, random %.3f %.3f: the loop should beat random clearly",
					rep.Precision, rep.Recall, rep.Random.Precision, rep.Random.Recall)
			}
			var n, insp, hits, base int
			for _, p := range rep.Periods {
				n, insp, hits, base = n+p.Declarations, insp+p.Inspected, hits+p.Hits, base+p.RecallBase
			}
			if n != rep.Declarations || insp != rep.Inspected || hits != rep.Hits || base != rep.RecallBase {
				t.Errorf("periods add up to %d/%d/%d/%d, totals %d/%d/%d/%d", n, insp, hits, base, rep.Declarations, rep.Inspected, rep.Hits, rep.RecallBase)
			}
			if rep.Revenue <= 0 || rep.RevenueBase < rep.Revenue {
				t.Errorf("revenue %v of %v", rep.Revenue, rep.RevenueBase)
			}
		})
	}
}

func TestFeedbackArrivesAtTheEndOfTheWeek(t *testing.T) {
	o := ReplayOptions{}
	for _, c := range []struct{ at, want string }{
		{"2024-01-01T09:00:00Z", "2024-01-08T00:00:00Z"}, // Monday
		{"2024-01-07T23:59:00Z", "2024-01-08T00:00:00Z"}, // Sunday
		{"2024-01-03T00:00:00Z", "2024-01-08T00:00:00Z"}, // Wednesday
	} {
		at, _ := time.Parse(time.RFC3339, c.at)
		if got := o.feedback(at).Format(time.RFC3339); got != c.want {
			t.Errorf("feedback for %s at %s, want %s", c.at, got, c.want)
		}
	}
	o.FeedbackDelay = 36 * time.Hour
	at, _ := time.Parse(time.RFC3339, "2024-01-01T09:00:00Z")
	if got := o.feedback(at); !got.Equal(at.Add(36 * time.Hour)) {
		t.Errorf("fixed delay gives %v", got)
	}
}
