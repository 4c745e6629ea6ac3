package evaluate

import (
	"context"
	"testing"

	"github.com/portguard/portguard/targeting"
)

// TestTheEngineRanksAtLeastAsWellAsTunedTreesOnTheSameRows is issue 4's quality target: on
// generated labelled history read through the CSV mapping (as `portguard evaluate` reads it),
// the precision of the engine's top 10% must not fall below that of gradient-boosted trees
// trained directly on the same rows (raw and derived numerics, out-of-fold target-encoded
// categoricals with their frequencies, depth and learning rate tuned on a time-ordered
// validation split, rounds by early stopping) by more than a point, seed by seed.
func TestTheEngineRanksAtLeastAsWellAsTunedTreesOnTheSameRows(t *testing.T) {
	var sumE, sumB float64
	seeds := []int64{3, 5, 8}
	for _, seed := range seeds {
		rows := csvRows(t, seed, 20000, 200)
		cut := len(rows) * 3 / 4
		train, test := rows[:cut], rows[cut:]
		base, err := tunedBaseline(context.Background(), train, test)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Evaluate(context.Background(), train, test, targeting.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		p10 := rep.At[3]
		if p10.Rate != 0.10 {
			t.Fatalf("At[3] is rate %v", p10.Rate)
		}
		t.Logf("seed %d (%d train, %d test, base rate %.3f): engine %s AUC %.3f AP %.3f p@10%% %.3f; trees (depth %d, lr %.2f, %d rounds) AUC %.3f AP %.3f p@10%% %.3f",
			seed, len(train), len(test), rep.BaseRate, rep.ModelVersion, rep.AUC, rep.AveragePrecision, p10.Precision,
			base.Depth, base.LearningRate, base.Trees, base.AUC, base.AP, base.P10)
		if p10.Precision < base.P10-0.01 {
			t.Errorf("seed %d: engine precision at 10%% %.3f, tuned trees %.3f", seed, p10.Precision, base.P10)
		}
		sumE, sumB = sumE+p10.Precision, sumB+base.P10
	}
	t.Logf("mean precision at 10%%: engine %.3f, tuned trees %.3f", sumE/float64(len(seeds)), sumB/float64(len(seeds)))
}
