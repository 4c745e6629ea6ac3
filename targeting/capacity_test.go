package targeting

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCapacityControllerTracksTheTargetShare(t *testing.T) {
	tests := []struct {
		name   string
		target float64
		scores func(r *rand.Rand, i int) float64
	}{
		{"a stationary stream of probabilities gets the target share selected", 0.10,
			func(r *rand.Rand, i int) float64 { return math.Pow(r.Float64(), 3) }},
		{"a stream whose scores double half way through is followed", 0.05,
			func(r *rand.Rand, i int) float64 {
				s := math.Pow(r.Float64(), 3) * 0.4
				if i > 50_000 {
					s *= 2
				}
				return s
			}},
		{"a stream of equal scores is split by the tie-break", 0.10,
			func(r *rand.Rand, i int) float64 { return 0.05 }},
		{"expected values over many orders of magnitude are tracked", 0.20,
			func(r *rand.Rand, i int) float64 { return r.Float64() * math.Exp(r.NormFloat64()*3) * 1e4 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(11, 12))
			c := newController(2000, 0)
			const n = 100_000
			selected, counted := 0, 0
			for i := 0; i < n; i++ {
				s := tieBreak(tc.scores(r, i), r.Float64())
				red, _ := c.thresholds()
				// Measure after warm-up and away from the change point.
				if i > 5000 && (i < 45_000 || i > 60_000) {
					counted++
					if s >= red {
						selected++
					}
				}
				c.observe(s, 0, false, tc.target, 0, 0, 0)
			}
			share := float64(selected) / float64(counted)
			if math.Abs(share-tc.target) > 0.01 {
				t.Fatalf("selected share %.4f, target %.2f", share, tc.target)
			}
		})
	}
}

func TestTheInspectionShareOfAPortTracksItsTarget(t *testing.T) {
	e := mustEngine(t, func(c *Config) { c.TargetInspectRate = 0.10; c.PortTargetRate = map[string]float64{"2200": 0.2} })
	now := testDecl(0, "").DeclaredAt
	r := rand.New(rand.NewPCG(5, 6))
	for _, port := range []string{"3101", "2200"} {
		red, n := 0, 0
		for i := 0; i < 30_000; i++ {
			d := testDecl(i, "IMP"+string(rune('A'+r.IntN(26))))
			d.Number = port + d.Number[4:]
			d.Port = port
			// Vary the risk through the manifest cross-check so scores differ.
			d.Check.Joined = true
			d.Check.WeightDeviation = math.Abs(r.NormFloat64()) * 0.1
			dec := e.Decide(d, now)
			if i >= 5000 {
				n++
				if dec.Channel == Red {
					red++
				}
			}
		}
		want := e.cfg.targetRate(port)
		if share := float64(red) / float64(n); math.Abs(share-want) > 0.015 {
			t.Errorf("port %s: RED share %.4f, target %.2f", port, share, want)
		}
	}
}

func TestPrimingWithInspectedExamplesWeightedByInversePropensityKeepsTheTargetShare(t *testing.T) {
	// After the warm-up only inspected consignments carry labels: the top scores (propensity
	// 1) and a 3% random sample of the rest. Weighted by 1/propensity they describe the whole
	// stream again; unweighted they put the threshold among the inspected and under-inspect.
	r := rand.New(rand.NewPCG(3, 4))
	const target = 0.10
	pop := make([]float64, 20_000)
	for i := range pop {
		pop[i] = tieBreak(math.Pow(r.Float64(), 3), r.Float64())
	}
	sorted := slices.Clone(pop)
	slices.Sort(sorted)
	cut := sorted[int(float64(len(sorted))*(1-target))]
	var scores, weights []float64
	for _, s := range pop {
		switch {
		case s >= cut:
			scores, weights = append(scores, s), append(weights, 1)
		case r.Float64() < 0.03:
			scores, weights = append(scores, s), append(weights, 1/0.03)
		}
	}
	share := func(c *controller) float64 {
		red, _ := c.thresholds()
		n := 0
		for _, s := range pop {
			if s >= red {
				n++
			}
		}
		return float64(n) / float64(len(pop))
	}
	weighted := newController(2000, 0)
	weighted.prime(scores, weights, nil, target, 0, 0, 0)
	if got := share(weighted); math.Abs(got-target) > 0.015 {
		t.Errorf("primed with inverse-propensity weights: share %.4f, target %.2f", got, target)
	}
	unweighted := newController(2000, 0)
	unweighted.prime(scores, nil, nil, target, 0, 0, 0)
	if got := share(unweighted); got > target/2 {
		t.Errorf("unweighted priming gives share %.4f: the test no longer shows the bias it guards against", got)
	}
}
