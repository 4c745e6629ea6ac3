package gbdt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// node is one tree node in the model's flat array. An internal node tests x[feat&featMask] ≤
// thr and continues at next (true) or next+1 (false); NaN goes to next when the missLeftBit is
// set. A leaf has feat −1 and its output in thr. Sixteen bytes, so a tree of depth 6 fits in a
// few cache lines.
type node struct {
	thr  float64
	feat int32
	next int32
}

const (
	missLeftBit = 1 << 30
	featMask    = missLeftBit - 1
)

// Model is a trained ensemble. It is immutable and safe for concurrent use.
type Model struct {
	p       int
	base    float64   // raw score before any tree: the log-odds of the weighted base rate
	roots   []int32   // first node of each tree
	nodes   []node    // all trees, each in breadth-first order
	values  []float64 // per node: its Newton value (leaves: the output); for Contributions
	gains   []float64 // per internal node: the loss reduction of its split
	history []float64 // validation log loss after 0, 1, 2 … rounds (empty without early stopping)

	// The scoring layout: every tree padded to a complete tree of depth flatD, so that Predict
	// walks it without data-dependent branches (padding nodes send everything left). Built by
	// compile when the trees are at most maxFlatDepth deep.
	flat     bool
	flatD    int
	flatIn   []flatNode
	flatLeaf []float64
}

// flatNode is an internal node of the complete layout: go right when x > thr, or when x is NaN
// and nanRight is 1.
type flatNode struct {
	thr      float64
	feat     uint32
	nanRight uint32
}

const maxFlatDepth = 8

// compile builds the complete-tree scoring layout.
func (m *Model) compile() {
	m.flat, m.flatD, m.flatIn, m.flatLeaf = false, 0, nil, nil
	depth := 0
	for _, r := range m.roots {
		depth = max(depth, m.depthOf(r))
	}
	if depth > maxFlatDepth {
		return
	}
	ni, nl := 1<<depth-1, 1<<depth
	m.flat, m.flatD = true, depth
	m.flatIn = make([]flatNode, ni*len(m.roots))
	m.flatLeaf = make([]float64, nl*len(m.roots))
	for t, r := range m.roots {
		m.fill(m.flatIn[t*ni:(t+1)*ni], m.flatLeaf[t*nl:(t+1)*nl], r, 0, 0, depth)
	}
}

func (m *Model) depthOf(i int32) int {
	n := m.nodes[i]
	if n.feat < 0 {
		return 0
	}
	return 1 + max(m.depthOf(n.next), m.depthOf(n.next+1))
}

func (m *Model) fill(in []flatNode, leaves []float64, j int32, k, d, depth int) {
	n := m.nodes[j]
	if d == depth {
		leaves[k-len(in)] = n.thr // a leaf: its output
		return
	}
	if n.feat < 0 {
		// A leaf above the full depth: pad with nodes that send every value left.
		in[k] = flatNode{thr: math.Inf(1)}
		m.fill(in, leaves, j, 2*k+1, d+1, depth)
		m.fill(in, leaves, j, 2*k+2, d+1, depth)
		return
	}
	in[k] = flatNode{thr: n.thr, feat: uint32(n.feat & featMask), nanRight: uint32(1 - (n.feat&missLeftBit)>>30)}
	m.fill(in, leaves, n.next, 2*k+1, d+1, depth)
	m.fill(in, leaves, n.next+1, 2*k+2, d+1, depth)
}

// NumFeatures is the length of the input vectors the model takes.
func (m *Model) NumFeatures() int { return m.p }

// NumTrees is the number of trees kept (after early stopping).
func (m *Model) NumTrees() int { return len(m.roots) }

// ValidationLoss returns the weighted validation log loss after 0, 1, 2 … rounds, including the
// rounds after the best one that early stopping waited through; nil without early stopping.
func (m *Model) ValidationLoss() []float64 { return append([]float64(nil), m.history...) }

// Predict returns the probability of a hit for x, which must hold NumFeatures values (NaN for
// missing). It allocates nothing.
func (m *Model) Predict(x []float64) float64 { return sigmoid(m.PredictRaw(x)) }

// PredictRaw returns the log-odds of a hit for x.
func (m *Model) PredictRaw(x []float64) float64 {
	_ = x[m.p-1] // one bounds check up front
	if m.flat {
		return m.predictFlat(x)
	}
	return m.predictNodes(x)
}

