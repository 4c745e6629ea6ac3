package targeting

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"math/bits"
	"strings"
	"sync/atomic"
)

// kind is a profiled attribute: each value of each kind has its own Beta posterior of the hit
// rate.
type kind uint8

const (
	kAll kind = iota
	kImporter
	kConsignor
	kDeclarant
	kHS2
	kHS4
	kHS6
	kOrigin
	kDeparture
	kPort
	kTradeMode
	kTransport
	kImporterHS4
	kHS6Origin
	kDeclarantImporter
	kAttr // extra attribute: a = attribute name, b = value
	numKinds
)

// kindNames are the Feature names of each kind, as decisions and outcomes carry them.
var kindNames = [numKinds]string{
	"all", "importer", "consignor", "declarant", "hs2", "hs4", "hs6", "origin", "departure",
	"port", "trade_mode", "transport_mode", "importer_hs4", "hs6_origin", "declarant_importer", "attr",
}

// Plain-language names of each kind for reasons.
var kindZH = [numKinds]string{
	"全部", "进口商", "境外发货人", "申报单位", "商品章", "商品品目", "商品子目", "原产国", "启运国",
	"口岸", "监管方式", "运输方式", "进口商在该品目", "该子目自该原产国", "申报单位代理该进口商", "属性",
}
var kindEN = [numKinds]string{
	"all", "importer", "consignor", "declarant", "HS chapter", "HS heading", "HS subheading",
	"origin", "departure country", "port", "trade mode", "transport mode", "importer in this heading",
	"this subheading from this origin", "declarant for this importer", "attribute",
}

// crossSep joins the two values of a cross feature ("importer|hs4").
const crossSep = "|"

// attrPrefix starts the Feature name of an extra attribute: "attr:PAYMENT_TYPE".
const attrPrefix = "attr:"

func kindOf(name string) (kind, bool) {
	if strings.HasPrefix(name, attrPrefix) {
		return kAttr, true
	}
	for k := kImporter; k < kAttr; k++ {
		if kindNames[k] == name {
			return k, true
		}
	}
	if name == "all" {
		return kAll, true
	}
	return 0, false
}

// isEntity reports kinds keyed by a high-cardinality identifier, shrunk harder.
func (k kind) isEntity() bool {
	switch k {
	case kImporter, kConsignor, kDeclarant, kImporterHS4, kDeclarantImporter:
		return true
	}
	return false
}

// pkey identifies one profiled value. For crosses and attributes b is the second part; lookups
// with substrings of the declaration's own strings do not allocate.
type pkey struct {
	k    kind
	a, b string
}

// stat holds time-decayed label sums at reference time t (unix seconds): hits and labels, each
// label weighted by its (tempered) inverse propensity. The representation is linear in the
// labels, so a label's contribution can be subtracted exactly to replace it by a correction.
type stat struct {
	h, n float64
	t    int64
}

const profileShards = 64

// profiles is a sharded, concurrency-safe store of decayed label sums. Values are keyed by a
// 64-bit hash of (kind, value): a million enterprises then cost ~50 bytes each and a lookup
// touches no key strings. Two values colliding (odds ~10⁻⁸ at a few million values) would only
// pool their evidence. High-cardinality kinds (entities and crosses) live in their own shards,
// so that the few thousand HS codes, countries, ports and modes every decision reads stay in
// cache instead of being scattered among a million importers; the lowest bit of the key hash
// says which (1: entity).
type profiles struct {
	seed   uint64
	lambda float64 // decay per second: ln 2 / half-life
	shards [2 * profileShards]pshard
}

func newProfiles(halfLifeSeconds float64) *profiles {
	return &profiles{seed: newSeed(), lambda: math.Ln2 / halfLifeSeconds}
}

// hashKey hashes a profile key; the same function serves the unit-value norms. The lowest bit
// is 1 for high-cardinality kinds.
func hashKey(seed uint64, key pkey) uint64 {
	h := strHash(seed, key.a) ^ (uint64(key.k)+1)*0x9e3779b97f4a7c15
	if key.b != "" {
		h = (h ^ strHash(seed, key.b)*0xc2b2ae3d27d4eb4f) * 0xff51afd7ed558ccd
		h ^= h >> 33
	}
	if key.k.isEntity() || key.k == kHS6Origin {
		return h | 1
	}
	return h &^ 1
}

// newSeed returns a random hash seed. Profile keys are hashes under the store's seed, which a
// snapshot keeps, so that restored sums are found under the same keys; being random, it keeps
// declarants from crafting colliding identifiers.
func newSeed() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return binary.LittleEndian.Uint64(b[:])
}

