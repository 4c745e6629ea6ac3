package gbdt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// auc is the Mann–Whitney estimate of the area under the ROC curve, ties counted half. The
// evaluate package has the production version; it cannot be imported here without a cycle.
func auc(scores []float64, labels []bool) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		mid := float64(i+j+1) / 2 // average 1-based rank of the tie group
		for k := i; k < j; k++ {
			if labels[idx[k]] {
				rankSum += mid
				pos++
			}
		}
		i = j
	}
	neg := float64(len(scores)) - pos
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// xorData has a label that depends on the sign of x0·x1 (5% of labels flipped) and three
// features of pure noise: no single feature, and no linear combination, predicts it.
func xorData(n int, seed uint64) ([][]float64, []float64) {
	r := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		x := make([]float64, 5)
		for j := range x {
			x[j] = 2*r.Float64() - 1
		}
		X[i] = x
		if (x[0]*x[1] > 0) != (r.Float64() < 0.05) {
			y[i] = 1
		}
	}
	return X, y
}

// logistic fits a plain logistic regression by gradient descent: the linear baseline.
func logistic(X [][]float64, y []float64) func([]float64) float64 {
	p := len(X[0])
	w := make([]float64, p+1)
	grad := make([]float64, p+1)
	for it := 0; it < 500; it++ {
		clear(grad)
		for i, x := range X {
			z := w[p]
			for j := range x {
				z += w[j] * x[j]
			}
			e := sigmoid(z) - y[i]
			for j := range x {
				grad[j] += e * x[j]
			}
			grad[p] += e
		}
		for j := range w {
			w[j] -= 0.5 * grad[j] / float64(len(X))
		}
	}
	return func(x []float64) float64 {
		z := w[p]
		for j := range x {
			z += w[j] * x[j]
		}
		return sigmoid(z)
	}
}

func bools(y []float64) []bool {
	b := make([]bool, len(y))
	for i := range y {
		b[i] = y[i] > 0.5
	}
	return b
}

