package targeting

import (
	"testing"
	"time"
)

func outcomeFor(d Decision, hit bool, resultVersion int) Outcome {
	return Outcome{
		DeclarationNo: d.DeclarationNo, Version: d.Version, Hit: hit, Channel: d.Channel,
		Selection: d.Selection, Random: d.Random, Propensity: d.Propensity, ModelVersion: d.ModelVersion,
		Features: d.Features, ResultVersion: resultVersion, DecidedAt: d.DecidedAt,
		InspectedAt: d.DecidedAt.Add(48 * time.Hour),
	}
}

func posteriorMean(e *Engine, name, value string) float64 {
	a, b := e.Posterior(Feature{Name: name, Value: value})
	return a / (a + b)
}

func TestLearnMovesTheImportersPosterior(t *testing.T) {
	tests := []struct {
		name string
		hit  bool
		up   bool
	}{
		{"a hit raises the importer's posterior hit rate", true, true},
		{"a clean inspection lowers the importer's posterior hit rate", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := mustEngine(t, nil)
			now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
			d := e.Decide(testDecl(1, "IMP0000001"), now)
			before := posteriorMean(e, "importer", "IMP0000001")
			beforeHS := posteriorMean(e, "hs2", "03")
			for i := 0; i < 5; i++ {
				dd := e.Decide(testDecl(100+i, "IMP0000001"), now)
				e.Learn(outcomeFor(dd, tc.hit, 1))
			}
			e.Learn(outcomeFor(d, tc.hit, 1))
			after := posteriorMean(e, "importer", "IMP0000001")
			afterHS := posteriorMean(e, "hs2", "03")
			if (after > before) != tc.up || (afterHS > beforeHS) != tc.up {
				t.Fatalf("importer %.4f → %.4f, chapter 03 %.4f → %.4f; want up=%v", before, after, beforeHS, afterHS, tc.up)
			}
			if other := posteriorMean(e, "importer", "IMP0000002"); (after > other) != tc.up {
				t.Errorf("an unlabelled importer (%.4f) should sit between the labelled one (%.4f) and the extreme", other, after)
			}
		})
	}
}

func TestACorrectedLabelReplacesTheEarlierOne(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	e := mustEngine(t, nil)
	ref := mustEngine(t, nil)
	d := e.Decide(testDecl(1, "IMP0000001"), now)
	ref.Decide(testDecl(1, "IMP0000001"), now)

	e.Learn(outcomeFor(d, true, 1))  // recorded as a hit
	e.Learn(outcomeFor(d, false, 2)) // corrected: no hit after all
	ref.Learn(outcomeFor(d, false, 1))

	for _, f := range []Feature{{"importer", "IMP0000001"}, {"hs6", "030389"}, {"importer_hs4", "IMP0000001|0303"}, {"all", ""}} {
		a1, b1 := e.Posterior(f)
		a2, b2 := ref.Posterior(f)
		if !near(a1, a2) || !near(b1, b2) {
			t.Errorf("%s=%s: corrected posterior (%.6f, %.6f) differs from a clean one (%.6f, %.6f)", f.Name, f.Value, a1, b1, a2, b2)
		}
	}
	// A redelivered older version must not undo the correction.
	e.Learn(outcomeFor(d, true, 1))
	a1, b1 := e.Posterior(Feature{"importer", "IMP0000001"})
	a2, b2 := ref.Posterior(Feature{"importer", "IMP0000001"})
	if !near(a1, a2) || !near(b1, b2) {
		t.Errorf("a redelivered stale result changed the posterior to (%.6f, %.6f), want (%.6f, %.6f)", a1, b1, a2, b2)
	}
}

func TestARedeliveredLabelCountsOnce(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	e := mustEngine(t, nil)
	d := e.Decide(testDecl(1, "IMP0000001"), now)
	e.Learn(outcomeFor(d, true, 1))
	a1, b1 := e.Posterior(Feature{"importer", "IMP0000001"})
	e.Learn(outcomeFor(d, true, 1))
	a2, b2 := e.Posterior(Feature{"importer", "IMP0000001"})
	if a1 != a2 || b1 != b2 {
		t.Fatalf("posterior moved on a duplicate: (%v,%v) → (%v,%v)", a1, b1, a2, b2)
	}
}

func TestOldLabelsFadeWithTheHalfLife(t *testing.T) {
	e := mustEngine(t, func(c *Config) { c.HalfLife = 30 * 24 * time.Hour })
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	d := e.Decide(testDecl(1, "IMP0000001"), t0)
	for i := 0; i < 20; i++ {
		o := outcomeFor(d, true, 1)
		o.DeclarationNo = d.DeclarationNo + string(rune('a'+i))
		e.Learn(o)
	}
	fresh := posteriorMean(e, "importer", "IMP0000001")
	e.Decide(testDecl(2, "IMP0000009"), t0.Add(300*24*time.Hour)) // time passes
	faded := posteriorMean(e, "importer", "IMP0000001")
	if !(faded < fresh) {
		t.Fatalf("posterior %.4f did not fade after ten half-lives (was %.4f)", faded, fresh)
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-6 && d > -1e-6 }
