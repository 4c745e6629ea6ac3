package targeting

import (
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// ruleIndex is an immutable snapshot of the active rules, rebuilt on every rule change and
// swapped atomically, so matching takes no lock. A rule is listed under the values one of its
// required conditions accepts — HS prefixes, or values of a text field compared with eq/in — and
// a declaration looks only at the rules listed under its own values. Rules with no such
// condition (purely numeric ones) go in a scan list evaluated for every declaration.
//
// Each listing (posting) carries a copy of one more required condition of its rule — a short
// text value compared with eq/in, or a numeric bound — checked inline before the rule is
// evaluated: most candidates fail it (a rule on HS chapter 03 from Japan, listed under "03",
// does not concern chapter-03 goods from Norway), and the check touches only the contiguous
// postings, not the rule's condition tree scattered in memory.
type ruleIndex struct {
	rules    []*compiledRule
	hs       otable[[]posting]   // packed HS prefix (see hsKey) → postings
	hsLens   []int               // distinct prefix lengths in hs, ascending
	eq       map[ixKey][]posting // (text field, attribute name, value) → postings
	eqHeader []ixField           // header fields present in eq
	eqItem   []ixField           // item fields present in eq
	scan     []posting
}

// posting lists rule ord under an index key, with a pre-check: a condition every match of the
// rule satisfies (on the item it was found through, or on some item when found through a
// header value). ff == fNone means no pre-check.
type posting struct {
	ord int32
	ff  field
	fop numOp
	// exact: the index key and the pre-check are the rule's whole condition, so passing the
	// pre-check means the conditions hold; only the time window and port scope remain.
	exact bool
	key   uint64  // packed text value (packText) for a text pre-check; lower bound bits for a numeric one
	hi    float64 // upper bound of a numeric pre-check
}

// numOp is a numeric pre-check's comparison, a byte so that postings stay 24 bytes.
type numOp uint8

const (
	numRange numOp = iota
	numBelow
	numAbove
	numEq
)

func numOpOf(op Op) numOp {
	switch op {
	case OpBelow:
		return numBelow
	case OpAbove:
		return numAbove
	case OpEq:
		return numEq
	}
	return numRange
}

// packText packs a text of at most 7 bytes, with its length, into a word; longer texts give a
// value no packed text equals.
func packText(s string) uint64 {
	if len(s) > 7 {
		return ^uint64(0)
	}
	k := uint64(len(s)) << 56
	for i := 0; i < len(s); i++ {
		k |= uint64(s[i]) << (8 * i)
	}
	return k
}

// hsKey packs an all-digit HS prefix of up to 16 digits with its length.
func hsKey(v uint64, l int) uint64 { return v<<5 | uint64(l) }

func hsKeyOf(p string) (uint64, bool) {
	var v uint64
	if len(p) > 16 {
		return 0, false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return hsKey(v, len(p)), true
}

// pass runs the pre-check on item (or on any item when item < 0 and the field is an item
// field), with the leaf evaluation's semantics.
func (p *posting) pass(in *ruleInput, item int) bool {
	if p.ff == fNone {
		return true
	}
	if item < 0 && p.ff.perItem() {
		for i := range in.d.Items {
			if p.passOn(in, i) {
				return true
			}
		}
		return false
	}
	return p.passOn(in, item)
}

func (p *posting) passOn(in *ruleInput, item int) bool {
	if !p.ff.numeric() {
		s, ok := strValue(in, item, p.ff, "")
		return ok && packText(s) == p.key
	}
	v, ok := numValue(in, item, p.ff, "")
	if !ok {
		return false
	}
	lo := math.Float64frombits(p.key)
	switch p.fop {
	case numBelow:
		return v < p.hi
	case numAbove:
		return v > lo
	case numEq:
		return v == lo
	default:
		return v >= lo && v <= p.hi
	}
}

// preChecks returns the pre-checks of rule c listed under an index key on field exclude: one
// per value of the chosen condition (a match satisfies one of them), or a single empty one.
func preChecks(c *compiledRule, exclude field) []posting {
	out, best := preChecksLeaf(c, exclude)
	if isExact(&c.when, exclude, best) {
		for i := range out {
			out[i].exact = true
		}
	}
	return out
}

// isExact reports whether condition w is a text condition on the index field alone, or an AND
// of one such condition and the pre-check leaf pc.
func isExact(w *cexpr, idx field, pc *cexpr) bool {
	isIdx := func(x *cexpr) bool {
		return x.all == nil && x.any == nil && x.f == idx && !x.f.numeric() &&
			(x.op == OpEq || x.op == OpIn || (x.op == OpPrefix && x.f == fHS))
	}
	if pc == nil {
		return isIdx(w)
	}
	return len(w.all) == 2 && ((isIdx(&w.all[0]) && &w.all[1] == pc) || (isIdx(&w.all[1]) && &w.all[0] == pc))
}

func preChecksLeaf(c *compiledRule, exclude field) ([]posting, *cexpr) {
	var best *cexpr
	bestScore := 0
	var visit func(x *cexpr)
	visit = func(x *cexpr) {
		if x.all != nil {
			for i := range x.all {
				visit(&x.all[i])
			}
			return
		}
		if x.any != nil || x.f == exclude || x.f == fAttr || x.f == fMeasure {
			return
		}
		score := 0
		if x.f.numeric() {
			score = 1
		} else if (x.op == OpEq || x.op == OpIn) && len(x.vals) <= 4 {
			score = 3
			for _, v := range x.vals {
				if len(v) > 7 {
					score = 0
				}
			}
			if score > 0 && x.f != fGrade {
				score += 4 - len(x.vals)
			}
		}
		if score > bestScore {
			best, bestScore = x, score
		}
	}
	visit(&c.when)
	if best == nil {
		if n := len(c.ports); n > 0 && n <= 4 && exclude != fPort {
			out := make([]posting, n)
			for i, p := range c.ports {
				out[i] = posting{ff: fPort, key: packText(p)}
			}
			return out, nil
		}
		return []posting{{}}, nil
	}
	if best.f.numeric() {
		return []posting{{ff: best.f, fop: numOpOf(best.op), key: math.Float64bits(best.lo), hi: best.hi}}, best
	}
	out := make([]posting, len(best.vals))
	for i, v := range best.vals {
		out[i] = posting{ff: best.f, key: packText(v)}
	}
	return out, best
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
	ix := &ruleIndex{rules: rules, eq: map[ixKey][]posting{}}
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
			ix.scan = appendPostings(ix.scan, int32(ord), preChecks(c, fNone))
			continue
		}
		pcs := map[field][]posting{}
		for _, k := range ks {
			pc, ok := pcs[k.f]
			if !ok {
				pc = preChecks(c, k.f)
				pcs[k.f] = pc
			}
			if k.f == fHS {
				hk, ok := hsKeyOf(k.v)
				if !ok { // validation allows only digits; a rule that slipped through is scanned
					ix.scan = appendPostings(ix.scan, int32(ord), pc)
					continue
				}
				ps, _ := ix.hs.get(hk)
				ix.hs.put(hk, appendPostings(ps, int32(ord), pc))
				lens[len(k.v)] = true
				continue
			}
			ix.eq[k] = appendPostings(ix.eq[k], int32(ord), pc)
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
	// A fixed order makes the order of RulesFired reproducible.
	byField := func(a, b ixField) int {
		if a.f != b.f {
			return int(a.f) - int(b.f)
		}
		return strings.Compare(a.name, b.name)
	}
	slices.SortFunc(ix.eqItem, byField)
	slices.SortFunc(ix.eqHeader, byField)
	return ix
}

// appendPostings lists ord once per pre-check, unless the list already ends with ord (a rule
// listed twice under one key, e.g. by two overlapping in-list values).
func appendPostings(s []posting, ord int32, pcs []posting) []posting {
	if n := len(s); n > 0 && s[n-1].ord == ord {
		return s
	}
	for _, p := range pcs {
		p.ord = ord
		s = append(s, p)
	}
	return s
}

// matcher is per-call scratch for matching: a stamp per rule ordinal marks rules already
// settled in this call, so candidates need no sorting or deduplication.
type matcher struct {
	stamps []uint32
	gen    uint32
	found  []hsFound
	touch  int32 // keeps match's warming loads
}

// hsFound is a listing found under one of an item's HS prefixes.
type hsFound struct {
	ps   []posting
	item int
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
	out = ix.try(ix.scan, in, -1, nowN, m, out)
	d := in.d
	for _, f := range ix.eqHeader {
		if v, ok := strValue(in, -1, f.f, f.name); ok {
			if ps := ix.eq[ixKey{f: f.f, name: f.name, v: v}]; len(ps) > 0 {
				out = ix.try(ps, in, -1, nowN, m, out)
			}
		}
	}
	// The HS listings of every item are looked up first and tried after: the lookups depend on
	// nothing but the codes, so their cache misses overlap instead of each waiting for the
	// evaluation of the rules found before it.
	found := m.found[:0]
	for i := range d.Items {
		if len(ix.hsLens) == 0 {
			break
		}
		hs := d.Items[i].HSCode
		var v uint64
		next := 0 // index into hsLens
		for l := 1; l <= len(hs) && next < len(ix.hsLens); l++ {
			c := hs[l-1]
			if c < '0' || c > '9' {
				break // rule prefixes are digits: no longer prefix can match
			}
			v = v*10 + uint64(c-'0')
			if l == ix.hsLens[next] {
				next++
				if ps, _ := ix.hs.get(hsKey(v, l)); len(ps) > 0 {
					found = append(found, hsFound{ps: ps, item: i})
				}
			}
		}
	}
	for _, f := range found {
		out = ix.try(f.ps, in, f.item, nowN, m, out)
	}
	clear(found) // the pooled matcher must not keep a replaced index's listings alive
	m.found = found[:0]
	for i := range d.Items {
		for _, f := range ix.eqItem {
			if v, ok := strValue(in, i, f.f, f.name); ok {
				if ps := ix.eq[ixKey{f: f.f, name: f.name, v: v}]; len(ps) > 0 {
					out = ix.try(ps, in, i, nowN, m, out)
				}
			}
		}
	}
	return out
}

// try evaluates the rules of postings ps not yet settled in this call, on item (or on the whole
// declaration when item < 0), appending matches to out. A rule found through an item and not
// matching on it stays unsettled: another item may list it too.
func (ix *ruleIndex) try(ps []posting, in *ruleInput, item int, nowN int64, m *matcher, out []*compiledRule) []*compiledRule {
	for i := range ps {
		p := &ps[i]
		if m.stamps[p.ord] == m.gen || !p.pass(in, item) {
			continue
		}
		c := ix.rules[p.ord]
		var ok bool
		if p.exact {
			ok = c.inScope(in, nowN)
			if ok || item < 0 {
				m.stamps[p.ord] = m.gen
			}
		} else if item < 0 {
			ok = c.matches(in, nowN)
			m.stamps[p.ord] = m.gen // settled whatever the outcome
		} else {
			ok = c.matchesItem(in, nowN, item)
			if ok {
				m.stamps[p.ord] = m.gen
			}
		}
		if ok {
			out = append(out, c)
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
