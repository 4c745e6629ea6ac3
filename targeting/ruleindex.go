package targeting

import (
	"slices"
	"sync/atomic"
	"time"
)

// Indexed header and item fields: a rule whose conditions require one of a few values of such a
// field is listed under each value, so a declaration only looks at the rules listed under its
// own values.
const (
	ixOrigin = iota
	ixPort
	ixImporter
	ixDeclarant
	ixConsignor
	numIx
)

// ixPreference orders index keys from most to least selective, to pick one key set per AND.
var ixPreference = [...]int{ixImporter, ixDeclarant, ixConsignor, -1 /* HS */, ixOrigin, ixPort}

// ruleIndex is an immutable snapshot of the active rules, rebuilt on every rule change and
// swapped atomically, so matching takes no lock.
type ruleIndex struct {
	rules  []*compiledRule
	hs     map[string][]int32 // HS prefix → rule ordinals
	hsLens []int              // distinct prefix lengths in hs, ascending
	eq     [numIx]map[string][]int32
	scan   []int32 // rules without an indexable condition: evaluated for every declaration
}

// ixKey is one index entry a rule is listed under: field -1 is an HS prefix.
type ixKey struct {
	f int
	v string
}

// indexKeys returns the keys under which a consignment matching c must appear, or ok false when
// no such finite set exists.
func indexKeys(c *cexpr) ([]ixKey, bool) {
	switch {
	case c.all != nil:
		var best []ixKey
		bestPref := len(ixPreference)
		for i := range c.all {
			ks, ok := indexKeys(&c.all[i])
			if !ok || len(ks) == 0 {
				continue
			}
			p := preference(ks)
			if p < bestPref || (p == bestPref && len(ks) < len(best)) {
				best, bestPref = ks, p
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
	f := -2
	switch c.f {
	case fHS:
		f = -1
	case fOrigin:
		f = ixOrigin
	case fPort:
		f = ixPort
	case fImporter:
		f = ixImporter
	case fDeclarant:
		f = ixDeclarant
	case fConsignor:
		f = ixConsignor
	}
	if f == -2 || c.f.numeric() {
		return nil, false
	}
	if c.op == OpPrefix && f != -1 {
		return nil, false
	}
	out := make([]ixKey, len(c.vals))
	for i, v := range c.vals {
		out[i] = ixKey{f, v}
	}
	return out, true
}

// preference ranks a key set by its worst field.
func preference(ks []ixKey) int {
	worst := 0
	for _, k := range ks {
		p := slices.Index(ixPreference[:], k.f)
		worst = max(worst, p)
	}
	return worst
}

func buildIndex(rules []*compiledRule) *ruleIndex {
	ix := &ruleIndex{rules: rules, hs: map[string][]int32{}}
	for i := range ix.eq {
		ix.eq[i] = map[string][]int32{}
	}
	lens := map[int]bool{}
	for ord, c := range rules {
		ks, ok := indexKeys(&c.when)
		if !ok && len(c.ports) > 0 {
			// The port scope is an implicit AND condition.
			ks, ok = make([]ixKey, len(c.ports)), true
			for i, p := range c.ports {
				ks[i] = ixKey{ixPort, p}
			}
		}
		if !ok {
			ix.scan = append(ix.scan, int32(ord))
			continue
		}
		for _, k := range ks {
			if k.f == -1 {
				ix.hs[k.v] = appendOnce(ix.hs[k.v], int32(ord))
				lens[len(k.v)] = true
			} else {
				ix.eq[k.f][k.v] = appendOnce(ix.eq[k.f][k.v], int32(ord))
			}
		}
	}
	for l := range lens {
		ix.hsLens = append(ix.hsLens, l)
	}
	slices.Sort(ix.hsLens)
	return ix
}

func appendOnce(s []int32, v int32) []int32 {
	if n := len(s); n > 0 && s[n-1] == v {
		return s
	}
	return append(s, v)
}

// candidates appends to buf the ordinals of rules that may match, sorted and without duplicates.
func (ix *ruleIndex) candidates(in *ruleInput, buf []int32) []int32 {
	buf = append(buf, ix.scan...)
	d := in.d
	for i := range d.Items {
		hs := d.Items[i].HSCode
		for _, l := range ix.hsLens {
			if l > len(hs) {
				break
			}
			buf = append(buf, ix.hs[hs[:l]]...)
		}
		if m := ix.eq[ixOrigin]; len(m) > 0 {
			buf = append(buf, m[d.Items[i].OriginCountry]...)
		}
	}
	if m := ix.eq[ixPort]; len(m) > 0 {
		buf = append(buf, m[d.Port]...)
	}
	if m := ix.eq[ixImporter]; len(m) > 0 {
		buf = append(buf, m[importerOf(d).Key()]...)
	}
	if m := ix.eq[ixDeclarant]; len(m) > 0 {
		buf = append(buf, m[d.Declarant]...)
	}
	if m := ix.eq[ixConsignor]; len(m) > 0 {
		buf = append(buf, m[counterpartOf(d).Key()]...)
	}
	if len(buf) > 1 {
		slices.Sort(buf)
		buf = slices.Compact(buf)
	}
	return buf
}

// match appends the rules that match to out, using buf as scratch; it returns both.
func (ix *ruleIndex) match(in *ruleInput, now time.Time, buf []int32, out []*compiledRule) ([]int32, []*compiledRule) {
	buf = ix.candidates(in, buf[:0])
	for _, ord := range buf {
		if c := ix.rules[ord]; c.matches(in, now) {
			out = append(out, c)
		}
	}
	return buf, out
}

// matchAll is the brute-force scan matching must agree with; tests use it.
func (ix *ruleIndex) matchAll(in *ruleInput, now time.Time) []*compiledRule {
	var out []*compiledRule
	for _, c := range ix.rules {
		if c.matches(in, now) {
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
