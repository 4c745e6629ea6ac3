package targeting

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"time"

	"gonum.org/v1/gonum/optimize"

	"github.com/portguard/portguard/ingest"
)

// Labelled is one training example: a declaration, what inspection found, and the propensity
// with which it was inspected (1 when every label is known, as in evaluate).
type Labelled struct {
	Decl       *ingest.Declaration
	Hit        bool
	Revenue    float64
	Propensity float64
	At         time.Time // when it was decided; examples are used in this order
}

// FitReport describes the model the last Fit produced.
type FitReport struct {
	ModelVersion string             `json:"model_version"`
	Kind         string             `json:"kind"`
	Examples     int                `json:"examples"`
	Rows         int                `json:"rows"` // examples the combiner trained on (all hits, sampled misses)
	Validation   int                `json:"validation"`
	Candidates   []CandidateMetrics `json:"candidates"`
}

// CandidateMetrics are a candidate combiner's figures on the time-ordered validation split.
type CandidateMetrics struct {
	Kind      string  `json:"kind"`
	AUC       float64 `json:"auc"`
	AP        float64 `json:"average_precision"`   // the selection criterion
	Precision float64 `json:"precision_at_target"` // among the top TargetInspectRate by score
	Chosen    bool    `json:"chosen"`
}

// ErrTooFewExamples is returned by Fit when there is not enough to learn from.
var ErrTooFewExamples = errors.New("targeting: too few labelled examples to fit")

// trainer trains one kind of combiner on encoded rows.
type trainer struct {
	kind  string
	train func(ctx context.Context, cfg *Config, X [][]float64, y, w []float64) (Combiner, error)
}

// challengers are combiners tried against the logistic champion; gbdt.go registers itself.
var challengers []trainer

// Fit rebuilds the engine's models from labelled history: risk profiles and unit-value norms
// from all examples, a combiner trained on out-of-fold profile encodings (each example encoded
// without its own fold's labels, so that target leakage does not teach the combiner to trust
// profiles more than they deserve), weighted by tempered inverse propensity. With Combiner
// "auto" every registered challenger is trained too and the one with the best precision at the
// target inspection rate on the most recent ValidationShare of examples wins, then is retrained
// on everything. The new state is swapped in atomically: concurrent Decide calls see either the
// old or the new model, never a mix. Capacity controllers are re-primed with the new model's
// scores so that the inspection share does not jump.
func (e *Engine) Fit(ctx context.Context, examples []Labelled) error {
	_, err := e.FitReport(ctx, examples)
	return err
}

// FitReport is Fit returning what it measured.
func (e *Engine) FitReport(ctx context.Context, examples []Labelled) (FitReport, error) {
	c, err := e.Train(ctx, examples)
	if err != nil {
		return c.report(), err
	}
	e.install(c, true)
	return c.Report, nil
}

