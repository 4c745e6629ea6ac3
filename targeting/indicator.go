package targeting

import (
	"math"
	"sync"
)

// Unit values are tracked as log10(base value per kg) in a fixed histogram: median and MAD come
// out of it in constant time and memory, they are robust to the outliers undervaluation produces,
// and halving the counts when they grow large lets the norm follow price drift.
const (
	uvBins     = 80
	uvLo       = -3.0 // 0.001 per kg
	uvWidth    = 0.125
	uvMaxCount = 4000 // halve all counts beyond this many observations
	uvMinCount = 20   // fewer observations than this: the norm is unknown
)

// uvHist is the unit-value distribution of one HS6 (or HS6 × origin, or HS4).
type uvHist struct {
	// The header comes first, in the same cache line as the first bins.
	n        float32
	med, mad float32 // cached, refreshed every few observations
	stale    uint8
	// dirty: med and mad are behind the counts. Below 64 observations every observation
	// refreshes them; that refresh is deferred until they are read (or the 64th observation
	// arrives), which gives the same figures without computing the many that nobody reads.
	dirty bool
	c     [uvBins]float32
}

func uvBin(lg float64) int {
	b := int((lg - uvLo) / uvWidth)
	return min(max(b, 0), uvBins-1)
}

func (h *uvHist) add(lg float64) {
	if h.dirty && h.n+1 >= 64 {
		h.refresh() // the refresh the previous observation asked for
	}
	h.c[uvBin(lg)]++
	h.n++
	if h.n > uvMaxCount {
		h.n = 0
		for i := range h.c {
			h.c[i] /= 2
			h.n += h.c[i]
		}
	}
	h.stale++
	switch {
	case h.n < 64:
		h.dirty, h.stale = true, 0
	case h.stale >= 16:
		h.refresh()
	}
}

// refresh recomputes median and MAD by interpolation within bins.
func (h *uvHist) refresh() {
	h.stale, h.dirty = 0, false
	h.med, h.mad = h.compute()
}

// current returns median and MAD as of the latest refresh, computing a deferred one without
// storing it (for readers holding only a read lock).
func (h *uvHist) current() (med, mad float32) {
	if h.dirty {
		return h.compute()
	}
	return h.med, h.mad
}

// compute derives median and MAD from the counts.
func (h *uvHist) compute() (float32, float32) {
	half := h.n / 2
	var cum float32
	med := float32(uvLo)
	for i, c := range h.c {
		if cum+c >= half && c > 0 {
			med = float32(uvLo) + float32(uvWidth)*(float32(i)+(half-cum)/c)
			break
		}
		cum += c
	}
	// MAD: grow a window around the median until it holds half of the mass.
	mb := uvBin(float64(med))
	lo, hi := mb, mb
	mass := h.c[mb]
	for mass < half && (lo > 0 || hi < uvBins-1) {
		dl, dh := math.MaxFloat32, math.MaxFloat32
		if lo > 0 {
			dl = float64(med) - (uvLo + uvWidth*float64(lo))
		}
		if hi < uvBins-1 {
			dh = (uvLo + uvWidth*float64(hi+1)) - float64(med)
		}
		if dl <= dh {
			lo--
			mass += h.c[lo]
		} else {
			hi++
			mass += h.c[hi]
		}
	}
	return med, float32(max(float64(med)-(uvLo+uvWidth*float64(lo)), (uvLo+uvWidth*float64(hi+1))-float64(med)) / 2)
}

// norms holds the unit-value histograms, sharded by key.
type norms struct {
	seed   uint64
	shards [32]struct {
		mu sync.RWMutex
		m  otable[*uvHist]
		_  [24]byte
	}
}

func newNorms() *norms {
	return &norms{seed: newSeed()}
}

func (n *norms) shard(hk uint64) int { return int((hk >> 1) % uint64(len(n.shards))) } // bit 0 is the kind class

