package gbdt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
)

// Train fits a model to rows X (each of the same length; NaN marks a missing value), labels y
// in [0, 1] and per-sample weights w (nil means 1 each; weights must be finite and ≥ 0). When
// cfg.EarlyStopping > 0 the last cfg.ValidationFraction of the rows, in the given order, is
// held out and the model keeps the round with the lowest weighted validation log loss.
func Train(X [][]float64, y, w []float64, cfg Config) (*Model, error) {
	return TrainContext(context.Background(), X, y, w, cfg)
}

// TrainContext is Train that stops with ctx's error when ctx is cancelled between rounds.
func TrainContext(ctx context.Context, X [][]float64, y, w []float64, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkData(X, y, w); err != nil {
		return nil, err
	}
	n, p := len(X), len(X[0])
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	var valid []int
	if cfg.EarlyStopping > 0 {
		nv := int(float64(n) * cfg.ValidationFraction)
		if nv >= 1 && n-nv >= 2*cfg.MinLeaf {
			rows, valid = rows[:n-nv], rows[n-nv:]
		}
	}
	cuts := make([][]float64, p)
	for f := range cuts {
		cuts[f] = cutPoints(X, rows, f, cfg.Bins)
	}
	t := newTrainer(cfg, X, y, w, rows, cuts)
	var vb *binned
	var vy, vw, vF []float64
	if len(valid) > 0 {
		vb = binMatrix(X, valid, cuts)
		vy, vw = make([]float64, len(valid)), make([]float64, len(valid))
		for i, r := range valid {
			vy[i], vw[i] = y[r], weight(w, r)
		}
		vF = make([]float64, len(valid))
		for i := range vF {
			vF[i] = t.base
		}
	}

	m := &Model{p: p, base: t.base}
	best, bestTrees := math.Inf(1), 0
	if vb != nil {
		best = logLoss(vF, vy, vw)
		m.history = append(m.history, best)
	}
	for round := 0; round < cfg.Trees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("gbdt: training stopped after %d rounds: %w", round, err)
		}
		tr := t.grow()
		m.roots = append(m.roots, int32(len(m.nodes)))
		m.nodes = append(m.nodes, tr.nodes...)
		m.values = append(m.values, tr.values...)
		m.gains = append(m.gains, tr.gains...)
		// Child indices are relative to the tree: shift them to the model's array.
		off := m.roots[len(m.roots)-1]
		for i := int(off); i < len(m.nodes); i++ {
			if m.nodes[i].feat >= 0 {
				m.nodes[i].next += off
			}
		}
		t.apply(tr, t.bm, t.F, t.sampled)
		if vb == nil {
			continue
		}
		t.apply(tr, vb, vF, nil)
		loss := logLoss(vF, vy, vw)
		m.history = append(m.history, loss)
		if loss < best-1e-12 {
			best, bestTrees = loss, round+1
		} else if round+1-bestTrees >= cfg.EarlyStopping {
			break
		}
	}
	if vb != nil && bestTrees < len(m.roots) {
		m.truncate(bestTrees)
	}
	m.compile()
	return m, nil
}

func checkData(X [][]float64, y, w []float64) error {
	if len(X) == 0 {
		return ErrNoData
	}
	p := len(X[0])
	if p == 0 || p > 1<<30 {
		return fmt.Errorf("%w: %d features", ErrBadShape, p)
	}
	if len(y) != len(X) || (w != nil && len(w) != len(X)) {
		return fmt.Errorf("%w: %d rows, %d labels, %d weights", ErrBadShape, len(X), len(y), len(w))
	}
	for i, x := range X {
		if len(x) != p {
			return fmt.Errorf("%w: row %d has %d features, row 0 has %d", ErrBadShape, i, len(x), p)
		}
		if !(y[i] >= 0 && y[i] <= 1) {
			return fmt.Errorf("%w: row %d has %v", ErrBadLabel, i, y[i])
		}
		if w != nil && !(w[i] >= 0 && !math.IsInf(w[i], 1)) {
			return fmt.Errorf("gbdt: row %d has weight %v; weights must be finite and ≥ 0", i, w[i])
		}
	}
	return nil
}

func weight(w []float64, i int) float64 {
	if w == nil {
		return 1
	}
	return w[i]
}