// Train fits a model on labelled history exactly as Fit does — risk profiles rebuilt from the
// examples for out-of-fold encoding, champion/challenger selection, the winner retrained on
// everything — but installs nothing: the Candidate is for Shadow or Install.
func (e *Engine) Train(ctx context.Context, examples []Labelled) (*Candidate, error) {
	ex := make([]Labelled, 0, len(examples))
	for _, x := range examples {
		if x.Decl != nil {
			ex = append(ex, x)
		}
	}
	if len(ex) < 50 {
		return nil, fmt.Errorf("%w: %d (need 50)", ErrTooFewExamples, len(ex))
	}
	sort.SliceStable(ex, func(i, j int) bool { return ex[i].At.Before(ex[j].At) })
	cfg := &e.cfg
	m := &model{}
	m.attrs, m.measures = pickColumns(ex)
	width := m.width()

	// Profiles: the full set and one per fold.
	K := cfg.Folds
	full := newProfiles(cfg.HalfLife.Seconds())
	folds := make([]*profiles, K)
	for i := range folds {
		folds[i] = newProfiles(cfg.HalfLife.Seconds())
		folds[i].seed = full.seed // the out-of-fold view subtracts sums of the same keys
	}
	nm := newNorms()
	foldOf := make([]int, len(ex))
	var keys []pkey
	for i := range ex {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d := ex[i].Decl
		h := fnv.New32a()
		h.Write([]byte(d.Number))
		foldOf[i] = int(h.Sum32() % uint32(K))
		keys = labelKeys(d, keys[:0])
		at, w := ex[i].At.Unix(), e.ipw(ex[i].Propensity)
		for _, k := range keys {
			hk := hashKey(full.seed, k)
			full.addHash(hk, at, w, ex[i].Hit)
			folds[foldOf[i]].addHash(hk, at, w, ex[i].Hit)
		}
		for j := range d.Items {
			it := &d.Items[j]
			if lg, ok := unitValueLog(it.ValueBase, it.NetWeightKg); ok {
				nm.observeItem(it.HSCode, it.OriginCountry, lg)
			}
		}
	}
	nowU := ex[len(ex)-1].At.Unix()

	// The combiner trains on every hit and a keyed sample of the misses, each kept miss
	// weighing 1/q: misses are most of the labels (all of them where history is fully
	// labelled), and beyond a few per hit they add training time, not ranking quality.
	// Profiles and norms above learnt from every example.
	rows := sampleMisses(ex, cfg.NegativeRatio, cfg.RandomKey, e.ipw)

	// Out-of-fold input rows of every example: the combiner trains on the kept ones, the
	// controllers are primed with all the recent ones (sampled misses would make the
	// thresholds noisy).
	N := len(ex)
	XA := make([][]float64, N)
	sevA := make([]float64, N)
	valA := make([]float64, N)
	hs2A := make([]string, N)
	flat := make([]float64, N*width)
	sc := new(scratch)
	for i := range ex {
		if i%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		d := ex[i].Decl
		ec := e.encode(oofView{full: full, fold: folds[foldOf[i]]}, nm, false, d, importerOf(d).Key(), counterpartOf(d).Key(), nowU, m, sc)
		XA[i] = flat[i*width : (i+1)*width : (i+1)*width]
		copy(XA[i], sc.x[:width])
		sevA[i], valA[i], hs2A[i] = ec.sev, ec.totalValue, ec.hs2
	}
	n := len(rows)
	X := make([][]float64, n)
	y := make([]float64, n)
	w := make([]float64, n)
	for r, kr := range rows {
		X[r] = XA[kr.i]
		if ex[kr.i].Hit {
			y[r] = 1
		}
		w[r] = e.ipw(ex[kr.i].Propensity) * kr.scale
	}

	// Champion and challengers on a time-ordered split.
	cands := []trainer{{kind: CombinerLogistic, train: func(ctx context.Context, cfg *Config, X [][]float64, y, w []float64) (Combiner, error) {
		return trainLogistic(ctx, X, y, w, cfg.L2)
	}}}
	switch cfg.Combiner {
	case CombinerAuto:
		cands = append(cands, challengers...)
	case CombinerGBDT:
		if len(challengers) > 0 {
			cands = challengers
		}
	}
	rep := FitReport{Examples: len(ex), Rows: n}
	best := 0
	if len(cands) > 1 {
		// Honest selection: each candidate learns from the older rows and is judged on the
		// most recent ones, weighted as the training rows are, by average precision (the
		// ranking quality of the top, more stable than the precision at one cut).
		cut := int(float64(n) * (1 - cfg.ValidationShare))
		rep.Validation = n - cut
		bestAP, bestP := -1.0, -1.0
		for ci, c := range cands {
			comb, err := c.train(ctx, cfg, X[:cut], y[:cut], w[:cut])
			if err != nil {
				return &Candidate{Report: rep}, fmt.Errorf("targeting: fit %s: %w", c.kind, err)
			}
			scores := make([]float64, n-cut)
			for i := cut; i < n; i++ {
				scores[i-cut] = comb.Predict(X[i])
			}
			cm := CandidateMetrics{Kind: c.kind, AUC: auc(scores, y[cut:]), AP: averagePrecision(scores, y[cut:], w[cut:]),
				Precision: weightedPrecisionAt(scores, y[cut:], w[cut:], cfg.TargetInspectRate)}
			rep.Candidates = append(rep.Candidates, cm)
			if cm.AP > bestAP+1e-9 || (math.Abs(cm.AP-bestAP) <= 1e-9 && cm.Precision > bestP) {
				best, bestAP, bestP = ci, cm.AP, cm.Precision
			}
		}
		rep.Candidates[best].Chosen = true
	}
	comb, err := cands[best].train(ctx, cfg, X, y, w)
	if err != nil {
		return &Candidate{Report: rep}, fmt.Errorf("targeting: fit %s: %w", cands[best].kind, err)
	}
	m.comb = comb
	m.version = e.nextVersion(comb.Kind())
	rep.ModelVersion, rep.Kind = m.version, comb.Kind()

	m.revAll, m.revRate = revenueRates(ex, e.ipw)

	// The controllers will be primed with honest (out-of-fold) scores of the most recent
	// examples of each port, each standing for the 1/propensity decisions it was drawn from,
	// until they stand for 4 controller half-lives of decisions.
	byPort := map[string]*primer{}
	for i := N - 1; i >= 0; i-- {
		port := ex[i].Decl.Port
		pr := byPort[port]
		if pr == nil {
			pr = &primer{}
			byPort[port] = pr
		}
		if pr.n >= float64(4*cfg.ControllerHalfLife) {
			continue
		}
		s := objective(cfg, m, comb.Predict(XA[i]), sevA[i], valA[i], hs2A[i])
		u := RandomDraw(cfg.RandomKey, saltRandom, ex[i].Decl.Number) * (1 << 20)
		pw := 1 / max(ex[i].Propensity, cfg.MinPropensity)
		if !(ex[i].Propensity > 0) || ex[i].Propensity > 1 {
			pw = 1
		}
		pr.scores = append(pr.scores, tieBreak(s, u-math.Floor(u)))
		pr.weights = append(pr.weights, pw)
		pr.times = append(pr.times, ex[i].At.Unix())
		pr.n += pw
	}
	for _, pr := range byPort {
		slices.Reverse(pr.scores) // oldest first, as they happened
		slices.Reverse(pr.weights)
		slices.Reverse(pr.times)
	}
	return &Candidate{Report: rep, m: m, prof: full, norms: nm, primers: byPort, now: nowU, examples: len(examples)}, nil
}

