package targeting

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
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
			c := newController(2000, 0, 0)
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
	weighted := newController(2000, 0, 0)
	weighted.prime(scores, weights, nil, target, 0, 0, 0)
	if got := share(weighted); math.Abs(got-target) > 0.015 {
		t.Errorf("primed with inverse-propensity weights: share %.4f, target %.2f", got, target)
	}
	unweighted := newController(2000, 0, 0)
	unweighted.prime(scores, nil, nil, target, 0, 0, 0)
	if got := share(unweighted); got > target/2 {
		t.Errorf("unweighted priming gives share %.4f: the test no longer shows the bias it guards against", got)
	}
}

// A port configured with a daily capacity instead of a rate inspects about that many
// consignments a day, whatever its volume: the rate follows its traffic when the traffic
// changes, and the volume estimate survives a snapshot and restore.
func TestADailyCapacityBecomesTheRateThatFillsIt(t *testing.T) {
	const capacity = 60.0
	e := mustEngine(t, func(c *Config) {
		c.TargetInspectRate = 0.10
		c.PortDailyCapacity = map[string]float64{"2200": capacity}
		c.VolumeHalfTime = 2 * 24 * time.Hour
		c.RandomRate = 0
	})
	start := testDecl(0, "").DeclaredAt
	r := rand.New(rand.NewPCG(8, 9))
	seq := 0
	// day runs one day of perDay declarations, evenly spread, and returns how many went RED.
	day := func(e *Engine, d0 int, perDay int) int {
		red := 0
		for i := 0; i < perDay; i++ {
			d := testDecl(seq, "IMP"+string(rune('A'+r.IntN(26))))
			seq++
			d.Number = "2200" + d.Number[4:]
			d.Port = "2200"
			d.Check.Joined = true
			d.Check.WeightDeviation = math.Abs(r.NormFloat64()) * 0.1
			at := start.Add(time.Duration(d0)*24*time.Hour + time.Duration(i)*24*time.Hour/time.Duration(perDay))
			if e.Decide(d, at).Channel == Red {
				red++
			}
		}
		return red
	}
	if got := e.TargetRate("2200"); got != 0.10 {
		t.Fatalf("before any traffic the target is %.3f, want the rate setting 0.10", got)
	}
	for d := 0; d < 6; d++ {
		red := day(e, d, 1200)
		if d >= 2 && math.Abs(float64(red)-capacity) > capacity*0.2 {
			t.Errorf("day %d at 1,200 declarations: %d inspections, capacity %.0f", d, red, capacity)
		}
	}
	if got, want := e.TargetRate("2200"), capacity/1200; math.Abs(got-want) > want*0.1 {
		t.Errorf("target rate %.4f, want about %.4f (capacity over volume)", got, want)
	}
	// Traffic halves: the rate doubles within a few half-times and the capacity is still used.
	for d := 6; d < 14; d++ {
		red := day(e, d, 600)
		if d >= 11 && math.Abs(float64(red)-capacity) > capacity*0.2 {
			t.Errorf("day %d at 600 declarations: %d inspections, capacity %.0f", d, red, capacity)
		}
	}
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e2 := mustEngine(t, func(c *Config) {
		c.PortDailyCapacity = map[string]float64{"2200": capacity}
		c.VolumeHalfTime = 2 * 24 * time.Hour
	})
	if err := e2.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if got, want := e2.TargetRate("2200"), e.TargetRate("2200"); got != want {
		t.Errorf("after restore the target rate is %.4f, want %.4f as before", got, want)
	}
}

func TestADailyCapacityIsValidated(t *testing.T) {
	c := DefaultConfig()
	c.PortTargetRate = map[string]float64{"2200": 0.1}
	c.PortDailyCapacity = map[string]float64{"2200": 50, "3101": -1}
	err := c.Validate()
	if err == nil {
		t.Fatal("a port with both a rate and a capacity, and a negative capacity, were accepted")
	}
	for _, want := range []string{"port 2200 has both", "PortDailyCapacity[3101]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