func TestTreesLearnAnInteractionALinearModelCannot(t *testing.T) {
	X, y := xorData(6000, 1)
	Xt, yt := xorData(3000, 2)
	m, err := Train(X, y, nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	lin := logistic(X, y)
	gs, ls := make([]float64, len(Xt)), make([]float64, len(Xt))
	for i, x := range Xt {
		gs[i], ls[i] = m.Predict(x), lin(x)
	}
	ga, la := auc(gs, bools(yt)), auc(ls, bools(yt))
	t.Logf("held-out AUC: trees %.3f (%d trees), logistic %.3f", ga, m.NumTrees(), la)
	if ga < 0.9 {
		t.Errorf("trees AUC %.3f, want > 0.9", ga)
	}
	if math.Abs(la-0.5) > 0.06 {
		t.Errorf("logistic AUC %.3f, want ≈ 0.5 (the test data would be too easy)", la)
	}
	// The attribution credits the two interacting features, not the noise.
	imp := m.Importance()
	if imp[0] < 5*imp[2] || imp[1] < 5*imp[3] {
		t.Errorf("importance %v: x0 and x1 should dominate", imp)
	}
}

func TestContributionsAddUpToTheRawScore(t *testing.T) {
	X, y := xorData(3000, 3)
	for i := range X {
		if i%7 == 0 {
			X[i][2] = math.NaN()
		}
	}
	m, err := Train(X, y, nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float64, 0, m.NumFeatures())
	var noise, signal float64
	for _, x := range X[:500] {
		c := m.Contributions(x, dst)
		s := m.Bias()
		for _, v := range c {
			s += v
		}
		if raw := m.PredictRaw(x); math.Abs(s-raw) > 1e-9 {
			t.Fatalf("bias + contributions = %v, PredictRaw = %v", s, raw)
		}
		signal += math.Abs(c[0]) + math.Abs(c[1])
		noise += math.Abs(c[2]) + math.Abs(c[3]) + math.Abs(c[4])
	}
	if signal < 3*noise {
		t.Errorf("mean |contribution| of x0,x1 %.3f vs noise %.3f: want the signal credited", signal/500, noise/500)
	}
	if allocs := testing.AllocsPerRun(100, func() { m.Contributions(X[0], dst) }); allocs != 0 {
		t.Errorf("Contributions allocates %v times with a large enough dst", allocs)
	}
}

func TestWeightsCanFlipTheDecision(t *testing.T) {
	// 60 hits and 40 clean consignments look alike. Unweighted, a hit is more likely; when each
	// clean one stands for 2 (its inverse propensity) and each hit for 0.5, it is not.
	var X [][]float64
	var y, w []float64
	for i := 0; i < 100; i++ {
		X = append(X, []float64{1, float64(i % 3)})
		if i < 60 {
			y, w = append(y, 1), append(w, 0.5)
		} else {
			y, w = append(y, 0), append(w, 2)
		}
	}
	cfg := DefaultConfig()
	cfg.EarlyStopping = 0
	cfg.Subsample, cfg.ColSample = 1, 1
	cfg.LearningRate = 0.3
	cfg.Trees = 100
	cfg.MinLeaf = 5
	plain, err := Train(X, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	weighted, err := Train(X, y, w, cfg)
	if err != nil {
		t.Fatal(err)
	}
	pu, pw := plain.Predict([]float64{1, 0}), weighted.Predict([]float64{1, 0})
	t.Logf("P(hit): unweighted %.3f, weighted %.3f", pu, pw)
	if !(pu > 0.55 && pw < 0.4) {
		t.Errorf("unweighted %.3f should be > 0.55 and weighted %.3f < 0.4 (weighted rate 30/110 = 0.27)", pu, pw)
	}
}

func TestMissingValuesLearnADefaultDirection(t *testing.T) {
	// Missing x0 means a hit; present x0 means a hit only when large.
	r := rand.New(rand.NewPCG(9, 9))
	var X [][]float64
	var y []float64
	for i := 0; i < 4000; i++ {
		x := r.Float64()
		lab := 0.0
		switch {
		case i%4 == 0:
			x = math.NaN()
			lab = 1
		case x > 0.8:
			lab = 1
		}
		X = append(X, []float64{x, r.Float64()})
		y = append(y, lab)
	}
	m, err := Train(X, y, nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	miss, low, high := m.Predict([]float64{math.NaN(), 0.5}), m.Predict([]float64{0.3, 0.5}), m.Predict([]float64{0.9, 0.5})
	t.Logf("P(hit): missing %.3f, low %.3f, high %.3f", miss, low, high)
	if !(miss > 0.8 && high > 0.8 && low < 0.2) {
		t.Errorf("missing %.3f and high %.3f should be > 0.8, low %.3f < 0.2", miss, high, low)
	}
}

func TestEarlyStoppingStopsWhenValidationLossStopsImproving(t *testing.T) {
	// Labels independent of the features: every tree only fits noise.
	r := rand.New(rand.NewPCG(4, 4))
	var X [][]float64
	var y []float64
	for i := 0; i < 5000; i++ {
		X = append(X, []float64{r.Float64(), r.Float64(), r.Float64()})
		y = append(y, float64(r.IntN(2)))
	}
	cfg := DefaultConfig()
	cfg.EarlyStopping = 10
	cfg.LearningRate = 0.3
	m, err := Train(X, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := m.ValidationLoss()
	t.Logf("kept %d trees, %d rounds of validation loss", m.NumTrees(), len(h)-1)
	if len(h)-1 >= cfg.Trees || len(h)-1 != m.NumTrees()+cfg.EarlyStopping {
		t.Errorf("ran %d rounds and kept %d trees; want a stop %d rounds after the best", len(h)-1, m.NumTrees(), cfg.EarlyStopping)
	}
	for i, l := range h {
		if l < h[m.NumTrees()] {
			t.Errorf("round %d has loss %v below the kept round's %v", i, l, h[m.NumTrees()])
		}
	}

	// With signal, it keeps going well past the noise case.
	X2, y2 := xorData(5000, 5)
	m2, err := Train(X2, y2, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m2.NumTrees() <= m.NumTrees() {
		t.Errorf("with signal %d trees, without %d", m2.NumTrees(), m.NumTrees())
	}
}

func TestTrainingIsDeterministicAndTheSeedMatters(t *testing.T) {
	X, y := xorData(2000, 6)
	cfg := DefaultConfig()
	cfg.Trees = 50
	enc := func(c Config) []byte {
		m, err := Train(X, y, nil, c)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := m.MarshalBinary()
		return b
	}
	a, b := enc(cfg), enc(cfg)
	if !bytes.Equal(a, b) {
		t.Error("two trainings with the same seed differ")
	}
	cfg.Seed = 2
	if bytes.Equal(a, enc(cfg)) {
		t.Error("a different seed gives the same model despite subsampling")
	}
}

func TestSnapshotRoundTripsAndRejectsDamage(t *testing.T) {
	X, y := xorData(2000, 7)
	m, err := Train(X, y, nil, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var m2 Model
	if err := m2.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, x := range X[:300] {
		if m.Predict(x) != m2.Predict(x) {
			t.Fatal("prediction differs after a round trip")
		}
	}
	if m2.NumTrees() != m.NumTrees() || len(m2.ValidationLoss()) != len(m.ValidationLoss()) {
		t.Error("round trip lost trees or history")
	}
	damaged := [][]byte{nil, b[:10], b[:len(b)-1], append([]byte("XXXX"), b[4:]...)}
	// A child pointer sent backwards would make Predict loop forever.
	loop := append([]byte(nil), b...)
	off := headerSize + 4*m.NumTrees() + 12
	loop[off], loop[off+1], loop[off+2], loop[off+3] = 0, 0, 0, 0
	damaged = append(damaged, loop)
	for i, d := range damaged {
		var x Model
		if err := x.UnmarshalBinary(d); !errors.Is(err, ErrCorrupt) {
			t.Errorf("damaged snapshot %d: error %v, want ErrCorrupt", i, err)
		}
	}
}

func TestTrainRejectsUnusableInput(t *testing.T) {
	tests := []struct {
		name string
		X    [][]float64
		y, w []float64
		cfg  func(*Config)
		want error
	}{
		{"no rows is an error", nil, nil, nil, nil, ErrNoData},
		{"ragged rows are an error", [][]float64{{1, 2}, {1}}, []float64{0, 1}, nil, nil, ErrBadShape},
		{"a label outside [0,1] is an error", [][]float64{{1}, {2}}, []float64{0, 2}, nil, nil, ErrBadLabel},
		{"fewer labels than rows is an error", [][]float64{{1}, {2}}, []float64{0}, nil, nil, ErrBadShape},
		{"a NaN label is an error", [][]float64{{1}, {2}}, []float64{0, math.NaN()}, nil, nil, ErrBadLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Train(tt.X, tt.y, tt.w, DefaultConfig()); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Train([][]float64{{1}, {2}}, []float64{0, 1}, []float64{1, -1}, DefaultConfig()); err == nil {
		t.Error("a negative weight was accepted")
	}
	cfg := DefaultConfig()
	cfg.Bins = 300
	if _, err := Train([][]float64{{1}, {2}}, []float64{0, 1}, nil, cfg); err == nil {
		t.Error("300 bins were accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	X, y := xorData(100, 1)
	if _, err := TrainContext(ctx, X, y, nil, DefaultConfig()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled training returned %v", err)
	}
}

func TestCutPointsSeparateValuesAndRespectBins(t *testing.T) {
	X := [][]float64{{1}, {1}, {2}, {math.NaN()}, {3}, {3}, {3}}
	rows := []int{0, 1, 2, 3, 4, 5, 6}
	cuts := cutPoints(X, rows, 0, 255)
	if len(cuts) != 2 || !(cuts[0] >= 1 && cuts[0] < 2) || !(cuts[1] >= 2 && cuts[1] < 3) {
		t.Fatalf("cuts %v, want one between 1 and 2 and one between 2 and 3", cuts)
	}
	for _, c := range []struct {
		x    float64
		want uint8
	}{{1, 0}, {2, 1}, {3, 2}, {math.NaN(), missingBin}, {-5, 0}, {100, 2}} {
		if got := binOf(c.x, cuts); got != c.want {
			t.Errorf("bin of %v = %d, want %d", c.x, got, c.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	big := make([][]float64, 10000)
	all := make([]int, len(big))
	for i := range big {
		big[i], all[i] = []float64{r.NormFloat64()}, i
	}
	if cuts := cutPoints(big, all, 0, 16); len(cuts) != 15 {
		t.Errorf("%d cuts for 16 bins of continuous data", len(cuts))
	}
}

func BenchmarkPredict(b *testing.B) {
	// 300 trees of depth 6 over 40 features, the size targeting runs.
	r := rand.New(rand.NewPCG(1, 1))
	const n, p = 20000, 40
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		x := make([]float64, p)
		for j := range x {
			x[j] = r.NormFloat64()
		}
		X[i] = x
		if x[0]*x[1]+x[2]+0.5*r.NormFloat64() > 0 {
			y[i] = 1
		}
	}
	cfg := DefaultConfig()
	cfg.EarlyStopping = 0
	cfg.MinLeaf = 5
	m, err := Train(X, y, nil, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	var s float64
	for i := 0; i < b.N; i++ {
		s += m.Predict(X[i%n])
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(m.NumTrees()), "trees")
	_ = s
}

func BenchmarkTrain(b *testing.B) {
	// 100,000 rows × 40 features, 100 trees: the size of a year of a mid-sized port's labels.
	r := rand.New(rand.NewPCG(1, 1))
	const n, p = 100000, 40
	X := make([][]float64, n)
	y := make([]float64, n)
	for i := range X {
		x := make([]float64, p)
		for j := range x {
			x[j] = r.NormFloat64()
		}
		X[i] = x
		if x[0]*x[1]+x[2]+0.5*r.NormFloat64() > 0 {
			y[i] = 1
		}
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Trees = 100
			cfg.EarlyStopping = 0
			cfg.Workers = workers
			for i := 0; i < b.N; i++ {
				if _, err := Train(X, y, nil, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestTheScoringLayoutAgreesWithTheTrees(t *testing.T) {
	X, y := xorData(3000, 8)
	for i := range X {
		switch i % 11 {
		case 0:
			X[i][0] = math.NaN()
		case 1:
			X[i][1] = math.Inf(1)
		case 2:
			X[i][1] = math.Inf(-1)
		}
	}
	for _, depth := range []int{1, 3, 6, 10} {
		cfg := DefaultConfig()
		cfg.Depth = depth
		cfg.MinLeaf = 3
		m, err := Train(X, y, nil, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if m.flat != (depth <= maxFlatDepth) {
			t.Errorf("depth %d: complete layout %v", depth, m.flat)
		}
		for _, x := range X {
			if a, b := m.PredictRaw(x), m.predictNodes(x); math.Abs(a-b) > 1e-12 { // summation order differs
				t.Fatalf("depth %d: layout gives %v, trees %v for %v", depth, a, b, x)
			}
		}
	}
}

func TestParallelHistogramsGiveTheSameModel(t *testing.T) {
	X, y := xorData(3*parallelRows, 11)
	cfg := DefaultConfig()
	cfg.Trees = 40
	cfg.Workers = 1
	serial, err := Train(X, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Workers = 3
	parallel, err := Train(X, y, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if serial.NumTrees() != parallel.NumTrees() || len(serial.nodes) != len(parallel.nodes) {
		t.Fatalf("serial %d trees %d nodes, parallel %d trees %d nodes", serial.NumTrees(), len(serial.nodes), parallel.NumTrees(), len(parallel.nodes))
	}
	for _, x := range X[:2000] {
		if d := math.Abs(serial.PredictRaw(x) - parallel.PredictRaw(x)); d > 1e-9 {
			t.Fatalf("predictions differ by %v", d)
		}
	}
}
