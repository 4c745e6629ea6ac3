package gbdt

import (
	"math"
	"slices"
	"sort"
)

// missingBin is the bin of NaN values in every feature; value bins are 0 … len(cuts).
const missingBin = 255

// maxSampleForCuts bounds how many values per feature are sorted to find the quantile cuts.
const maxSampleForCuts = 200_000

// cutPoints returns ascending thresholds t₀ < t₁ < … for one feature, at most bins−1 of them:
// a value x falls in the first bin b with x ≤ t_b (or in bin len(t) above them all), so that a
// split "bin ≤ b" is the test "x ≤ t_b" at prediction time. With few distinct values the cuts are
// the midpoints between them; otherwise they are quantiles of a deterministic sample of rows.
func cutPoints(X [][]float64, rows []int, f, bins int) []float64 {
	step := 1
	if len(rows) > maxSampleForCuts {
		step = (len(rows) + maxSampleForCuts - 1) / maxSampleForCuts
	}
	vals := make([]float64, 0, len(rows)/step+1)
	for i := 0; i < len(rows); i += step {
		if v := X[rows[i]][f]; !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)
	uniq := vals[:1]
	for _, v := range vals[1:] {
		if v != uniq[len(uniq)-1] {
			uniq = append(uniq, v)
		}
	}
	var cuts []float64
	if len(uniq) <= bins {
		cuts = make([]float64, 0, len(uniq)-1)
		for i := 1; i < len(uniq); i++ {
			cuts = append(cuts, midpoint(uniq[i-1], uniq[i]))
		}
		return cuts
	}
	// Quantile cuts over all (repeated) values, so that heavy values get their own bin.
	cuts = make([]float64, 0, bins-1)
	n := len(vals)
	for i := 1; i < bins; i++ {
		k := i * n / bins
		if k <= 0 || k >= n || vals[k-1] == vals[k] {
			// Inside a run of equal values: cut at the run's end instead.
			k = sort.SearchFloat64s(vals, math.Nextafter(vals[min(k, n-1)], math.Inf(1)))
			if k <= 0 || k >= n {
				continue
			}
		}
		c := midpoint(vals[k-1], vals[k])
		if len(cuts) == 0 || c > cuts[len(cuts)-1] {
			cuts = append(cuts, c)
		}
	}
	return cuts
}

// midpoint returns a threshold between a < b that is strictly below b, so that a ≤ t < b.
func midpoint(a, b float64) float64 {
	m := a + (b-a)/2
	if math.IsInf(m, 0) || m >= b || math.IsInf(a, -1) {
		m = math.Nextafter(b, math.Inf(-1))
	}
	if m < a {
		m = a
	}
	return m
}

// binOf returns the bin of x under cuts.
func binOf(x float64, cuts []float64) uint8 {
	if x != x {
		return missingBin
	}
	// Smallest b with x ≤ cuts[b]; len(cuts) when none.
	lo, hi := 0, len(cuts)
	for lo < hi {
		h := int(uint(lo+hi) >> 1)
		if cuts[h] < x {
			lo = h + 1
		} else {
			hi = h
		}
	}
	return uint8(lo)
}

// binned is the training matrix reduced to bins, row-major: rows × features bytes, which keeps
// the histogram pass sequential in memory.
type binned struct {
	p    int
	bins []uint8
	cuts [][]float64
}

func binMatrix(X [][]float64, rows []int, cuts [][]float64) *binned {
	p := len(cuts)
	b := &binned{p: p, bins: make([]uint8, len(rows)*p), cuts: cuts}
	for i, r := range rows {
		x := X[r]
		dst := b.bins[i*p : (i+1)*p]
		for f := 0; f < p; f++ {
			dst[f] = binOf(x[f], cuts[f])
		}
	}
	return b
}
