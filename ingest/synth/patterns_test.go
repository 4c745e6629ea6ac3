package synth

import (
	"sort"
	"strings"
	"testing"
)

// rate is a hit counter.
type rate struct{ n, hits int }

func (r *rate) add(hit bool) {
	r.n++
	if hit {
		r.hits++
	}
}

func (r rate) value() float64 {
	if r.n == 0 {
		return 0
	}
	return float64(r.hits) / float64(r.n)
}

// share counts how often a condition holds in a group.
type share struct{ n, yes int }

func (s *share) add(yes bool) {
	s.n++
	if yes {
		s.yes++
	}
}

func (s share) value() float64 { return float64(s.yes) / float64(max(1, s.n)) }

func productOf(hs10 string) *product {
	for i := range catalogue {
		if strings.HasPrefix(hs10, catalogue[i].hs6) {
			return &catalogue[i]
		}
	}
	return nil
}

// TestPlantedPatternsAreDetectable generates one period and checks that every planted pattern
// leaves a trace a model can learn, and that the traces are rarer among compliant consignments.
func TestPlantedPatternsAreDetectable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 3
	cfg.Days = 100
	cfg.PerDay = 1500
	cfg.DriftAt = 0.5
	g := New(cfg)
	entByCode := map[string]int{}
	for i := range g.ents {
		entByCode[g.ents[i].customs] = i
	}
	declByCode := map[string]int{}
	for i := range g.declarants {
		declByCode[g.declarants[i].code] = i
	}

	var all, riskyImp, riskyDecl, cleanBoth, hotCells, ringBefore, ringAfter rate
	lateBefore, lateAfter := rate{}, rate{}
	var uvHit, uvClean, wtHit, wtClean, orHit, orClean share
	perEnt := make([]int, len(g.ents))
	span := float64(cfg.Days) * 86400
	for {
		s := g.Next()
		frac := s.Decl.DeclaredAt.Sub(cfg.Start).Seconds() / span
		if frac >= 1 {
			break
		}
		hit := s.Truth.Hit
		all.add(hit)
		ei := entByCode[s.Decl.Consignee.CustomsCode]
		e := &g.ents[ei]
		perEnt[ei]++
		d := &g.declarants[declByCode[s.Decl.Declarant]]
		eRisky := e.boost > 0 && e.risky.level(frac) > 0.5
		dRisky := d.boost > 0 && d.risky.level(frac) > 0.5
		switch {
		case eRisky:
			riskyImp.add(hit)
		case dRisky:
			riskyDecl.add(hit)
		case e.boost == 0 && d.boost == 0:
			cleanBoth.add(hit)
		}
		if e.style[kWT] == 6 { // the post-drift ring
			if frac < cfg.DriftAt {
				ringBefore.add(hit)
			} else {
				ringAfter.add(hit)
			}
		}
		it := &s.Decl.Items[0]
		for h := range g.hot {
			hs := &g.hot[h]
			if (hs.kind == kQP || hs.kind == kUV) && strings.HasPrefix(it.HSCode, catalogue[hs.prod].hs6) && hs.origin == it.OriginCountry {
				if hs.when.level(frac) == 1 {
					hotCells.add(hit)
				}
				if hs.when.from > 0 && hs.when.from < 1 {
					if frac < hs.when.from {
						lateBefore.add(hit)
					} else {
						lateAfter.add(hit)
					}
				}
			}
		}

		has := func(code string) bool {
			for _, f := range s.Truth.Findings {
				if f == code {
					return true
				}
			}
			return false
		}
		if x := productOf(it.HSCode); x != nil && !has(FindingHSMisdeclared) {
			usdPerKg := it.DeclaredValue * usdRate[it.Currency] / it.NetWeightKg
			low := usdPerKg < 0.6*x.usdPerKg
			switch {
			case has(FindingUndervaluation):
				uvHit.add(low)
			case !hit:
				uvClean.add(low)
			}
		}
		if s.Manifest != nil {
			cc := crossCheck(s.Decl, s.Manifest)
			switch {
			case has(FindingWeight):
				wtHit.add(cc.WeightDeviation > 0.08 || cc.UndeclaredContainers > 0)
			case !hit:
				wtClean.add(cc.WeightDeviation > 0.08 || cc.UndeclaredContainers > 0)
			}
			natural := false
			if x := productOf(it.HSCode); x != nil {
				for _, o := range x.origins {
					natural = natural || o.code == it.OriginCountry
				}
			}
			suspicious := cc.OriginRouteMismatch || !natural
			switch {
			case has(FindingOriginMisdeclared):
				orHit.add(suspicious)
			case !hit:
				orClean.add(suspicious)
			}
		}
	}

	base := all.value()
	t.Logf("hit rate %.4f over %d; risky importers %.3f (%d), risky declarants %.3f (%d), clean %.4f, hot cells %.3f (%d)",
		base, all.n, riskyImp.value(), riskyImp.n, riskyDecl.value(), riskyDecl.n, cleanBoth.value(), hotCells.value(), hotCells.n)
	t.Logf("late hot spots before %.3f (%d) after %.3f (%d); ring before %d after %.3f (%d)",
		lateBefore.value(), lateBefore.n, lateAfter.value(), lateAfter.n, ringBefore.n, ringAfter.value(), ringAfter.n)
	t.Logf("low unit value: undervalued %.2f clean %.2f; weight deviation: weight fraud %.2f clean %.3f; origin suspicious: laundered %.2f clean %.3f",
		uvHit.value(), uvClean.value(), wtHit.value(), wtClean.value(), orHit.value(), orClean.value())

	checks := []struct {
		name string
		ok   bool
	}{
		{"the overall hit rate is near BaseHitRate", base > 0.6*cfg.BaseHitRate && base < 1.5*cfg.BaseHitRate},
		{"risky importers hit far more often than the base", riskyImp.n > 1000 && riskyImp.value() > 4*base},
		{"complicit declarants raise the hit rate of ordinary importers", riskyDecl.n > 1000 && riskyDecl.value() > 1.8*cleanBoth.value()},
		{"HS×origin hot spots hit far more often than the base", hotCells.n > 300 && hotCells.value() > 3*base},
		{"late hot spots are quiet before they appear", lateBefore.n > 100 && lateAfter.n > 100 && lateAfter.value() > 2*lateBefore.value()},
		{"the ring trades only after the drift, and is non-compliant", ringBefore.n == 0 && ringAfter.n > 300 && ringAfter.value() > 4*base},
		{"undervalued items mostly sit below 60% of their HS6 median", uvHit.value() > 0.5 && uvClean.value() < 0.2},
		{"weight fraud shows against the manifest", wtHit.value() > 0.6 && wtClean.value() < 0.03},
		{"laundered origins show in the route or an unnatural origin", orHit.value() > 0.85 && orClean.value() < 0.1},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so", c.name)
		}
	}

	// Heavy-tailed volumes: the top 1% of importers lodge a large share of declarations.
	sort.Sort(sort.Reverse(sort.IntSlice(perEnt)))
	top := 0
	for _, n := range perEnt[:len(perEnt)/100] {
		top += n
	}
	if share := float64(top) / float64(all.n); share < 0.25 {
		t.Errorf("top 1%% of importers lodge %.2f of declarations, want a heavy tail (≥ 0.25)", share)
	}
}
