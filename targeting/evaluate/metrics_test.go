package evaluate

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The hand-computed case. Ten consignments, four hits (marked *), one tie at 0.8:
//
//	score  0.9* 0.8  0.8* 0.7* 0.6  0.5  0.4* 0.3  0.2  0.1
//
// AUC: count, for each hit, the non-hits it beats (ties ½); there are 4·6 = 24 pairs.
//
//	0.9* beats all 6                         → 6
//	0.8* ties the 0.8 non-hit, beats 5 below → 5.5
//	0.7* beats 0.6 0.5 0.3 0.2 0.1           → 5
//	0.4* beats 0.3 0.2 0.1                   → 3
//	AUC = 19.5 / 24 = 0.8125
//
// Average precision over the distinct thresholds (ΔR·P where recall rises):
//
//	≥0.9: TP 1 FP 0, P 1,   R .25 → .25·1    = .25
//	≥0.8: TP 2 FP 1, P 2/3, R .50 → .25·2/3  = .1666…
//	≥0.7: TP 3 FP 1, P 3/4, R .75 → .25·3/4  = .1875
//	≥0.4: TP 4 FP 3, P 4/7, R 1   → .25·4/7  = .142857…
//	AP = .25 + .1666… + .1875 + .142857… = 0.7470238…
//
// Precision and recall at a rate, k = round(rate·10):
//
//	10%: k 1: 0.9*                          → P 1,    R .25
//	20%: k 2: 0.9*, then 1 of the 2 tied at 0.8 (one hit): 1 + ½ hits → P .75, R .375
//	30%: k 3: 0.9*, both 0.8                → 2 hits  → P 2/3,  R .5
//	50%: k 5: 0.9* 0.8 0.8* 0.7* 0.6        → 3 hits  → P .6,   R .75
//	 1%: k rounds to 0, at least 1          → P 1,    R .25
var (
	handScores = []float64{0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1}
	handLabels = []bool{true, false, true, true, false, false, true, false, false, false}
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestMetricsMatchTheHandComputedCase(t *testing.T) {
	if got := AUC(handScores, handLabels); !near(got, 0.8125) {
		t.Errorf("AUC = %v, want 0.8125", got)
	}
	if got, want := AveragePrecision(handScores, handLabels), 0.25+0.25*2.0/3+0.1875+0.25*4.0/7; !near(got, want) {
		t.Errorf("average precision = %v, want %v", got, want)
	}
	for _, c := range []struct{ rate, p, r float64 }{
		{0.10, 1, 0.25}, {0.20, 0.75, 0.375}, {0.30, 2.0 / 3, 0.5}, {0.50, 0.6, 0.75}, {0.01, 1, 0.25},
	} {
		p, r := PrecisionRecallAt(handScores, handLabels, c.rate)
		if !near(p, c.p) || !near(r, c.r) {
			t.Errorf("at %v: precision %v recall %v, want %v %v", c.rate, p, r, c.p, c.r)
		}
	}
}

func TestMetricsDoNotDependOnTheOrderOfTiedOrShuffledInput(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 2000
	scores, labels := make([]float64, n), make([]bool, n)
	for i := range scores {
		scores[i] = float64(r.IntN(20)) // many ties
		labels[i] = r.Float64() < 0.1+0.02*scores[i]
	}
	a, ap := AUC(scores, labels), AveragePrecision(scores, labels)
	p, rc := PrecisionRecallAt(scores, labels, 0.1)
	r.Shuffle(n, func(i, j int) {
		scores[i], scores[j] = scores[j], scores[i]
		labels[i], labels[j] = labels[j], labels[i]
	})
	p2, rc2 := PrecisionRecallAt(scores, labels, 0.1)
	if !near(a, AUC(scores, labels)) || !near(ap, AveragePrecision(scores, labels)) || !near(p, p2) || !near(rc, rc2) {
		t.Error("a metric changed when the input was shuffled")
	}
}

func TestMetricsOfDegenerateInputs(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		labels []bool
		auc    float64
	}{
		{"a perfect ranking has AUC 1", []float64{3, 2, 1}, []bool{true, false, false}, 1},
		{"an inverted ranking has AUC 0", []float64{1, 2, 3}, []bool{true, false, false}, 0},
		{"all scores tied gives AUC one half", []float64{1, 1, 1, 1}, []bool{true, false, true, false}, 0.5},
		{"a NaN score ranks last", []float64{math.NaN(), 2, 1}, []bool{false, true, false}, 1},
		{"without hits AUC is NaN", []float64{1, 2}, []bool{false, false}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AUC(tt.scores, tt.labels)
			if !(near(got, tt.auc) || math.IsNaN(got) && math.IsNaN(tt.auc)) {
				t.Errorf("AUC = %v, want %v", got, tt.auc)
			}
		})
	}
	if c := Curve(handScores, handLabels); len(c) != len(Rates) || c[3].Rate != 0.10 || !near(c[3].Precision, 1) {
		t.Errorf("curve %+v", c)
	}
}
