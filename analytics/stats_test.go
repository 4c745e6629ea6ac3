package analytics

import (
	"math"
	"testing"
)

func TestWilsonInterval(t *testing.T) {
	tests := []struct {
		name         string
		hits, n      uint64
		rate, lo, hi float64
	}{
		// Reference values from R: prop.test(k, n, correct = FALSE)$conf.int, binom::binom.wilson.
		{"10 of 100", 10, 100, 0.1, 0.05522914, 0.17436566},
		{"no hits in 20 still has an upper bound above zero", 0, 20, 0, 0, 0.16112515},
		{"all of 5", 5, 5, 1, 0.56551754, 1}, // lower bound n/(n+z²)
		{"no trials says nothing", 0, 0, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRate(tt.hits, tt.n)
			if math.Abs(r.Rate-tt.rate) > 1e-9 || math.Abs(r.Lo-tt.lo) > 1e-6 || math.Abs(r.Hi-tt.hi) > 1e-6 {
				t.Fatalf("got %+v, want rate %v [%v, %v]", r, tt.rate, tt.lo, tt.hi)
			}
		})
	}
}

func TestBenjaminiHochberg(t *testing.T) {
	// Reference: R p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
	p := []float64{0.01, 0.04, 0.03, 0.005}
	want := []float64{0.02, 0.04, 0.04, 0.02}
	got := benjaminiHochberg(p)
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("q = %v, want %v", got, want)
		}
	}
}
