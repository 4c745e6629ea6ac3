package analytics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTrendByEnterpriseGradeCountsTheGradeAsOfEachDecision: a trend grouped or filtered by
// enterprise grade counts each decision under the grade its importer held when it was decided —
// ungraded before the first grading, the new grade only after a change — and a grade change
// rebuilds facts days that were rolled up before it. Both the facts path (a period that does not
// start at midnight) and the cube path (whole days) give the same answer.
func TestTrendByEnterpriseGradeCountsTheGradeAsOfEachDecision(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	now := day0.AddDate(1, 0, 0) // a midnight
	h := &gradeHistory{s: s}
	h.add("CONTROL", 200, 10, 1, now.AddDate(0, -2, 0), true)
	h.add("IMP-A", 200, 0, 0, now.AddDate(0, -2, 0), false)
	h.add("IMP-B", 100, 20, 1, now.AddDate(0, -2, 0), false)
	// The day after the first grading: IMP-B (red by then) inspected 5 times, IMP-A (green) 3.
	h.add("IMP-B", 5, 1, 1, now.AddDate(0, 0, 1), false)
	h.green("IMP-A", 3, now.AddDate(0, 0, 1).Add(time.Hour))
	h.flush(t)

	from, to := now.AddDate(0, -3, 0), now.AddDate(0, 0, 3)
	byGrade := func(t *testing.T, req TrendRequest) map[string]uint64 {
		t.Helper()
		var answers [2]map[string]uint64
		for i, start := range []time.Time{req.From, req.From.Add(time.Second)} { // cube, then facts
			req.From = start
			res, err := s.Trend(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			answers[i] = map[string]uint64{}
			for _, r := range res.Rows {
				answers[i][r.Period.Format(dateLayout)+" "+strings.Join(r.Group, "|")] += r.Declarations
			}
		}
		if !sameCounts(answers[0], answers[1]) {
			t.Errorf("the cube answered %v, the facts %v", answers[0], answers[1])
		}
		return answers[0]
	}
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format(dateLayout)
	before := now.AddDate(0, -2, 0)
	beforeMonth := time.Date(before.Year(), before.Month(), 1, 0, 0, 0, 0, time.UTC).Format(dateLayout)

	// Rolled up before any grade exists: everything is ungraded.
	got := byGrade(t, TrendRequest{From: from, To: to, Interval: Month, GroupBy: []Dimension{DimEnterpriseGrade}})
	if want := map[string]uint64{beforeMonth + " ": 500, month + " ": 8}; !sameCounts(got, want) {
		t.Fatalf("before grading: %v, want %v", got, want)
	}

	// Until the inserts are more than a second old the rollup rebuilds their days anyway; wait
	// for it to settle, so that only the grade change can make it rebuild the day after.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := s.Rollup(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Days == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollup still rebuilds %d days", st.Days)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := s.RecomputeGrades(ctx, now); err != nil {
		t.Fatal(err)
	}
	got = byGrade(t, TrendRequest{From: from, To: to, Interval: Month, GroupBy: []Dimension{DimEnterpriseGrade}})
	if want := map[string]uint64{beforeMonth + " ": 500, month + " red": 5, month + " green": 3}; !sameCounts(got, want) {
		t.Fatalf("after grading (the day after's facts must be rebuilt): %v, want %v", got, want)
	}

	// IMP-A is caught 40 times with severe findings on day 1 and turns black at noon of day 1;
	// its decision of day 2 counts as black, its earlier ones stay green.
	h.add("IMP-A", 40, 40, 3, now.AddDate(0, 0, 1).Add(2*time.Hour), false)
	h.green("IMP-A", 1, now.AddDate(0, 0, 2))
	h.flush(t)
	changes, err := s.RecomputeGrades(ctx, now.AddDate(0, 0, 1).Add(12*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].To != GradeBlack {
		t.Fatalf("changes %+v, want IMP-A → black", changes)
	}
	d1, d2 := now.AddDate(0, 0, 1).Format(dateLayout), now.AddDate(0, 0, 2).Format(dateLayout)
	got = byGrade(t, TrendRequest{From: now, To: to, GroupBy: []Dimension{DimEnterpriseGrade}})
	if want := map[string]uint64{d1 + " red": 5, d1 + " green": 43, d2 + " black": 1}; !sameCounts(got, want) {
		t.Fatalf("by day: %v, want %v", got, want)
	}

	t.Run("filtered by grade, ungraded included", func(t *testing.T) {
		got := byGrade(t, TrendRequest{From: from, To: to, Interval: Month,
			Filters: map[Dimension][]string{DimEnterpriseGrade: {GradeRed, Ungraded}}})
		if want := map[string]uint64{beforeMonth + " ": 500, month + " ": 5}; !sameCounts(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
	t.Run("hit rates filtered by grade", func(t *testing.T) {
		h, err := s.HitRates(ctx, Scope{From: from, To: to, Filters: map[Dimension][]string{DimEnterpriseGrade: {GradeRed}}})
		if err != nil {
			t.Fatal(err)
		}
		if h.Declarations != 5 || h.Overall.N != 5 || h.Overall.Hits != 1 {
			t.Fatalf("red: %d declarations, %d/%d hits, want 5 and 1/5", h.Declarations, h.Overall.Hits, h.Overall.N)
		}
	})
	t.Run("an unknown grade is refused", func(t *testing.T) {
		_, err := s.Trend(ctx, TrendRequest{From: from, To: to, Filters: map[Dimension][]string{DimEnterpriseGrade: {"purple"}}})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ungraded") {
			t.Fatalf("err = %v, want ErrInvalid listing the grades", err)
		}
	})
}

func sameCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
