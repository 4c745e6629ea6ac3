package evaluate

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/portguard/portguard/targeting"
)

// Report is the result of Evaluate: ranking quality of the engine's scores on the test rows,
// the JSON of `portguard evaluate` (issue 7) plus counts that make it interpretable.
type Report struct {
	AUC              float64 `json:"auc"`
	AveragePrecision float64 `json:"average_precision"`
	At               []At    `json:"at"`
	// Train and Test count the rows used; Hits counts the test rows labelled hits.
	Train int `json:"train"`
	Test  int `json:"test"`
	Hits  int `json:"hits"`
	// BaseRate is Hits/Test: the precision of a random selection.
	BaseRate     float64 `json:"base_rate"`
	ModelVersion string  `json:"model_version"`
	// RevenueAt is the share of the test rows' revenue found in the top rate share, per rate of
	// At; absent when no test row has revenue.
	RevenueAt []float64 `json:"revenue_at,omitempty"`
}

// Evaluate trains the targeting models on train (every label visible, propensity 1), scores
// test with the engine's decision code in time order without revealing any test label, and
// measures the ranking of Decision.Score against the test labels.
func Evaluate(ctx context.Context, train, test []Row, cfg targeting.Config) (Report, error) {
	return EvaluateEach(ctx, train, test, cfg, nil)
}

// EvaluateEach is Evaluate that also passes each test row and its decision to each (when not
// nil), for charts or further analysis.
func EvaluateEach(ctx context.Context, train, test []Row, cfg targeting.Config, each func(Row, targeting.Decision)) (Report, error) {
	if len(test) == 0 {
		return Report{}, fmt.Errorf("evaluate: no test rows")
	}
	e, err := targeting.NewEngine(cfg)
	if err != nil {
		return Report{}, fmt.Errorf("evaluate: %w", err)
	}
	ex := make([]targeting.Labelled, len(train))
	for i, r := range train {
		ex[i] = targeting.Labelled{Decl: r.Decl, Hit: r.Hit, Revenue: r.Revenue, Propensity: 1, At: r.At}
	}
	if err := e.Fit(ctx, ex); err != nil {
		return Report{}, fmt.Errorf("evaluate: train on %d rows: %w", len(train), err)
	}
	test = byTime(test)
	s := make([]float64, len(test))
	labels := make([]bool, len(test))
	rev := make([]float64, len(test))
	rep := Report{Train: len(train), Test: len(test), ModelVersion: e.ModelVersion()}
	var revTotal float64
	for i, r := range test {
		if i%4096 == 0 && ctx.Err() != nil {
			return Report{}, ctx.Err()
		}
		d := e.Decide(r.Decl, r.At)
		s[i], labels[i], rev[i] = d.Score, r.Hit, r.Revenue
		if r.Hit {
			rep.Hits++
			revTotal += r.Revenue
		}
		if each != nil {
			each(r, d)
		}
	}
	rep.AUC = AUC(s, labels)
	rep.AveragePrecision = AveragePrecision(s, labels)
	rep.At = Curve(s, labels)
	rep.BaseRate = float64(rep.Hits) / float64(len(test))
	if revTotal > 0 {
		for _, rate := range Rates {
			rep.RevenueAt = append(rep.RevenueAt, revenueAt(s, labels, rev, rate)/revTotal)
		}
	}
	return rep, nil
}

// revenueAt sums the revenue of hits in the top rate share by score, tie groups at the cut
// counted in proportion as PrecisionRecallAt does.
func revenueAt(scores []float64, labels []bool, rev []float64, rate float64) float64 {
	s := clean(scores)
	n := len(s)
	k := max(1, min(n, int(math.Round(rate*float64(n)))))
	idx := order(s)
	var sum float64
	taken := 0
	for i := 0; i < n && taken < k; {
		j := i
		var g float64
		for j < n && s[idx[j]] == s[idx[i]] {
			if labels[idx[j]] {
				g += rev[idx[j]]
			}
			j++
		}
		size := j - i
		if take := k - taken; take < size {
			sum += g * float64(take) / float64(size)
			taken = k
		} else {
			sum += g
			taken += size
		}
		i = j
	}
	return sum
}

// byTime returns rows sorted by date (stable: rows of the same instant keep file order),
// copying only when they are not sorted already.
func byTime(rows []Row) []Row {
	if sort.SliceIsSorted(rows, func(i, j int) bool { return rows[i].At.Before(rows[j].At) }) {
		return rows
	}
	out := append([]Row(nil), rows...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}

// SplitAt divides rows at a time: those before it, and those at or after it.
func SplitAt(rows []Row, at time.Time) (before, after []Row) {
	for _, r := range rows {
		if r.At.Before(at) {
			before = append(before, r)
		} else {
			after = append(after, r)
		}
	}
	return before, after
}
