package analytics

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// loadYield stores 100 decisions of model m1 in four groups (see the tests for the arithmetic):
//
//	A 10 random draws (propensity 0.1, p=0.05), rule R2 fired without selecting; 2 hits
//	B 10 selected by rule R1 (propensity 1, p=0.65); 6 hits
//	C 30 selected by rule R5 (propensity 1, p=0.15); no hit
//	D 50 released GREEN (propensity 0.1, p=0.02); never inspected
func loadYield(t *testing.T, s *Store) {
	t.Helper()
	var ds []targeting.Decision
	var rs []clearance.InspectionResult
	n := 0
	add := func(count, hits int, ch targeting.Channel, sel targeting.Selection, prop, p float64, rule string, selected bool) {
		for i := range count {
			n++
			d := testDecision(declNo(n), 1, ch, sel, day0.Add(time.Duration(n)*time.Minute))
			d.Random, d.Propensity, d.Probability, d.ModelVersion = sel == targeting.SelectedByRandom, prop, p, "m1"
			d.RulesFired = nil
			if rule != "" {
				d.RulesFired = []targeting.RuleHit{{ID: rule, Version: 1, Selected: selected}}
			}
			ds = append(ds, d)
			if ch != targeting.Green {
				out := clearance.Conforming
				if i < hits {
					out = clearance.NonConforming
				}
				rs = append(rs, testResult(declNo(n), 1, 1, out, d.DecidedAt.Add(time.Hour)))
			}
		}
	}
	add(10, 2, targeting.Red, targeting.SelectedByRandom, 0.1, 0.05, "R2", false)
	add(10, 6, targeting.Red, targeting.SelectedByRule, 1, 0.65, "R1", true)
	add(30, 0, targeting.Red, targeting.SelectedByRule, 1, 0.15, "R5", true)
	add(50, 0, targeting.Green, targeting.NotSelected, 0.1, 0.02, "", false)
	ctx := context.Background()
	if err := s.InsertDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertResults(ctx, rs); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveRuleVersion(ctx, "R3", 1, "active", []byte(`{"expires_at":"`+day0.Add(5*24*time.Hour).Format(time.RFC3339)+`"}`), "a", day0); err != nil {
		t.Fatal(err)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestHitRatesAreHonest(t *testing.T) {
	s, _ := mustStore(t)
	loadYield(t, s)
	h, err := s.HitRates(context.Background(), Scope{From: day0, To: day0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	// Random 2/10; targeted (R1 and R5) 6/40; overall 8/50; lift 0.15/0.2.
	// IPW: weights 10 for each random draw, 1 for each targeted: (2·10 + 6·1) / (10·10 + 40·1)
	// = 26/140; Kish's n = 140² / (10·100 + 40·1) = 19600/1040.
	if h.Declarations != 100 || h.Random.Hits != 2 || h.Random.N != 10 || h.Targeted.Hits != 6 || h.Targeted.N != 40 ||
		h.Overall.Hits != 8 || h.Overall.N != 50 || !near(h.Lift, 0.75) || !near(h.IPWNonCompliance, 26.0/140) ||
		!near(h.IPWEffectiveN, 19600.0/1040) || h.NoPropensity != 0 {
		t.Fatalf("hit rates = %+v", h)
	}
	if h.Random.Lo <= 0 || h.Random.Hi >= 1 || h.Random.Lo >= 0.2 || h.Random.Hi <= 0.2 {
		t.Fatalf("random interval %+v does not bracket 0.2", h.Random)
	}
}

func TestRuleYieldsFlagRulesWorthRetiring(t *testing.T) {
	s, _ := mustStore(t)
	loadYield(t, s)
	ys, err := s.RuleYields(context.Background(), Scope{From: day0, To: day0.Add(24 * time.Hour)}, RuleYieldOptions{Now: day0})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		fired, selected, workload, n, hits uint64
		flags                              []string
	}
	wants := map[string]want{
		"R1": {10, 10, 10, 10, 6, nil},
		"R2": {10, 0, 0, 0, 0, nil},
		"R3": {0, 0, 0, 0, 0, []string{"expiring_soon"}},
		// 0 of 30: Wilson upper bound 0.11 < the random control's 0.2.
		"R5": {30, 30, 30, 30, 0, []string{"never_hit", "low_yield"}},
	}
	if len(ys) != len(wants) {
		t.Fatalf("got %d rules %+v, want %d", len(ys), ys, len(wants))
	}
	for _, y := range ys {
		w := wants[y.Rule]
		if y.Fired != w.fired || y.Selected != w.selected || y.Workload != w.workload || y.Yield.N != w.n || y.Yield.Hits != w.hits || !slices.Equal(y.Flags, w.flags) {
			t.Errorf("%s = %+v, want %+v", y.Rule, y, w)
		}
	}
	if r1 := ys[0]; !r1.LastHit.Equal(day0.Add(16 * time.Minute)) {
		t.Errorf("R1 last hit %v, want the 6th of its decisions at %v", r1.LastHit, day0.Add(16*time.Minute))
	}
}

func TestModelYieldPrecisionAndCalibration(t *testing.T) {
	s, _ := mustStore(t)
	loadYield(t, s)
	ms, err := s.ModelYields(context.Background(), Scope{From: day0, To: day0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 {
		t.Fatalf("got %+v", ms)
	}
	m := ms[0]
	// Half the declarations were inspected; the median score over all 100 is 0.05 (50 at 0.02
	// below it), so every inspected one is within the top half: 8 hits of 50.
	if m.ModelVersion != "m1" || m.Declarations != 100 || m.Inspected != 50 || m.InspectedShare != 0.5 ||
		!near(m.Threshold, 0.05) || m.PrecisionAtShare.Hits != 8 || m.PrecisionAtShare.N != 50 {
		t.Fatalf("model yield = %+v", m)
	}
	want := []struct {
		decile    int
		predicted float64
		n, hits   uint64
	}{{0, 0.05, 10, 2}, {1, 0.15, 30, 0}, {6, 0.65, 10, 6}}
	if len(m.Calibration) != len(want) {
		t.Fatalf("calibration = %+v", m.Calibration)
	}
	for i, w := range want {
		c := m.Calibration[i]
		if c.Decile != w.decile || !near(c.Predicted, w.predicted) || c.Observed.N != w.n || c.Observed.Hits != w.hits || !near(c.ObservedIPW, float64(w.hits)/float64(w.n)) {
			t.Errorf("decile %d = %+v, want %+v", i, c, w)
		}
	}
}