// strHash is a seeded 64-bit string hash (8 bytes per step, murmur3's finalizer). Unlike
// hash/maphash its seed can be saved.
func strHash(seed uint64, s string) uint64 {
	const m = 0x9e3779b97f4a7c15
	h := seed ^ uint64(len(s))*m
	for len(s) >= 8 {
		v := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		h = bits.RotateLeft64(h^(v*0x87c37b91114253d5), 31) * m
		s = s[8:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		v |= uint64(s[i]) << (8 * i)
	}
	h ^= v * 0x4cf5ad432745937f
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func (p *profiles) shard(hk uint64) *pshard {
	return &p.shards[(hk&1)*profileShards+(hk>>1)%profileShards]
}

// get returns the sums decayed to time now (unix seconds).
func (p *profiles) get(key pkey, now int64) (h, n float64) {
	return p.getHash(hashKey(p.seed, key), now)
}

func (p *profiles) hashOf(key pkey) uint64 { return hashKey(p.seed, key) }

// warmSink keeps the compiler from dropping warm's loads.
var warmSink atomic.Uint64

// warm loads the first probed slot of every key in hks before any of them is read for real.
// A decision reads ~25 profiles, most of them cache misses in tables of a million
// enterprises; read one after another, each miss waits for the one before (~100 ns each).
// These loads depend on nothing but the hashes, so the processor overlaps their misses, and
// the lookups that follow find the lines in cache.
func (p *profiles) warm(hks []uint64) {
	var s uint64
	for _, hk := range hks {
		if t := p.shard(hk).tab.Load(); t != nil && len(t.slots) > 0 {
			s += t.slots[homeN(fixKey(hk), len(t.slots))].key.Load()
		}
	}
	if s == 1 { // practically never; a store the compiler must keep, off the common path
		warmSink.Store(s)
	}
}

func (p *profiles) getHash(hk uint64, now int64) (h, n float64) {
	st, ok := p.shard(hk).get(hk)
	if !ok {
		return 0, 0
	}
	if now > st.t {
		f := math.Exp(-p.lambda * float64(now-st.t))
		return st.h * f, st.n * f
	}
	return st.h, st.n
}

// add adds weight w (negative to undo) of a label observed at time at, hit or not.
func (p *profiles) add(key pkey, at int64, w float64, hit bool) {
	p.addHash(hashKey(p.seed, key), at, w, hit)
}

func (p *profiles) addHash(hk uint64, at int64, w float64, hit bool) {
	s := p.shard(hk)
	s.mu.Lock()
	st, _ := s.get(hk)
	if st.n == 0 && st.h == 0 {
		st.t = at
	}
	switch {
	case at > st.t:
		f := math.Exp(-p.lambda * float64(at-st.t))
		st.h *= f
		st.n *= f
		st.t = at
	case at < st.t:
		w *= math.Exp(-p.lambda * float64(st.t-at))
	}
	st.n += w
	if hit {
		st.h += w
	}
	// An undo leaves rounding dust; clamp so a posterior never sees negative evidence.
	if st.n < 1e-9 {
		st.n, st.h = 0, 0
	}
	st.h = min(max(st.h, 0), st.n)
	s.set(hk, st)
	s.mu.Unlock()
}

// len counts profiled values.
func (p *profiles) len() int {
	n := 0
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}

// globalPrior is the weak prior of the overall hit rate: 1 hit in 20 labels.
const globalPriorA, globalPriorB = 1.0, 19.0

// beta is a Beta posterior.
type beta struct{ a, b float64 }

func (b beta) mean() float64 { return b.a / (b.a + b.b) }

// n is the evidence in labels beyond the prior, used for exploration and "new entity" flags.
func (b beta) evidence(prior float64) float64 { return b.a + b.b - prior }

// profileSource yields decayed label sums: the live profiles, or during Fit an out-of-fold
// view that leaves out the labels of the example being encoded.
type profileSource interface {
	get(key pkey, now int64) (h, n float64)
	// hashOf is key's hash, under which getHash finds it.
	hashOf(key pkey) uint64
	getHash(hk uint64, now int64) (h, n float64)
	// warm touches the slots of hks so that their cache misses overlap (see profiles.warm).
	warm(hks []uint64)
}

// posteriorFrom shrinks the sums of key toward the parent mean with strength m.
func posteriorFrom(src profileSource, key pkey, now int64, parent, m float64) beta {
	h, n := src.get(key, now)
	return beta{a: m*parent + h, b: m*(1-parent) + (n - h)}
}

// posteriorHash is posteriorFrom for a key already hashed.
func posteriorHash(src profileSource, hk uint64, now int64, parent, m float64) beta {
	h, n := src.getHash(hk, now)
	return beta{a: m*parent + h, b: m*(1-parent) + (n - h)}
}

func allFrom(src profileSource, now int64) beta {
	h, n := src.get(pkey{k: kAll}, now)
	return beta{a: globalPriorA + h, b: globalPriorB + n - h}
}

// oofView is the sums of full minus those of one fold.
type oofView struct{ full, fold *profiles }

func (v oofView) get(key pkey, now int64) (h, n float64) {
	return v.getHash(v.hashOf(key), now)
}

// hashOf relies on the folds sharing the full store's seed (Fit sets it).
func (v oofView) hashOf(key pkey) uint64 { return hashKey(v.full.seed, key) }

func (v oofView) getHash(hk uint64, now int64) (h, n float64) {
	hf, nf := v.full.getHash(hk, now)
	hk2, nk := v.fold.getHash(hk, now)
	return max(hf-hk2, 0), max(nf-nk, 0)
}

func (v oofView) warm(hks []uint64) {
	v.full.warm(hks)
	v.fold.warm(hks)
}

func logit(p float64) float64 {
	p = min(max(p, 1e-6), 1-1e-6)
	return math.Log(p / (1 - p))
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
