package analytics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// loadLoop stores a small hand-built history (see TestDailyTrend for the arithmetic):
//
//	day 0: A RED (hit, then corrected to conforming), B YELLOW hit, C GREEN, D RED waiting for the lab
//	day 1: E RED hit, F GREEN, G RED hit at another port
//	day -1: Z RED hit, outside the trend's period
//	H: a result whose decision was never recorded (its label carries the context)
func loadLoop(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	dec := func(i int, ch targeting.Channel, at time.Time) targeting.Decision {
		sel := targeting.SelectedByRule
		if ch == targeting.Green {
			sel = targeting.NotSelected
		}
		return testDecision(declNo(i), 1, ch, sel, at)
	}
	g := dec(7, targeting.Red, day0.Add(26*time.Hour))
	g.Port = "2202"
	decisions := []targeting.Decision{
		dec(1, targeting.Red, day0.Add(1*time.Hour)), dec(2, targeting.Yellow, day0.Add(2*time.Hour)),
		dec(3, targeting.Green, day0.Add(3*time.Hour)), dec(4, targeting.Red, day0.Add(4*time.Hour)),
		dec(5, targeting.Red, day0.Add(25*time.Hour)), dec(6, targeting.Green, day0.Add(25*time.Hour)), g,
		dec(9, targeting.Red, day0.Add(-20*time.Hour)),
	}
	results := []clearance.InspectionResult{
		testResult(declNo(1), 1, 1, clearance.NonConforming, day0.Add(5*time.Hour)),
		testResult(declNo(1), 1, 2, clearance.Conforming, day0.Add(30*time.Hour)), // correction
		testResult(declNo(2), 1, 1, clearance.NonConforming, day0.Add(6*time.Hour)),
		testResult(declNo(4), 1, 1, clearance.PendingLab, day0.Add(6*time.Hour)),
		testResult(declNo(5), 1, 1, clearance.NonConforming, day0.Add(27*time.Hour)),
		testResult(declNo(7), 1, 1, clearance.NonConforming, day0.Add(28*time.Hour)),
		testResult(declNo(9), 1, 1, clearance.NonConforming, day0.Add(-10*time.Hour)),
		testResult(declNo(8), 1, 1, clearance.NonConforming, day0.Add(8*time.Hour)), // H: label decided day0+7h
	}
	// Delivered twice, in two orders, as Kafka redelivery would.
	for range 2 {
		if err := s.InsertDecisions(ctx, decisions); err != nil {
			t.Fatal(err)
		}
		if err := s.InsertResults(ctx, results); err != nil {
			t.Fatal(err)
		}
		decisions[0], decisions[1] = decisions[1], decisions[0]
	}
}

func TestOutcomesStreamsTheLatestResultVersionWithItsDecision(t *testing.T) {
	s, _ := mustStore(t)
	loadLoop(t, s)
	var got []targeting.Outcome
	err := s.Outcomes(context.Background(), day0.Add(90*time.Minute), func(o targeting.Outcome) error {
		got = append(got, o)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A (decided at +1h) is before since; D waits for its lab; Z is earlier still.
	want := []struct {
		no           string
		hit          bool
		resultVer    int
		model        string
		propensity   float64
		withFeatures bool
	}{
		{declNo(2), true, 1, "m1", 0.25, true},
		{declNo(8), true, 1, "label-model", 0.5, false}, // no decision recorded: the label speaks
		{declNo(5), true, 1, "m1", 0.25, true},
		{declNo(7), true, 1, "m1", 0.25, true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d outcomes %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		o := got[i]
		if o.DeclarationNo != w.no || o.Hit != w.hit || o.ResultVersion != w.resultVer || o.ModelVersion != w.model || o.Propensity != w.propensity || (len(o.Features) > 0) != w.withFeatures {
			t.Errorf("outcome %d = %+v, want %+v", i, o, w)
		}
	}
	if got[0].Severity != 2 || got[0].Revenue != 1200 || got[0].Version != 1 {
		t.Errorf("severity/revenue/version not carried: %+v", got[0])
	}

	t.Run("a corrected result replaces the earlier label", func(t *testing.T) {
		var a []targeting.Outcome
		err := s.Outcomes(context.Background(), day0, func(o targeting.Outcome) error {
			if o.DeclarationNo == declNo(1) {
				a = append(a, o)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 1 || a[0].Hit || a[0].ResultVersion != 2 {
			t.Fatalf("outcomes of A = %+v, want one, version 2, not a hit", a)
		}
	})
	t.Run("the callback's error stops the stream and is returned", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := s.Outcomes(context.Background(), day0, func(targeting.Outcome) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("err = %v after %d calls, want stop after 1", err, n)
		}
	})
}

func TestRuleVersionsReturnsTheLatestVersionOfEachRule(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	at := day0
	saves := []struct {
		id      string
		version int
		state   string
		body    string
	}{
		{"R1", 1, "draft", `{"hs":"0303"}`},
		{"R1", 1, "approved", `{"hs":"0303"}`},
		{"R1", 2, "draft", `{"hs":"0304"}`},
		{"R2", 1, "approved", `{"hs":"8471"}`},
		{"R2", 1, "retired", `{"hs":"8471"}`},
	}
	for _, sv := range saves {
		at = at.Add(time.Millisecond) // same second: the nanoseconds must order them
		if err := s.SaveRuleVersion(ctx, sv.id, sv.version, sv.state, []byte(sv.body), "analyst", at); err != nil {
			t.Fatal(err)
		}
	}
	type rv struct {
		version int
		state   string
		body    string
	}
	got := map[string]rv{}
	err := s.RuleVersions(ctx, func(id string, version int, state string, body []byte) error {
		got[id] = rv{version, state, string(body)}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rv{"R1": {2, "draft", `{"hs":"0304"}`}, "R2": {1, "retired", `{"hs":"8471"}`}}
	if len(got) != len(want) || got["R1"] != want["R1"] || got["R2"] != want["R2"] {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if err := s.SaveRuleVersion(ctx, "R3", 1, "draft", []byte("not json"), "a", at); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a body that is not JSON: err = %v, want ErrInvalid", err)
	}
}