func (n *norms) observe(k pkey, lg float64) {
	hk := hashKey(n.seed, k)
	s := &n.shards[n.shard(hk)]
	s.mu.Lock()
	h, _ := s.m.get(hk)
	if h == nil {
		h = &uvHist{}
		s.m.put(hk, h)
	}
	h.add(lg)
	s.mu.Unlock()
}

// norm returns the median and robust scale (1.4826 × MAD) of key's distribution.
func (n *norms) norm(k pkey) (med, scale float64, ok bool) {
	hk := hashKey(n.seed, k)
	s := &n.shards[n.shard(hk)]
	s.mu.RLock()
	h, _ := s.m.get(hk)
	if h != nil && h.n >= uvMinCount {
		m, d := h.current()
		med, scale, ok = float64(m), 1.4826*float64(d), true
	}
	s.mu.RUnlock()
	return med, scale, ok
}

// unitValue returns log10 of an item's base value per kg, or false when it has none.
func unitValueLog(valueBase, netKg float64) (float64, bool) {
	if !(netKg > 0) || !(valueBase > 0) {
		return 0, false
	}
	return math.Log10(valueBase / netKg), true
}

// uvZ scores an item's unit value against the narrowest norm that has enough observations:
// HS6 × origin, then HS6, then HS4. Negative z means cheaper than usual (undervaluation).
// It also returns the ratio of the unit value to that norm's median.
func (n *norms) uvZ(hs, origin string, lg float64) (z, ratio float64, ok bool) {
	keys := [3]pkey{}
	cnt := 0
	if len(hs) >= 6 {
		keys[cnt] = pkey{k: kHS6Origin, a: hs[:6], b: origin}
		cnt++
		keys[cnt] = pkey{k: kHS6, a: hs[:6]}
		cnt++
	}
	if len(hs) >= 4 {
		keys[cnt] = pkey{k: kHS4, a: hs[:4]}
		cnt++
	}
	for i := 0; i < cnt; i++ {
		if med, scale, found := n.norm(keys[i]); found {
			// A floor on the scale: a very uniform price list must not make every cent an alarm.
			z = (lg - med) / max(scale, 0.05)
			return z, math.Pow(10, lg-med), true
		}
	}
	return 0, 1, false
}

// score with observe is uvZ followed by observeItem with one map access per key: the item is
// scored against the norms as they were before it, then added to them.
func (n *norms) score(hs, origin string, lg float64, observe bool) (z, ratio float64, ok bool) {
	if !observe {
		return n.uvZ(hs, origin, lg)
	}
	var keys [3]pkey
	cnt := 0
	if len(hs) >= 6 {
		keys[0] = pkey{k: kHS6Origin, a: hs[:6], b: origin}
		keys[1] = pkey{k: kHS6, a: hs[:6]}
		cnt = 2
	}
	if len(hs) >= 4 {
		keys[cnt] = pkey{k: kHS4, a: hs[:4]}
		cnt++
	}
	ratio = 1
	for i := 0; i < cnt; i++ {
		hk := hashKey(n.seed, keys[i])
		s := &n.shards[n.shard(hk)]
		s.mu.Lock()
		h, _ := s.m.get(hk)
		if h == nil {
			h = &uvHist{}
			s.m.put(hk, h)
		}
		if !ok && h.n >= uvMinCount {
			if h.dirty {
				h.refresh()
			}
			med, scale := float64(h.med), 1.4826*float64(h.mad)
			z, ratio, ok = (lg-med)/max(scale, 0.05), math.Pow(10, lg-med), true
		}
		h.add(lg)
		s.mu.Unlock()
	}
	return z, ratio, ok
}

func (n *norms) observeItem(hs, origin string, lg float64) {
	if len(hs) >= 6 {
		n.observe(pkey{k: kHS6Origin, a: hs[:6], b: origin}, lg)
		n.observe(pkey{k: kHS6, a: hs[:6]}, lg)
	}
	if len(hs) >= 4 {
		n.observe(pkey{k: kHS4, a: hs[:4]}, lg)
	}
}

func cloneString(s string) string {
	if s == "" {
		return ""
	}
	return string([]byte(s))
}