// predictNodes walks the trees node by node (for trees too deep for the complete layout).
func (m *Model) predictNodes(x []float64) float64 {
	s := m.base
	nodes := m.nodes
	for _, r := range m.roots {
		i := r
		for {
			n := &nodes[i]
			if n.feat < 0 {
				s += n.thr
				break
			}
			v := x[n.feat&featMask]
			switch {
			case v <= n.thr:
				i = n.next
			case v != v && n.feat&missLeftBit != 0:
				i = n.next
			default:
				i = n.next + 1
			}
		}
	}
	return s
}

// predictFlat walks the complete-tree layout: one comparison pair per level and no branches on
// the data. Four trees are walked side by side because each level's load depends on the
// previous one: interleaving hides that latency.
func (m *Model) predictFlat(x []float64) float64 {
	d := m.flatD
	ni, nl := 1<<d-1, 1<<d
	in, leaves := m.flatIn, m.flatLeaf
	nt := len(m.roots)
	var s0, s1, s2, s3 float64
	t := 0
	for ; t+4 <= nt; t += 4 {
		a, b, c, e := in[t*ni:(t+1)*ni], in[(t+1)*ni:(t+2)*ni], in[(t+2)*ni:(t+3)*ni], in[(t+3)*ni:(t+4)*ni]
		ka, kb, kc, ke := 0, 0, 0, 0
		for l := 0; l < d; l++ {
			na, nb, nc, ne := &a[ka], &b[kb], &c[kc], &e[ke]
			va, vb, vc, ve := x[na.feat], x[nb.feat], x[nc.feat], x[ne.feat]
			ka = 2*ka + 1 + (b2i(va > na.thr) | b2i(va != va)&int(na.nanRight))
			kb = 2*kb + 1 + (b2i(vb > nb.thr) | b2i(vb != vb)&int(nb.nanRight))
			kc = 2*kc + 1 + (b2i(vc > nc.thr) | b2i(vc != vc)&int(nc.nanRight))
			ke = 2*ke + 1 + (b2i(ve > ne.thr) | b2i(ve != ve)&int(ne.nanRight))
		}
		s0 += leaves[t*nl+ka-ni]
		s1 += leaves[(t+1)*nl+kb-ni]
		s2 += leaves[(t+2)*nl+kc-ni]
		s3 += leaves[(t+3)*nl+ke-ni]
	}
	for ; t < nt; t++ {
		tree := in[t*ni : (t+1)*ni]
		k := 0
		for l := 0; l < d; l++ {
			n := &tree[k]
			v := x[n.feat]
			k = 2*k + 1 + (b2i(v > n.thr) | b2i(v != v)&int(n.nanRight))
		}
		s0 += leaves[t*nl+k-ni]
	}
	return m.base + ((s0 + s1) + (s2 + s3))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Bias is the log-odds of an average consignment: the base score plus every tree's root value.
// Bias() + Σ Contributions(x) = PredictRaw(x).
func (m *Model) Bias() float64 {
	s := m.base
	for _, r := range m.roots {
		s += m.values[r]
	}
	return s
}

// Contributions attributes PredictRaw(x) − Bias() to the features (Saabas path attribution):
// each split on the path of x credits its feature with the change of the node value from the
// node to the child x goes to. It returns dst resized to NumFeatures values and allocates only
// when dst is too small.
func (m *Model) Contributions(x []float64, dst []float64) []float64 {
	if cap(dst) < m.p {
		dst = make([]float64, m.p)
	}
	dst = dst[:m.p]
	clear(dst)
	_ = x[m.p-1]
	for _, r := range m.roots {
		i := r
		for {
			n := &m.nodes[i]
			if n.feat < 0 {
				break
			}
			f := n.feat & featMask
			v := x[f]
			next := n.next + 1
			if v <= n.thr || (v != v && n.feat&missLeftBit != 0) {
				next = n.next
			}
			dst[f] += m.values[next] - m.values[i]
			i = next
		}
	}
	return dst
}

// Importance returns each feature's total split gain (loss reduction) over the kept trees.
func (m *Model) Importance() []float64 {
	imp := make([]float64, m.p)
	for i, n := range m.nodes {
		if n.feat >= 0 {
			imp[n.feat&featMask] += m.gains[i]
		}
	}
	return imp
}

// truncate keeps the first k trees.
func (m *Model) truncate(k int) {
	if k >= len(m.roots) {
		return
	}
	end := len(m.nodes)
	if k < len(m.roots) {
		end = int(m.roots[k])
	}
	m.roots = m.roots[:k:k]
	m.nodes = m.nodes[:end:end]
	m.values = m.values[:end:end]
	m.gains = m.gains[:end:end]
	m.compile()
}

// Snapshot format, little endian: "PGBT", version uint32, features uint32, base float64,
// trees uint32, nodes uint32, history uint32, then the roots (int32 each), the nodes (thr
// float64, feat int32, next int32, value float64, gain float64) and the history (float64 each).
const (
	magic         = "PGBT"
	formatVersion = 1
	headerSize    = 4 + 4 + 4 + 8 + 4 + 4 + 4
	nodeSize      = 8 + 4 + 4 + 8 + 8
)

// ErrCorrupt is returned by UnmarshalBinary for data that is not a valid snapshot.
var ErrCorrupt = errors.New("gbdt: corrupt model snapshot")

// MarshalBinary encodes the model for a snapshot on disk.
func (m *Model) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, headerSize+4*len(m.roots)+nodeSize*len(m.nodes)+8*len(m.history))
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(m.p))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.base))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.roots)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.nodes)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m.history)))
	for _, r := range m.roots {
		b = binary.LittleEndian.AppendUint32(b, uint32(r))
	}
	for i, n := range m.nodes {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(n.thr))
		b = binary.LittleEndian.AppendUint32(b, uint32(n.feat))
		b = binary.LittleEndian.AppendUint32(b, uint32(n.next))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.values[i]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(m.gains[i]))
	}
	for _, h := range m.history {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(h))
	}
	return b, nil
}

