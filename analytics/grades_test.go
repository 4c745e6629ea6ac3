package analytics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// gradeHistory writes inspected decisions for one importer: n inspections of which hits found
// something of the given severity, decided at at (one minute apart), selected at random when
// random is set.
type gradeHistory struct {
	s  *Store
	n  int
	ds []targeting.Decision
	rs []clearance.InspectionResult
}

func (h *gradeHistory) add(importer string, n, hits, severity int, at time.Time, random bool) {
	for i := range n {
		h.n++
		no := fmt.Sprintf("3301%014d", h.n)
		sel := targeting.SelectedByRule
		if random {
			sel = targeting.SelectedByRandom
		}
		d := testDecision(no, 1, targeting.Red, sel, at.Add(time.Duration(i)*time.Minute))
		d.Importer = importer
		h.ds = append(h.ds, d)
		out := clearance.Conforming
		if i < hits {
			out = clearance.NonConforming
		}
		r := testResult(no, 1, 1, out, d.DecidedAt.Add(time.Hour))
		if out == clearance.NonConforming {
			r.Findings = []clearance.Finding{{Code: "UNDERVALUATION", Severity: severity}}
			r.Label.Severity = severity
		}
		h.rs = append(h.rs, r)
	}
}

func (h *gradeHistory) green(importer string, n int, at time.Time) {
	for i := range n {
		h.n++
		d := testDecision(fmt.Sprintf("3301%014d", h.n), 1, targeting.Green, targeting.NotSelected, at.Add(time.Duration(i)*time.Minute))
		d.Importer = importer
		h.ds = append(h.ds, d)
	}
}

func (h *gradeHistory) flush(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := h.s.InsertDecisions(ctx, h.ds); err != nil {
		t.Fatal(err)
	}
	if err := h.s.InsertResults(ctx, h.rs); err != nil {
		t.Fatal(err)
	}
	h.ds, h.rs = nil, nil
}

