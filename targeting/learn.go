package targeting

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/portguard/portguard/ingest"
)

// applied is a label as it was added to the profiles, kept so that a correction can subtract
// exactly what was added.
type applied struct {
	keys   []uint64 // hashed profile keys
	w      float64
	hit    bool
	at     int64
	result int // result version
}

// labelMemory remembers the last applied labels by declaration version, bounded: the oldest are
// forgotten first (a correction that old is then added without undoing its predecessor).
type labelMemory struct {
	mu   sync.Mutex
	m    map[string]applied
	ring []string
	next int
}

func newLabelMemory(n int) *labelMemory {
	return &labelMemory{m: make(map[string]applied), ring: make([]string, n)}
}

func (l *labelMemory) remember(id string, a applied) {
	if len(l.ring) == 0 {
		return
	}
	if _, ok := l.m[id]; !ok {
		if old := l.ring[l.next]; old != "" {
			delete(l.m, old)
		}
		l.ring[l.next] = id
		l.next = (l.next + 1) % len(l.ring)
	}
	l.m[id] = a
}

// ipw is the weight a label of propensity p carries: the inverse propensity, tempered by a
// square root and bounded, so that a random-control label counts more than a model-selected one
// without one lucky draw swamping a profile.
func (e *Engine) ipw(p float64) float64 {
	if !(p > 0) || p > 1 {
		p = 1
	}
	return math.Sqrt(1 / max(p, e.cfg.MinPropensity))
}

// Learn updates the risk profiles with one inspection outcome, online. A label whose result
// version is not newer than the one already applied for the same declaration version is
// ignored (at-least-once delivery repeats messages); a newer one (a corrected result) replaces
// the earlier label's contribution. Outcomes without features update only the overall rate.
func (e *Engine) Learn(o Outcome) { e.learn(o) }

// learn reports whether the outcome changed anything.
func (e *Engine) learn(o Outcome) bool {
	st := e.state.Load()
	id := ingest.DeclarationID(o.DeclarationNo, o.Version)
	at := o.DecidedAt
	if at.IsZero() {
		at = o.InspectedAt
	}
	if at.IsZero() {
		at = time.Unix(e.clock.Load(), 0)
	}
	atU := at.Unix()
	e.advance(atU)
	rv := max(o.ResultVersion, 1)

	st.labels.mu.Lock()
	defer st.labels.mu.Unlock()
	prev, had := st.labels.m[id]
	if had && rv <= prev.result {
		return false
	}
	if had {
		for _, k := range prev.keys {
			st.prof.addHash(k, prev.at, -prev.w, prev.hit)
		}
	}
	a := applied{w: e.ipw(o.Propensity), hit: o.Hit, at: atU, result: rv}
	a.keys = append(make([]uint64, 0, len(o.Features)+1), hashKey(st.prof.seed, pkey{k: kAll}))
	for _, f := range o.Features {
		if k, ok := featureKey(f); ok {
			a.keys = append(a.keys, hashKey(st.prof.seed, k))
		}
	}
	for _, k := range a.keys {
		st.prof.addHash(k, a.at, a.w, a.hit)
	}
	st.labels.remember(id, a)
	if !had {
		idx := e.book.statsFor
		for _, r := range o.RulesFired {
			if s := idx(r); s != nil {
				s.labelled.Add(1)
				if o.Hit {
					s.hits.Add(1)
					s.lastHit.Store(atU)
				}
			}
		}
	}
	return true
}

// featureKey maps a Feature to its profile key.
func featureKey(f Feature) (pkey, bool) {
	k, ok := kindOf(f.Name)
	if !ok || f.Value == "" {
		return pkey{}, false
	}
	switch k {
	case kAttr:
		return pkey{k: kAttr, a: f.Name[len(attrPrefix):], b: f.Value}, true
	case kImporterHS4, kHS6Origin, kDeclarantImporter:
		a, b, ok := strings.Cut(f.Value, crossSep)
		if !ok {
			return pkey{}, false
		}
		return pkey{k: k, a: a, b: b}, true
	case kAll:
		return pkey{k: kAll}, true
	}
	return pkey{k: k, a: f.Value}, true
}

// Posterior returns the Beta posterior of the hit rate for one feature value, with the
// hierarchical shrinkage the engine scores with (HS6 → HS4 → HS2 → all; crosses toward their
// first part; everything else toward all), decayed to the latest time the engine has seen.
// Name "all" gives the overall rate.
func (e *Engine) Posterior(f Feature) (alpha, beta float64) {
	st := e.state.Load()
	now := e.clock.Load()
	all := allFrom(st.prof, now)
	k, ok := featureKey(f)
	if !ok || k.k == kAll {
		return all.a, all.b
	}
	b := e.posterior(st, k, now, all.mean())
	return b.a, b.b
}

func (e *Engine) posterior(st *state, k pkey, now int64, p0 float64) beta {
	m := e.cfg.PriorStrength
	if k.k.isEntity() {
		m = e.cfg.EntityPriorStrength
	}
	parent := p0
	switch k.k {
	case kHS4:
		parent = e.posterior(st, pkey{k: kHS2, a: prefix(k.a, 2)}, now, p0).mean()
	case kHS6:
		parent = e.posterior(st, pkey{k: kHS4, a: prefix(k.a, 4)}, now, p0).mean()
	case kImporterHS4:
		parent = e.posterior(st, pkey{k: kImporter, a: k.a}, now, p0).mean()
	case kHS6Origin:
		parent = e.posterior(st, pkey{k: kHS6, a: k.a}, now, p0).mean()
	case kDeclarantImporter:
		parent = e.posterior(st, pkey{k: kDeclarant, a: k.a}, now, p0).mean()
	}
	return posteriorFrom(st.prof, k, now, parent, m)
}
