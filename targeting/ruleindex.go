package targeting

import (
	"slices"
	"sync/atomic"
	"time"
)

// ruleIndex is an immutable snapshot of the active rules, rebuilt on every rule change and
// swapped atomically, so matching takes no lock. A rule is listed under the values one of its
// required conditions accepts — HS prefixes, or values of a text field compared with eq/in — and
// a declaration looks only at the rules listed under its own values. Rules with no such
// condition (purely numeric ones) go in a scan list evaluated for every declaration.
type ruleIndex struct {
	rules    []*compiledRule
	hs       map[string][]int32 // HS prefix → rule ordinals
	hsLens   []int              // distinct prefix lengths in hs, ascending
	eq       map[ixKey][]int32  // (text field, attribute name, value) → rule ordinals
	eqHeader []ixField          // header fields present in eq
	eqItem   []ixField          // item fields present in eq
	scan     []int32
}

// ixField is a text field (with its attribute name for attr.NAME).
type ixField struct {
	f    field
	name string
}

// ixKey is one index entry a rule is listed under: f == fHS means an HS prefix.
type ixKey struct {
	f    field
	name string
	v    string
}

// fieldRank orders index fields from most to least selective, to pick one key set per AND.
func fieldRank(f field) int {
	switch f {
	case fImporter, fConsignor, fDeclarant:
		return 0
	case fHS, fCIQ:
		return 1
	case fOrigin, fDeparture, fTradingCountry, fLoadingPort, fAttr:
		return 2
	case fUnit:
		return 3
	}
	return 4 // port, trade and transport mode, direction, grade: few distinct values
}

// indexKeys returns keys under one of which every consignment matching c must appear, or ok
// false when no finite set exists.
func indexKeys(c *cexpr) ([]ixKey, bool) {
	switch {
	case c.all != nil:
		var best []ixKey
		bestRank := 1 << 30
		for i := range c.all {
			ks, ok := indexKeys(&c.all[i])
			if !ok || len(ks) == 0 {
				continue
			}
			r := worstRank(ks)
			if r < bestRank || (r == bestRank && len(ks) < len(best)) {
				best, bestRank = ks, r
			}
		}
		return best, best != nil
	case c.any != nil:
		var out []ixKey
		for i := range c.any {
			ks, ok := indexKeys(&c.any[i])
			if !ok {
				return nil, false
			}
			out = append(out, ks...)
		}
		return out, true
	}
	if c.f.numeric() {
		return nil, false
	}
	if c.op == OpPrefix && c.f != fHS {
		return nil, false
	}
	out := make([]ixKey, len(c.vals))
	for i, v := range c.vals {
		out[i] = ixKey{f: c.f, name: c.name, v: v}
	}
	return out, true
}

func worstRank(ks []ixKey) int {
	w := 0
	for _, k := range ks {
		w = max(w, fieldRank(k.f))
	}
	return w
}

func buildIndex(rules []*compiledRule) *ruleIndex {
	ix := &ruleIndex{rules: rules, hs: map[string][]int32{}, eq: map[ixKey][]int32{}}
	lens := map[int]bool{}
	fields := map[ixField]bool{}
	for ord, c := range rules {
		ks, ok := indexKeys(&c.when)
		if !ok && len(c.ports) > 0 {
			// The port scope is an implicit AND condition.
			ks, ok = make([]ixKey, len(c.ports)), true
			for i, p := range c.ports {
				ks[i] = ixKey{f: fPort, v: p}
			}
		}
		if !ok {
			ix.scan = append(ix.scan, int32(ord))
			continue
		}
		for _, k := range ks {
			if k.f == fHS {
				ix.hs[k.v] = appendOnce(ix.hs[k.v], int32(ord))
				lens[len(k.v)] = true
				continue
			}
			ix.eq[k] = appendOnce(ix.eq[k], int32(ord))
			fields[ixField{k.f, k.name}] = true
		}
	}
	for l := range lens {
		ix.hsLens = append(ix.hsLens, l)
	}
	slices.Sort(ix.hsLens)
	for f := range fields {
		if f.f.perItem() {
			ix.eqItem = append(ix.eqItem, f)
		} else {
			ix.eqHeader = append(ix.eqHeader, f)
		}
	}
	return ix
}

func appendOnce(s []int32, v int32) []int32 {
	if n := len(s); n > 0 && s[n-1] == v {
		return s
	}
	return append(s, v)
}

// matcher is per-call scratch for matching: a stamp per rule ordinal marks rules already
// settled in this call, so candidates need no sorting or deduplication.
type matcher struct {
	stamps []uint32
	gen    uint32
}

func (m *matcher) reset(n int) {
	if len(m.stamps) < n {
		m.stamps = make([]uint32, n+n/4)
		m.gen = 0
	}
	m.gen++
	if m.gen == 0 { // wrapped: clear so old stamps cannot collide
		clear(m.stamps)
		m.gen = 1
	}
}

// match appends the rules that match to out, in index order. A rule found through an item's
// HS prefix or item field is evaluated on that item only: its indexed condition is required
// (an AND path from the root), and item conditions hold for one item at a time, so no other item
// can satisfy it unless it is listed under that item's value too, in which case it is found
// again. Rules found through header values or the scan list are evaluated on every item.
func (ix *ruleIndex) match(in *ruleInput, now time.Time, m *matcher, out []*compiledRule) []*compiledRule {
	m.reset(len(ix.rules))
	nowN := now.UnixNano()
	try := func(ords []int32, item int) {
		for _, ord := range ords {
			if m.stamps[ord] == m.gen {
				continue
			}
			c := ix.rules[ord]
			var ok bool
			if item < 0 {
				ok = c.matches(in, nowN)
				m.stamps[ord] = m.gen // settled whatever the outcome
			} else {
				ok = c.matchesItem(in, nowN, item)
				if ok {
					m.stamps[ord] = m.gen
				}
			}
			if ok {
				out = append(out, c)
			}
		}
	}
	try(ix.scan, -1)
	d := in.d
	for _, f := range ix.eqHeader {
		if v, ok := strValue(in, -1, f.f, f.name); ok {
			try(ix.eq[ixKey{f: f.f, name: f.name, v: v}], -1)
		}
	}
	for i := range d.Items {
		hs := d.Items[i].HSCode
		for _, l := range ix.hsLens {
			if l > len(hs) {
				break
			}
			try(ix.hs[hs[:l]], i)
		}
		for _, f := range ix.eqItem {
			if v, ok := strValue(in, i, f.f, f.name); ok {
				try(ix.eq[ixKey{f: f.f, name: f.name, v: v}], i)
			}
		}
	}
	return out
}

// matchAll is the brute-force scan matching must agree with; tests use it.
func (ix *ruleIndex) matchAll(in *ruleInput, now time.Time) []*compiledRule {
	var out []*compiledRule
	for _, c := range ix.rules {
		if c.matches(in, now.UnixNano()) {
			out = append(out, c)
		}
	}
	return out
}

// ruleStats counts a rule's recent matches, selections and hits for the console.
type ruleStats struct {
	matches, selected, labelled, hits atomic.Int64
	lastMatch, lastHit                atomic.Int64 // unix seconds
}