// logLoss is the weighted mean log loss of raw scores F (unweighted when all weights are 0).
func logLoss(F, y, w []float64) float64 {
	var s, sw float64
	for i := range F {
		l := softplus(F[i]) - y[i]*F[i] // −y log σ(F) − (1−y) log(1−σ(F))
		s += w[i] * l
		sw += w[i]
	}
	if sw == 0 {
		for i := range F {
			s += softplus(F[i]) - y[i]*F[i]
		}
		return s / float64(len(F))
	}
	return s / sw
}

func softplus(x float64) float64 {
	if x > 30 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// histBin accumulates the gradient, hessian and count of one bin.
type histBin struct {
	g, h float64
	n    int32
}

// trainer holds the state of one training run over the binned training rows.
type trainer struct {
	cfg   Config
	bm    *binned
	nbins []int // value bins per feature: len(cuts)+1
	y, w  []float64
	F     []float64
	g, h  []float64
	idx   []int32 // sampled rows, partitioned so that each node owns a contiguous range
	tmp   []int32
	feats []int
	rng   *rand.Rand
	base  float64
	free  [][]histBin
	part  [][]histBin // per-worker histograms of a parallel build
	// sampled marks the rows of the current tree's sample: grow adds the leaf values to their
	// scores, apply routes only the others.
	sampled []bool
}

func newTrainer(cfg Config, X [][]float64, y, w []float64, rows []int, cuts [][]float64) *trainer {
	n := len(rows)
	t := &trainer{
		cfg: cfg, bm: binMatrix(X, rows, cuts),
		y: make([]float64, n), w: make([]float64, n), F: make([]float64, n),
		g: make([]float64, n), h: make([]float64, n),
		idx: make([]int32, 0, n), tmp: make([]int32, n), sampled: make([]bool, n),
		rng: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6bd7)),
	}
	for f := range cuts {
		t.nbins = append(t.nbins, len(cuts[f])+1)
	}
	var sy, sw float64
	for i, r := range rows {
		t.y[i], t.w[i] = y[r], weight(w, r)
		sy += t.w[i] * t.y[i]
		sw += t.w[i]
	}
	prior := 0.5
	if sw > 0 {
		prior = math.Min(math.Max(sy/sw, 1e-6), 1-1e-6)
	}
	t.base = math.Log(prior / (1 - prior))
	for i := range t.F {
		t.F[i] = t.base
	}
	return t
}

// tree is one grown tree with child indices relative to its first node, and the bin of each
// split for applying it to binned rows.
type tree struct {
	nodes  []node
	values []float64
	gains  []float64
	split  []uint8
}

// growNode is a node being grown: its rows idx[lo:hi], totals and histogram.
type growNode struct {
	id     int
	lo, hi int
	G, H   float64
	hist   []histBin
}

type splitInfo struct {
	gain     float64
	feat     int
	bin      int
	missLeft bool
	GL, HL   float64
	NL       int
}

func (t *trainer) hist() []histBin {
	if k := len(t.free); k > 0 {
		h := t.free[k-1]
		t.free = t.free[:k-1]
		return h
	}
	return make([]histBin, t.bm.p<<8)
}

func (t *trainer) release(h []histBin) {
	if h != nil {
		t.free = append(t.free, h)
	}
}

