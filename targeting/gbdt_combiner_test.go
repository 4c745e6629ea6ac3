package targeting

import (
	"context"
	"testing"
)

func TestAutoFitTriesTheTreesChallengerAndKeepsTheBetterModel(t *testing.T) {
	w := newSynthWorld(7)
	var train []Labelled
	for i := 0; i < 8000; i++ {
		train = append(train, w.example(i))
	}
	e := mustEngine(t, nil) // Combiner auto
	rep, err := e.FitReport(context.Background(), train)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Candidates) != 2 {
		t.Fatalf("candidates %+v, want logistic and gbdt", rep.Candidates)
	}
	var chosen CandidateMetrics
	for _, c := range rep.Candidates {
		if c.Chosen {
			chosen = c
		}
	}
	for _, c := range rep.Candidates {
		if c.Precision > chosen.Precision+1e-9 {
			t.Errorf("%s (%.3f) beat the chosen %s (%.3f) on validation", c.Kind, c.Precision, chosen.Kind, chosen.Precision)
		}
	}
	if rep.Kind != chosen.Kind || e.state.Load().model.comb.Kind() != chosen.Kind {
		t.Errorf("engine runs %s, report chose %s", e.state.Load().model.comb.Kind(), chosen.Kind)
	}
	t.Logf("%+v", rep)
	d := e.Decide(w.example(9000).Decl, w.t0)
	if d.ModelVersion != rep.ModelVersion || len(d.Reasons) == 0 {
		t.Errorf("decision after fit: %+v", d)
	}
}

func TestTreesChampionExplainsDecisionsWithItsOwnContributions(t *testing.T) {
	w := newSynthWorld(5)
	var train []Labelled
	for i := 0; i < 8000; i++ {
		train = append(train, w.example(i))
	}
	e := mustEngine(t, func(c *Config) { c.Combiner = CombinerGBDT })
	if err := e.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	g, ok := e.state.Load().model.comb.(gbdtCombiner)
	if !ok {
		t.Fatalf("champion is %s", e.state.Load().model.comb.Kind())
	}
	// A risky importer's consignments: the trees credit the importer profile, and the decision
	// says so with the trees' own weight (the prior weights would give 0.6 × its log-odds).
	named, n := 0, 0
	for i := 8000; i < 12000 && n < 200; i++ {
		x := w.example(i)
		if !w.risky[x.Decl.Consignee.CustomsCode] {
			continue
		}
		n++
		d := e.Decide(x.Decl, x.At)
		for _, r := range d.Reasons {
			if r.Code == "profile.importer" {
				named++
				if !(r.Weight > 0.1) {
					t.Errorf("importer reason weight %v", r.Weight)
				}
			}
		}
	}
	imp := g.m.Importance()[int(kImporter)-1]
	t.Logf("%d of %d risky importers' decisions name the importer; trees' importer gain %.1f", named, n, imp)
	if n == 0 || named < n/3 {
		t.Errorf("only %d of %d decisions for risky importers name the importer", named, n)
	}
}