// keptRow is an example the combiner trains on, with the factor its weight is scaled by.
type keptRow struct {
	i     int
	scale float64
}

// sampleMisses keeps every hit and each miss with probability q (drawn with the keyed hash of
// its number, so a refit keeps the same ones), q chosen so that the kept misses weigh about
// ratio times the hits; kept misses are scaled by 1/q. Ratio 0 keeps everything.
func sampleMisses(ex []Labelled, ratio float64, key []byte, ipw func(float64) float64) []keptRow {
	var hits, misses float64
	for i := range ex {
		if ex[i].Hit {
			hits += ipw(ex[i].Propensity)
		} else {
			misses += ipw(ex[i].Propensity)
		}
	}
	q := 1.0
	if ratio > 0 && hits > 0 && misses > ratio*hits {
		q = ratio * hits / misses
	}
	rows := make([]keptRow, 0, int(hits+q*misses)+len(ex)/64+1)
	for i := range ex {
		switch {
		case ex[i].Hit || q == 1:
			rows = append(rows, keptRow{i: i, scale: 1})
		case RandomDraw(key, saltNegatives, ex[i].Decl.Number) < q:
			rows = append(rows, keptRow{i: i, scale: 1 / q})
		}
	}
	return rows
}

// saltNegatives keys the draw that samples misses for training, apart from every decision draw.
const saltNegatives = "fit.negatives"