// grow fits one tree to the current gradients.
func (t *trainer) grow() tree {
	cfg := t.cfg
	// Gradients and hessians of the weighted logistic loss.
	for i, F := range t.F {
		p := sigmoid(F)
		t.g[i] = t.w[i] * (p - t.y[i])
		t.h[i] = t.w[i] * math.Max(p*(1-p), 1e-16)
	}
	// Rows and features this tree sees.
	t.idx = t.idx[:0]
	for i := range t.F {
		in := cfg.Subsample >= 1 || t.rng.Float64() < cfg.Subsample
		t.sampled[i] = in
		if in {
			t.idx = append(t.idx, int32(i))
		}
	}
	if len(t.idx) < 2*cfg.MinLeaf {
		t.idx = t.idx[:0]
		for i := range t.F {
			t.sampled[i] = true
			t.idx = append(t.idx, int32(i))
		}
	}
	p := t.bm.p
	perm := make([]int, p)
	for i := range perm {
		perm[i] = i
	}
	k := max(1, int(math.Round(cfg.ColSample*float64(p))))
	for i := 0; i < k; i++ {
		j := i + t.rng.IntN(p-i)
		perm[i], perm[j] = perm[j], perm[i]
	}
	t.feats = append(t.feats[:0], perm[:k]...)
	slices.Sort(t.feats)

	var tr tree
	newNode := func() int {
		tr.nodes = append(tr.nodes, node{feat: -1})
		tr.values = append(tr.values, 0)
		tr.gains = append(tr.gains, 0)
		tr.split = append(tr.split, 0)
		return len(tr.nodes) - 1
	}
	root := &growNode{id: newNode(), lo: 0, hi: len(t.idx), hist: t.hist()}
	t.build(root)
	for _, f := range t.feats[:1] {
		for _, b := range root.hist[f<<8 : f<<8+256] {
			root.G += b.g
			root.H += b.h
		}
	}
	level := []*growNode{root}
	for depth := 0; len(level) > 0; depth++ {
		var next []*growNode
		for _, nd := range level {
			value := -nd.G / (nd.H + cfg.L2) * cfg.LearningRate
			tr.values[nd.id] = value
			tr.nodes[nd.id].thr = value
			var s splitInfo
			if depth < cfg.Depth {
				s = t.best(nd)
			}
			if s.gain <= cfg.MinGain || s.gain <= 0 {
				t.release(nd.hist)
				// A leaf: its rows' scores move now; rows outside the sample are routed later.
				for _, r := range t.idx[nd.lo:nd.hi] {
					t.F[r] += value
				}
				continue
			}
			l, r := newNode(), newNode()
			cuts := t.bm.cuts[s.feat]
			feat := int32(s.feat)
			if s.missLeft {
				feat |= missLeftBit
			}
			tr.nodes[nd.id] = node{thr: cuts[s.bin], feat: feat, next: int32(l)}
			tr.gains[nd.id] = s.gain
			tr.split[nd.id] = uint8(s.bin)
			mid := t.partition(nd.lo, nd.hi, s)
			left := &growNode{id: l, lo: nd.lo, hi: mid, G: s.GL, H: s.HL}
			right := &growNode{id: r, lo: mid, hi: nd.hi, G: nd.G - s.GL, H: nd.H - s.HL}
			if depth+1 < cfg.Depth {
				// Build the smaller child's histogram; the larger one is the parent minus it.
				small, large := left, right
				if small.hi-small.lo > large.hi-large.lo {
					small, large = large, small
				}
				small.hist = t.hist()
				t.build(small)
				large.hist = nd.hist
				for _, f := range t.feats {
					a, b := large.hist[f<<8:f<<8+256], small.hist[f<<8:f<<8+256]
					for i := range a {
						a[i].g -= b[i].g
						a[i].h -= b[i].h
						a[i].n -= b[i].n
					}
				}
			} else {
				t.release(nd.hist)
			}
			next = append(next, left, right)
		}
		level = next
	}
	return tr
}

// build fills nd.hist from its rows, for the features of this tree. Large nodes are split
// into equal row ranges summed by Workers goroutines into their own histograms, then merged:
// the result depends on Workers (summation order) but never on scheduling.
func (t *trainer) build(nd *growNode) {
	rows := t.idx[nd.lo:nd.hi]
	w := t.cfg.Workers
	if w <= 1 || len(rows) < parallelRows {
		t.accumulate(nd.hist, rows)
		return
	}
	if len(t.part) < w-1 {
		for len(t.part) < w-1 {
			t.part = append(t.part, make([]histBin, t.bm.p<<8))
		}
	}
	chunk := (len(rows) + w - 1) / w
	var wg sync.WaitGroup
	for k := 1; k < w; k++ {
		lo, hi := min(len(rows), k*chunk), min(len(rows), (k+1)*chunk)
		wg.Add(1)
		go func(h []histBin, rows []int32) {
			defer wg.Done()
			t.accumulate(h, rows)
		}(t.part[k-1], rows[lo:hi])
	}
	t.accumulate(nd.hist, rows[:min(len(rows), chunk)])
	wg.Wait()
	for k := 1; k < w; k++ {
		part := t.part[k-1]
		for _, f := range t.feats {
			a, b := nd.hist[f<<8:f<<8+256], part[f<<8:f<<8+256]
			for i := range a {
				a[i].g += b[i].g
				a[i].h += b[i].h
				a[i].n += b[i].n
			}
		}
	}
}

