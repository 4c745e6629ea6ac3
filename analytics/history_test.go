package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Three declarations: 1 inspected with a corrected result (hit after a miss), 2 inspected and
// still waiting for its laboratory, 3 released GREEN.
func historyFixture(t *testing.T) *Store {
	t.Helper()
	s, _ := mustStore(t)
	ctx := context.Background()
	decls := []*ingest.Declaration{testDeclaration(declNo(1), 1, day0), testDeclaration(declNo(2), 1, day0.Add(time.Hour)), testDeclaration(declNo(3), 1, day0.Add(2*time.Hour))}
	decisions := []targeting.Decision{
		testDecision(declNo(1), 1, targeting.Red, targeting.SelectedByRandom, day0),
		testDecision(declNo(2), 1, targeting.Red, targeting.SelectedByRule, day0.Add(time.Hour)),
		testDecision(declNo(3), 1, targeting.Green, targeting.NotSelected, day0.Add(2*time.Hour)),
	}
	results := []clearance.InspectionResult{
		testResult(declNo(1), 1, 1, clearance.Conforming, day0.Add(3*time.Hour)),
		testResult(declNo(1), 1, 2, clearance.NonConforming, day0.Add(4*time.Hour)),
		testResult(declNo(2), 1, 1, clearance.PendingLab, day0.Add(5*time.Hour)),
	}
	for _, err := range []error{s.InsertDeclarations(ctx, decls), s.InsertDecisions(ctx, decisions), s.InsertResults(ctx, results)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestDeclarationsStreamsHistoryWithDecisionAndLatestFinalResult(t *testing.T) {
	s := historyFixture(t)
	var got []Past
	if err := s.Declarations(context.Background(), day0.Add(-time.Hour), day0.Add(24*time.Hour), func(p Past) error {
		got = append(got, p)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d declarations, want 3", len(got))
	}
	first, lab, green := got[0], got[1], got[2]
	if first.Decl.Number != declNo(1) || !first.Decided || first.Channel != targeting.Red || !first.Random || !first.HasResult || !first.Hit || first.Revenue != 1200 {
		t.Errorf("declaration 1 (random, corrected to a hit): %+v", first)
	}
	if lab.HasResult {
		t.Errorf("a result waiting for the laboratory counts as final: %+v", lab)
	}
	if green.Channel != targeting.Green || green.HasResult || green.Random {
		t.Errorf("the GREEN declaration: %+v", green)
	}
	var none int
	if err := s.Declarations(context.Background(), day0.Add(24*time.Hour), day0.Add(48*time.Hour), func(Past) error { none++; return nil }); err != nil || none != 0 {
		t.Errorf("a day without declarations gave %d (err %v)", none, err)
	}
}

func TestLabelledGivesOnlyFinalResultsWithTheRecordedPropensity(t *testing.T) {
	s := historyFixture(t)
	var got []targeting.Labelled
	if err := s.Labelled(context.Background(), day0.Add(-time.Hour), func(l targeting.Labelled) error {
		got = append(got, l)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d labelled declarations, want 1 (the lab sample is not final, GREEN has no label)", len(got))
	}
	l := got[0]
	if l.Decl.Number != declNo(1) || !l.Hit || l.Revenue != 1200 || l.Propensity != 0.25 || !l.At.Equal(day0) || len(l.Decl.Items) == 0 {
		t.Errorf("labelled: hit %v revenue %v propensity %v at %v items %d", l.Hit, l.Revenue, l.Propensity, l.At, len(l.Decl.Items))
	}
	var later int
	if err := s.Labelled(context.Background(), day0.Add(time.Minute), func(targeting.Labelled) error { later++; return nil }); err != nil || later != 0 {
		t.Errorf("since after the decision gave %d (err %v)", later, err)
	}
}