func TestGradesWeighEvidenceRecencySeverityAndCredit(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	now := day0.AddDate(1, 0, 0)
	recent := now.AddDate(0, -1, 0)
	h := &gradeHistory{s: s}
	// The random control group: 10 hits in 200 draws, a 5% baseline.
	h.add("CONTROL", 200, 10, 1, recent, true)
	h.add("BIG-CLEAN", 200, 0, 0, recent, false)
	h.add("SMALL-ONE", 1, 1, 3, recent, false)
	h.add("BIG-BAD", 60, 30, 3, recent, false)
	h.add("MID-RISKY", 100, 20, 1, recent, false)
	h.add("ADV-RISKY", 100, 20, 1, recent, false)
	h.add("DIS-CLEAN", 200, 0, 0, recent, false)
	// Caught every time two years ago, clean since: old hits fade.
	h.add("REFORMED", 40, 40, 3, now.AddDate(0, 0, -700), false)
	h.add("REFORMED", 100, 0, 0, recent, false)
	h.green("NEW", 5, recent)
	h.flush(t)
	if err := s.SetCreditClasses(ctx, []CreditClass{
		{Enterprise: "ADV-RISKY", Class: CreditAdvanced, UpdatedAt: day0},
		{Enterprise: "DIS-CLEAN", Class: CreditDishonest, UpdatedAt: day0},
	}); err != nil {
		t.Fatal(err)
	}
	gs, err := s.Grades(ctx, GradeOptions{At: now})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]EnterpriseGrade{}
	for _, g := range gs {
		got[g.Enterprise] = g
	}
	tests := []struct{ enterprise, grade, why string }{
		{"BIG-CLEAN", GradeGreen, "200 clean inspections: even the optimistic bound is below 5%"},
		{"SMALL-ONE", GradeYellow, "one severe hit in one inspection is not enough evidence for red or black"},
		{"BIG-BAD", GradeBlack, "half of 60 inspections hit with severe findings"},
		{"MID-RISKY", GradeRed, "20% of 100 inspections hit, minor findings"},
		{"ADV-RISKY", GradeYellow, "as MID-RISKY, one step better for an advanced-certified enterprise"},
		{"DIS-CLEAN", GradeRed, "as BIG-CLEAN, but a dishonest enterprise is at least red"},
		{"REFORMED", GradeYellow, "40 severe hits 700 days ago weigh little against 100 clean inspections now"},
		{"NEW", GradeYellow, "never inspected: no evidence either way"},
		{"CONTROL", GradeYellow, "exactly at the baseline"},
	}
	for _, tt := range tests {
		t.Run(tt.enterprise+" is "+tt.grade+": "+tt.why, func(t *testing.T) {
			g, ok := got[tt.enterprise]
			if !ok {
				t.Fatalf("not graded")
			}
			if g.Grade != tt.grade || !near(g.Baseline, 0.05) {
				t.Fatalf("%+v", g)
			}
		})
	}
	if gs[0].Enterprise != "BIG-BAD" {
		t.Errorf("riskiest first: got %s first", gs[0].Enterprise)
	}
	if r := got["REFORMED"]; r.Hits != 40 || r.Results != 140 || r.WeightedHits > 6 {
		t.Errorf("REFORMED evidence %+v: want 40 hits of 140 weighing little", r)
	}
	black, err := s.Grades(ctx, GradeOptions{At: now, Grade: GradeBlack})
	if err != nil || len(black) != 1 || black[0].Enterprise != "BIG-BAD" {
		t.Fatalf("black filter: %+v, %v", black, err)
	}
	if _, err := s.Grades(ctx, GradeOptions{At: now, Grade: "purple"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown grade: err = %v", err)
	}
	if err := s.SetCreditClasses(ctx, []CreditClass{{Enterprise: "X", Class: "AAA"}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unknown credit class: err = %v", err)
	}
}

func TestRecomputeGradesRecordsChangesAndFeedsTargeting(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	now := day0.AddDate(1, 0, 0)
	h := &gradeHistory{s: s}
	h.add("CONTROL", 200, 10, 1, now.AddDate(0, -2, 0), true)
	h.add("IMP-A", 200, 0, 0, now.AddDate(0, -2, 0), false)
	h.add("IMP-B", 100, 20, 1, now.AddDate(0, -2, 0), false)
	h.flush(t)
	first, err := s.RecomputeGrades(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 3 || first[0].Enterprise != "CONTROL" || first[1].To != GradeGreen || first[1].From != "" || first[2].To != GradeRed {
		t.Fatalf("first recompute: %+v", first)
	}
	same, err := s.RecomputeGrades(ctx, now.Add(time.Hour))
	if err != nil || len(same) != 0 {
		t.Fatalf("nothing changed, yet %d changes (%v)", len(same), err)
	}
	// IMP-A is caught 40 times with severe findings: green → black.
	later := now.AddDate(0, 0, 7)
	h.add("IMP-A", 40, 40, 3, now.AddDate(0, 0, 1), false)
	h.flush(t)
	changes, err := s.RecomputeGrades(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Enterprise != "IMP-A" || changes[0].From != GradeGreen || changes[0].To != GradeBlack || changes[0].Hits != 40 {
		t.Fatalf("changes %+v, want IMP-A green → black", changes)
	}
	var streamed []GradeChange
	if err := s.GradeChanges(ctx, later, func(c GradeChange) error { streamed = append(streamed, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(streamed) != 1 || streamed[0].To != GradeBlack || !streamed[0].At.Equal(later) {
		t.Fatalf("streamed %+v", streamed)
	}
	e, err := targeting.NewEngine(targeting.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	n, last, err := s.ApplyGradeChanges(ctx, time.Time{}, e)
	if err != nil || n != 4 || !last.Equal(later) {
		t.Fatalf("applied %d up to %v (%v), want 4 up to %v", n, last, err, later)
	}
	if e.Grade("IMP-A") != GradeBlack || e.Grade("IMP-B") != GradeRed {
		t.Fatalf("targeting sees IMP-A %q, IMP-B %q", e.Grade("IMP-A"), e.Grade("IMP-B"))
	}
}