// parallelRows is the node size from which histogram building is split across workers.
const parallelRows = 20000

// accumulate zeroes h for this tree's features and adds rows into it.
func (t *trainer) accumulate(h []histBin, rows []int32) {
	for _, f := range t.feats {
		clear(h[f<<8 : f<<8+256])
	}
	p := t.bm.p
	bins := t.bm.bins
	feats := t.feats
	g, hs := t.g, t.h
	for _, r := range rows {
		gr, hr := g[r], hs[r]
		row := bins[int(r)*p : int(r)*p+p]
		for _, f := range feats {
			b := &h[f<<8|int(row[f])]
			b.g += gr
			b.h += hr
			b.n++
		}
	}
}

// best finds the split of nd with the largest gain, trying missing values on either side.
func (t *trainer) best(nd *growNode) splitInfo {
	cfg := t.cfg
	lambda := cfg.L2
	n := nd.hi - nd.lo
	minLeaf := cfg.MinLeaf
	parent := nd.G * nd.G / (nd.H + lambda)
	const minHess = 1e-12
	var best splitInfo
	for _, f := range t.feats {
		nb := t.nbins[f]
		if nb < 2 {
			continue
		}
		h := nd.hist[f<<8 : f<<8+256]
		miss := h[missingBin]
		var GL, HL float64
		NL := 0
		for b := 0; b < nb-1; b++ {
			if h[b].n == 0 {
				continue
			}
			GL += h[b].g
			HL += h[b].h
			NL += int(h[b].n)
			// Missing values go right.
			if NR := n - NL; NL >= minLeaf && NR >= minLeaf {
				GR, HR := nd.G-GL, nd.H-HL
				if HL > minHess && HR > minHess {
					gain := GL*GL/(HL+lambda) + GR*GR/(HR+lambda) - parent
					if gain > best.gain {
						// Without missing values here, send future ones to the heavier side.
						ml := miss.n == 0 && HL > HR
						best = splitInfo{gain: gain, feat: f, bin: b, missLeft: ml, GL: GL, HL: HL, NL: NL}
					}
				}
			}
			// Missing values go left.
			if miss.n > 0 {
				GLm, HLm, NLm := GL+miss.g, HL+miss.h, NL+int(miss.n)
				if NR := n - NLm; NLm >= minLeaf && NR >= minLeaf {
					GR, HR := nd.G-GLm, nd.H-HLm
					if HLm > minHess && HR > minHess {
						gain := GLm*GLm/(HLm+lambda) + GR*GR/(HR+lambda) - parent
						if gain > best.gain {
							best = splitInfo{gain: gain, feat: f, bin: b, missLeft: true, GL: GLm, HL: HLm, NL: NLm}
						}
					}
				}
			}
		}
	}
	return best
}

// partition reorders idx[lo:hi] stably into the rows going left, then right, and returns the
// boundary.
func (t *trainer) partition(lo, hi int, s splitInfo) int {
	p := t.bm.p
	bins := t.bm.bins
	f := s.feat
	bin := uint8(s.bin)
	w, nr := lo, 0
	for _, r := range t.idx[lo:hi] {
		b := bins[int(r)*p+f]
		if b <= bin || (b == missingBin && s.missLeft) {
			t.idx[w] = r
			w++
		} else {
			t.tmp[nr] = r
			nr++
		}
	}
	copy(t.idx[w:hi], t.tmp[:nr])
	return w
}

// apply adds the tree's output to the raw scores F of binned rows, skipping those marked in
// skip (already updated while growing).
func (t *trainer) apply(tr tree, bm *binned, F []float64, skip []bool) {
	p := bm.p
	for i := range F {
		if skip != nil && skip[i] {
			continue
		}
		row := bm.bins[i*p : i*p+p]
		j := 0
		for {
			nd := &tr.nodes[j]
			if nd.feat < 0 {
				F[i] += nd.thr
				break
			}
			b := row[nd.feat&featMask]
			if b <= tr.split[j] || (b == missingBin && nd.feat&missLeftBit != 0) {
				j = int(nd.next)
			} else {
				j = int(nd.next) + 1
			}
		}
	}
}