// UnmarshalBinary decodes a snapshot written by MarshalBinary, checking that every tree is well
// formed (children after their parent and inside the array, features in range), so that a
// damaged file cannot make Predict loop or panic.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) < headerSize || string(b[:4]) != magic {
		return ErrCorrupt
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[4:]); v != formatVersion {
		return fmt.Errorf("%w: format version %d, want %d", ErrCorrupt, v, formatVersion)
	}
	p := int(le.Uint32(b[8:]))
	base := math.Float64frombits(le.Uint64(b[12:]))
	nt, nn, nh := int(le.Uint32(b[20:])), int(le.Uint32(b[24:])), int(le.Uint32(b[28:]))
	if p < 1 || p > featMask || nt > nn || uint64(len(b)) != uint64(headerSize)+4*uint64(nt)+nodeSize*uint64(nn)+8*uint64(nh) {
		return fmt.Errorf("%w: sizes do not match", ErrCorrupt)
	}
	out := Model{p: p, base: base, roots: make([]int32, nt), nodes: make([]node, nn),
		values: make([]float64, nn), gains: make([]float64, nn), history: make([]float64, nh)}
	o := headerSize
	for i := range out.roots {
		out.roots[i] = int32(le.Uint32(b[o:]))
		o += 4
	}
	for i := range out.nodes {
		out.nodes[i] = node{thr: math.Float64frombits(le.Uint64(b[o:])), feat: int32(le.Uint32(b[o+8:])), next: int32(le.Uint32(b[o+12:]))}
		out.values[i] = math.Float64frombits(le.Uint64(b[o+16:]))
		out.gains[i] = math.Float64frombits(le.Uint64(b[o+24:]))
		o += nodeSize
	}
	for i := range out.history {
		out.history[i] = math.Float64frombits(le.Uint64(b[o:]))
		o += 8
	}
	for t, r := range out.roots {
		end := int32(nn)
		if t+1 < nt {
			end = out.roots[t+1]
		}
		if r < 0 || r >= end || (t > 0 && r <= out.roots[t-1]) {
			return fmt.Errorf("%w: tree %d", ErrCorrupt, t)
		}
		for i := r; i < end; i++ {
			n := out.nodes[i]
			if n.feat < 0 {
				if n.feat != -1 {
					return fmt.Errorf("%w: node %d", ErrCorrupt, i)
				}
				continue
			}
			if int(n.feat&featMask) >= p || n.feat&^(featMask|missLeftBit) != 0 || n.next <= i || n.next+1 >= end {
				return fmt.Errorf("%w: node %d", ErrCorrupt, i)
			}
		}
	}
	if nt > 0 && out.roots[0] != 0 {
		return fmt.Errorf("%w: first tree", ErrCorrupt)
	}
	out.compile()
	*m = out
	return nil
}
