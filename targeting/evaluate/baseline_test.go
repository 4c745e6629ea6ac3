package evaluate

import (
	"context"
	"hash/fnv"
	"math"
	"slices"
	"sort"

	"github.com/portguard/portguard/targeting/gbdt"
)

// The baseline of issue 4's quality target: gradient-boosted trees trained directly on the
// rows — raw numerics, simple derived ones, and every categorical column target-encoded (out
// of fold on the training rows, so that the trees do not learn to trust leaked labels) plus
// its frequency — with no portguard profiles, tuned on a time-ordered validation split the
// way a careful analyst with XGBoost would.

// baselineCats are the categorical columns of a row, by name.
var baselineCats = []string{"port", "trade_mode", "transport", "declarant", "importer", "consignor",
	"hs2", "hs4", "hs6", "departure", "origin", "currency"}

func baselineCategoricals(r Row, out []string) []string {
	d := r.Decl
	it := d.Items[0]
	hs := it.HSCode
	p := func(n int) string {
		if len(hs) < n {
			return hs
		}
		return hs[:n]
	}
	out = append(out[:0], d.Port, d.TradeMode, d.TransportMode, d.Declarant, d.Consignee.CustomsCode,
		d.Consignor.CustomsCode, p(2), p(4), p(6), d.DepartureCountry, it.OriginCountry, it.Currency)
	for _, k := range sortedKeys(d.Attributes) {
		if k != SourceIDAttribute {
			out = append(out, k+"="+d.Attributes[k])
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func baselineNumerics(r Row, measures []string, out []float64) []float64 {
	it := r.Decl.Items[0]
	lg := func(v float64) float64 { return math.Log1p(max(v, 0)) }
	uvKg, uvQty := math.NaN(), math.NaN()
	if it.NetWeightKg > 0 {
		uvKg = math.Log(max(it.ValueBase, 1e-3) / it.NetWeightKg)
	}
	if it.Quantity > 0 {
		uvQty = math.Log(max(it.ValueBase, 1e-3) / it.Quantity)
	}
	hsNum := func(n int) float64 {
		v := 0.0
		for i := 0; i < n && i < len(it.HSCode); i++ {
			v = v*10 + float64(it.HSCode[i]-'0')
		}
		return v
	}
	out = append(out[:0], lg(it.ValueBase), lg(it.NetWeightKg), lg(it.Quantity), uvKg, uvQty,
		hsNum(2), hsNum(4), hsNum(6), float64(r.At.Weekday()), float64(r.At.Hour()))
	for _, m := range measures {
		v, ok := r.Decl.Measures[m]
		if !ok {
			v = math.NaN()
		}
		out = append(out, v)
	}
	return out
}

// targetEncoder keeps hit and row counts per column value.
type targetEncoder struct {
	h, n  []map[string]float64
	prior float64
	m     float64 // smoothing strength in pseudo-rows
}

func newTargetEncoder(cols int, m float64) *targetEncoder {
	te := &targetEncoder{m: m}
	for range cols {
		te.h, te.n = append(te.h, map[string]float64{}), append(te.n, map[string]float64{})
	}
	return te
}

func (te *targetEncoder) add(cats []string, hit bool, sign float64) {
	for j, v := range cats {
		if j >= len(te.h) {
			break
		}
		te.n[j][v] += sign
		if hit {
			te.h[j][v] += sign
		}
	}
}

// encode appends, per column, the smoothed log-odds of the value's hit rate and log1p of its
// row count.
func (te *targetEncoder) encode(cats []string, out []float64) []float64 {
	for j := range te.h {
		v := ""
		if j < len(cats) {
			v = cats[j]
		}
		h, n := te.h[j][v], te.n[j][v]
		p := (h + te.m*te.prior) / (n + te.m)
		out = append(out, math.Log(p/(1-p)), math.Log1p(n))
	}
	return out
}

// baselineMatrix encodes train out of fold (5 folds by hash of the declaration number) and test
// with encodings from all of train.
func baselineMatrix(train, test []Row) (Xtr [][]float64, ytr []float64, Xte [][]float64) {
	measures := map[string]bool{}
	for _, r := range train {
		for k := range r.Decl.Measures {
			measures[k] = true
		}
	}
	ms := sortedKeys(measures)
	ncat := 0
	var cats []string
	for _, r := range train {
		ncat = max(ncat, len(baselineCategoricals(r, cats)))
	}
	const K = 5
	full := newTargetEncoder(ncat, baselineSmooth)
	folds := make([]*targetEncoder, K)
	for k := range folds {
		folds[k] = newTargetEncoder(ncat, baselineSmooth)
	}
	fold := make([]int, len(train))
	var hits float64
	for i, r := range train {
		h := fnv.New32a()
		h.Write([]byte(r.Decl.Number))
		fold[i] = int(h.Sum32() % K)
		cats = baselineCategoricals(r, cats)
		full.add(cats, r.Hit, 1)
		folds[fold[i]].add(cats, r.Hit, 1)
		if r.Hit {
			hits++
		}
	}
	full.prior = hits / float64(len(train))
	// Out of fold: all of train minus the row's own fold.
	oof := make([]*targetEncoder, K)
	for k := range oof {
		oof[k] = newTargetEncoder(ncat, baselineSmooth)
		oof[k].prior = full.prior
		for j := range full.h {
			for v, n := range full.n[j] {
				oof[k].n[j][v] = n - folds[k].n[j][v]
				oof[k].h[j][v] = full.h[j][v] - folds[k].h[j][v]
			}
		}
	}
	var num []float64
	row := func(r Row, te *targetEncoder) []float64 {
		num = baselineNumerics(r, ms, num)
		cats = baselineCategoricals(r, cats)
		return te.encode(cats, slices.Clone(num))
	}
	for i, r := range train {
		Xtr = append(Xtr, row(r, oof[fold[i]]))
		y := 0.0
		if r.Hit {
			y = 1
		}
		ytr = append(ytr, y)
	}
	for _, r := range test {
		Xte = append(Xte, row(r, full))
	}
	return Xtr, ytr, Xte
}

// The tuning grid: depth and learning rate; rounds come from early stopping.
var (
	baselineDepths          = []int{4, 6}
	baselineRates           = []float64{0.05, 0.1}
	baselineMinLeaf         = 20
	baselineSmooth  float64 = 20 // pseudo-rows of the overall rate in each target encoding
)

// baselineResult is the tuned baseline's figures on the test rows.
type baselineResult struct {
	Depth        int
	LearningRate float64
	Trees        int
	ValAP        float64
	AUC, AP, P10 float64
}

// tunedBaseline chooses depth and learning rate by average precision on the last 20% of train
// (in time order; rounds by early stopping on it), then retrains on all of train with the
// chosen rounds and scores test.
func tunedBaseline(ctx context.Context, train, test []Row) (baselineResult, error) {
	train, test = byTime(train), byTime(test)
	X, y, Xte := baselineMatrix(train, test)
	cut := int(float64(len(X)) * 0.8)
	var best baselineResult
	best.ValAP = -1
	for _, depth := range baselineDepths {
		for _, lr := range baselineRates {
			cfg := gbdt.DefaultConfig()
			cfg.Depth, cfg.LearningRate, cfg.Trees, cfg.MinLeaf = depth, lr, 600, baselineMinLeaf
			cfg.EarlyStopping, cfg.ValidationFraction = 40, 0.2 // the last 20%: the same rows as cut
			m, err := gbdt.TrainContext(ctx, X, y, nil, cfg)
			if err != nil {
				return best, err
			}
			s := make([]float64, len(X)-cut)
			l := make([]bool, len(X)-cut)
			for i := cut; i < len(X); i++ {
				s[i-cut], l[i-cut] = m.Predict(X[i]), y[i] > 0
			}
			if ap := AveragePrecision(s, l); ap > best.ValAP {
				best = baselineResult{Depth: depth, LearningRate: lr, Trees: m.NumTrees(), ValAP: ap}
			}
		}
	}
	cfg := gbdt.DefaultConfig()
	cfg.Depth, cfg.LearningRate, cfg.EarlyStopping, cfg.MinLeaf = best.Depth, best.LearningRate, 0, baselineMinLeaf
	cfg.Trees = max(best.Trees*5/4, 1) // a quarter more rows, a few more rounds
	m, err := gbdt.TrainContext(ctx, X, y, nil, cfg)
	if err != nil {
		return best, err
	}
	s := make([]float64, len(Xte))
	l := make([]bool, len(Xte))
	for i := range Xte {
		s[i], l[i] = m.Predict(Xte[i]), test[i].Hit
	}
	best.AUC, best.AP = AUC(s, l), AveragePrecision(s, l)
	best.P10, _ = PrecisionRecallAt(s, l, 0.10)
	return best, nil
}
