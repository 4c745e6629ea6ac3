package analytics

import (
	"math"
	"sort"
)

// Rate is a proportion with its 95% Wilson score interval. The Wilson interval stays inside
// [0, 1] and behaves at small n and at 0 or n successes, where the normal approximation lies.
type Rate struct {
	N    uint64  `json:"n"`    // trials (concluded inspections)
	Hits uint64  `json:"hits"` // successes
	Rate float64 `json:"rate"` // Hits / N; 0 when N is 0
	Lo   float64 `json:"lo"`   // 95% Wilson lower bound
	Hi   float64 `json:"hi"`   // 95% Wilson upper bound; 1 when N is 0
}

const z95 = 1.959963984540054

// NewRate computes the rate and its 95% Wilson interval.
func NewRate(hits, n uint64) Rate {
	if n == 0 {
		return Rate{Hi: 1}
	}
	lo, hi := wilson(float64(hits), float64(n), z95)
	return Rate{N: n, Hits: hits, Rate: float64(hits) / float64(n), Lo: lo, Hi: hi}
}

func wilson(k, n, z float64) (lo, hi float64) {
	p := k / n
	z2 := z * z
	den := 1 + z2/n
	center := (p + z2/(2*n)) / den
	half := z / den * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return max(0, center-half), min(1, center+half)
}

// benjaminiHochberg returns the BH-adjusted q-values of p, in p's order: the smallest false
// discovery rate at which each test would be declared significant.
func benjaminiHochberg(p []float64) []float64 {
	m := len(p)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	q := make([]float64, m)
	prev := 1.0
	for r := m - 1; r >= 0; r-- {
		i := idx[r]
		v := min(prev, p[i]*float64(m)/float64(r+1))
		q[i], prev = v, v
	}
	return q
}
