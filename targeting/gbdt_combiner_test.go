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
