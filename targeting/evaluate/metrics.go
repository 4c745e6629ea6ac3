// Package evaluate measures targeting on labelled history (issue 7): ranking metrics (ROC AUC,
// average precision, precision and recall at an inspection rate), the reader of labelled CSV
// files through a mapping file, and the evaluate and replay drivers that run the real decision
// code over that history.
package evaluate

import (
	"math"
	"sort"
)

// Rates are the inspection rates evaluate reports precision and recall at.
var Rates = []float64{0.01, 0.02, 0.05, 0.10, 0.20, 0.30}

// order returns the indices of scores from the highest score to the lowest; equal scores keep
// their input order (the metrics below do not depend on it).
func order(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx
}

// AUC returns the area under the ROC curve: the probability that a random hit scores above a
// random non-hit, a tie counting one half (the Mann–Whitney statistic). It is NaN when the
// labels are all of one kind. NaN scores rank lowest.
func AUC(scores []float64, labels []bool) float64 {
	s := clean(scores)
	mustMatch(s, labels)
	idx := order(s)
	var pos, neg float64
	for _, l := range labels[:len(s)] {
		if l {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	// Walk from the top: each hit in a tie group beats the non-hits below the group and ties
	// with the non-hits inside it.
	var wins float64
	negBelow := neg
	for i := 0; i < len(idx); {
		j := i
		var p, n float64
		for j < len(idx) && s[idx[j]] == s[idx[i]] {
			if labels[idx[j]] {
				p++
			} else {
				n++
			}
			j++
		}
		negBelow -= n
		wins += p*negBelow + 0.5*p*n
		i = j
	}
	return wins / (pos * neg)
}

// AveragePrecision returns Σₙ (Rₙ − Rₙ₋₁)·Pₙ over the distinct score thresholds from the top,
// where Pₙ and Rₙ are precision and recall when everything scoring at least the n-th threshold
// is selected (tied consignments enter together, so the result does not depend on their
// order). It is NaN without hits.
func AveragePrecision(scores []float64, labels []bool) float64 {
	s := clean(scores)
	mustMatch(s, labels)
	idx := order(s)
	var pos float64
	for _, l := range labels[:len(s)] {
		if l {
			pos++
		}
	}
	if pos == 0 {
		return math.NaN()
	}
	var ap, tp, fp, lastRecall float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && s[idx[j]] == s[idx[i]] {
			if labels[idx[j]] {
				tp++
			} else {
				fp++
			}
			j++
		}
		recall := tp / pos
		ap += (recall - lastRecall) * tp / (tp + fp)
		lastRecall = recall
		i = j
	}
	return ap
}

// PrecisionRecallAt returns the precision and recall when the top rate share of consignments
// by score is inspected: k = round(rate·n), at least 1. When the cut falls inside a group of
// tied scores, the group contributes its hit fraction times the places left: the expected
// result of breaking the tie at random. Recall is NaN without hits.
func PrecisionRecallAt(scores []float64, labels []bool, rate float64) (precision, recall float64) {
	s := clean(scores)
	mustMatch(s, labels)
	n := len(s)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	k := max(1, min(n, int(math.Round(rate*float64(n)))))
	idx := order(s)
	var pos, hits float64
	for _, l := range labels[:n] {
		if l {
			pos++
		}
	}
	taken := 0
	for i := 0; i < n && taken < k; {
		j := i
		var p float64
		for j < n && s[idx[j]] == s[idx[i]] {
			if labels[idx[j]] {
				p++
			}
			j++
		}
		size := j - i
		if take := k - taken; take < size {
			hits += p * float64(take) / float64(size)
			taken = k
		} else {
			hits += p
			taken += size
		}
		i = j
	}
	precision = hits / float64(k)
	recall = math.NaN()
	if pos > 0 {
		recall = hits / pos
	}
	return precision, recall
}

// At is precision and recall at one inspection rate.
type At struct {
	Rate      float64 `json:"rate"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// Curve returns precision and recall at each of Rates.
func Curve(scores []float64, labels []bool) []At {
	out := make([]At, len(Rates))
	for i, r := range Rates {
		p, rc := PrecisionRecallAt(scores, labels, r)
		out[i] = At{Rate: r, Precision: p, Recall: rc}
	}
	return out
}

// clean returns scores with NaN replaced by −Inf, so that a failed score ranks last instead of
// breaking the sort; it copies only when it has to.
func clean(scores []float64) []float64 {
	for i, v := range scores {
		if math.IsNaN(v) {
			c := append([]float64(nil), scores...)
			for j := i; j < len(c); j++ {
				if math.IsNaN(c[j]) {
					c[j] = math.Inf(-1)
				}
			}
			return c
		}
	}
	return scores
}

// mustMatch panics when scores and labels differ in length: a programming error.
func mustMatch(scores []float64, labels []bool) {
	if len(scores) != len(labels) {
		panic("evaluate: scores and labels differ in length")
	}
}