// pickColumns chooses the extra attributes and measures that get their own combiner slot: the
// most frequent, up to the slot limits, in a stable order.
func pickColumns(ex []Labelled) (attrs, measures []string) {
	ac, mc := map[string]int{}, map[string]int{}
	for i := range ex {
		for k := range ex[i].Decl.Attributes {
			ac[k]++
		}
		for k := range ex[i].Decl.Measures {
			mc[k]++
		}
	}
	top := func(c map[string]int, n int) []string {
		var s []string
		for k := range c {
			s = append(s, k)
		}
		slices.SortFunc(s, func(a, b string) int {
			if c[a] != c[b] {
				return c[b] - c[a]
			}
			if a < b {
				return -1
			}
			return 1
		})
		if len(s) > n {
			s = s[:n]
		}
		slices.Sort(s)
		return s
	}
	return top(ac, maxAttrSlots), top(mc, maxMeasureSlots)
}

// labelKeys lists the profile keys a label for d updates: the same values Decide lists as the
// decision's Features, plus the overall rate.
func labelKeys(d *ingest.Declaration, out []pkey) []pkey {
	imp, cp := importerOf(d).Key(), counterpartOf(d).Key()
	out = append(out, pkey{k: kAll})
	add := func(k kind, a, b string) {
		if a != "" {
			out = append(out, pkey{k: k, a: a, b: b})
		}
	}
	add(kImporter, imp, "")
	add(kConsignor, cp, "")
	add(kDeclarant, d.Declarant, "")
	add(kDeparture, d.DepartureCountry, "")
	add(kPort, d.Port, "")
	add(kTradeMode, d.TradeMode, "")
	add(kTransport, d.TransportMode, "")
	if d.Declarant != "" && imp != "" {
		add(kDeclarantImporter, d.Declarant, imp)
	}
	for i := range d.Items {
		it := &d.Items[i]
		dup := false
		for j := 0; j < i; j++ {
			if prefix(d.Items[j].HSCode, 6) == prefix(it.HSCode, 6) && d.Items[j].OriginCountry == it.OriginCountry {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		hs4, hs6 := prefix(it.HSCode, 4), prefix(it.HSCode, 6)
		add(kHS2, prefix(it.HSCode, 2), "")
		add(kHS4, hs4, "")
		add(kHS6, hs6, "")
		add(kOrigin, it.OriginCountry, "")
		if imp != "" && hs4 != "" {
			add(kImporterHS4, imp, hs4)
		}
		if hs6 != "" && it.OriginCountry != "" {
			add(kHS6Origin, hs6, it.OriginCountry)
		}
	}
	for name, v := range d.Attributes {
		if v != "" {
			out = append(out, pkey{k: kAttr, a: name, b: v})
		}
	}
	return out
}

// trainLogistic fits a ridge-regularized logistic regression by L-BFGS (gonum optimize) on
// standardized inputs, minimizing the weighted mean log-loss plus l2/2·|w|².
func trainLogistic(ctx context.Context, X [][]float64, y, w []float64, l2 float64) (*Logistic, error) {
	n := len(X)
	if n == 0 {
		return nil, ErrTooFewExamples
	}
	d := len(X[0])
	mean, scale := make([]float64, d), make([]float64, d)
	var sw float64
	for i := range X {
		sw += w[i]
		for j, v := range X[i] {
			mean[j] += w[i] * v
		}
	}
	for j := range mean {
		mean[j] /= sw
	}
	for i := range X {
		for j, v := range X[i] {
			scale[j] += w[i] * (v - mean[j]) * (v - mean[j])
		}
	}
	for j := range scale {
		scale[j] = math.Sqrt(scale[j] / sw)
		if scale[j] < 1e-9 {
			scale[j] = 1 // a constant column: its weight is then driven to 0 by the penalty
		}
	}
	Z := make([]float64, n*d)
	for i := range X {
		for j, v := range X[i] {
			Z[i*d+j] = (v - mean[j]) / scale[j]
		}
	}
	var py float64
	for i := range y {
		py += w[i] * y[i]
	}
	py /= sw
	p := optimize.Problem{
		Func: func(b []float64) float64 {
			f, _ := logLoss(b, nil, Z, y, w, sw, d, l2)
			return f
		},
		Grad: func(g, b []float64) {
			logLoss(b, g, Z, y, w, sw, d, l2)
		},
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	init := make([]float64, d+1)
	init[d] = logit(py)
	res, err := optimize.Minimize(p, init, &optimize.Settings{MajorIterations: 300, GradientThreshold: 1e-7}, &optimize.LBFGS{})
	if err != nil && res == nil {
		return nil, fmt.Errorf("optimize: %w", err)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return &Logistic{Bias: res.X[d], Weights: slices.Clone(res.X[:d]), Mean: mean, Scale: scale}, nil
}

// logLoss evaluates the objective at b (weights then bias) and, when g is non-nil, its gradient.
func logLoss(b, g []float64, Z, y, w []float64, sw float64, d int, l2 float64) (float64, []float64) {
	if g != nil {
		clear(g)
	}
	var f float64
	n := len(y)
	for i := 0; i < n; i++ {
		z := b[d]
		row := Z[i*d : (i+1)*d]
		for j, v := range row {
			z += b[j] * v
		}
		// log(1+e^z) − y·z, computed stably.
		var lse float64
		if z > 0 {
			lse = z + math.Log1p(math.Exp(-z))
		} else {
			lse = math.Log1p(math.Exp(z))
		}
		f += w[i] * (lse - y[i]*z)
		if g != nil {
			r := w[i] * (sigmoid(z) - y[i])
			for j, v := range row {
				g[j] += r * v
			}
			g[d] += r
		}
	}
	f /= sw
	for j := 0; j < d; j++ {
		f += 0.5 * l2 * b[j] * b[j]
	}
	if g != nil {
		for j := range g {
			g[j] /= sw
		}
		for j := 0; j < d; j++ {
			g[j] += l2 * b[j]
		}
	}
	return f, g
}

// auc is the area under the ROC curve (ties counted half).
func auc(scores, y []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks are 1-based
		for k := i; k < j; k++ {
			if y[idx[k]] > 0 {
				pos++
				rankSum += avg
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// averagePrecision is the weighted average precision of scores: the mean, over hits in
// descending score order, of the weighted precision above and at each.
func averagePrecision(scores, y, w []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var tp, all, sum, pos float64
	for _, i := range idx {
		all += w[i]
		if y[i] > 0 {
			tp += w[i]
			sum += w[i] * tp / all
			pos += w[i]
		}
	}
	if pos == 0 {
		return 0
	}
	return sum / pos
}

// weightedPrecisionAt is the weighted hit rate among the top share (by weight) of scores.
func weightedPrecisionAt(scores, y, w []float64, share float64) float64 {
	idx := make([]int, len(scores))
	var total float64
	for i := range idx {
		idx[i] = i
		total += w[i]
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var hits, taken float64
	for _, i := range idx {
		if taken >= share*total {
			break
		}
		taken += w[i]
		hits += w[i] * y[i]
	}
	if taken == 0 {
		return 0
	}
	return hits / taken
}

// precisionAt is the hit rate among the top share of scores.
func precisionAt(scores, y []float64, share float64) float64 {
	n := int(math.Ceil(float64(len(scores)) * share))
	if n == 0 {
		return 0
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var hits float64
	for _, i := range idx[:n] {
		hits += y[i]
	}
	return hits / float64(n)
}
