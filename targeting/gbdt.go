package targeting

import (
	"context"

	"github.com/portguard/portguard/targeting/gbdt"
)

// gbdtCombiner adapts a gradient-boosted-trees model to the Combiner interface. Trees see the
// same input vector as the logistic model — profile log-odds, indicators and raw numerics —
// and find the interactions between them that a linear model cannot.
type gbdtCombiner struct{ m *gbdt.Model }

// Kind implements Combiner.
func (g gbdtCombiner) Kind() string { return CombinerGBDT }

// Predict implements Combiner.
func (g gbdtCombiner) Predict(x []float64) float64 { return g.m.Predict(x) }

// Contributions implements Explainer with the trees' own path attributions (Saabas), so the
// reasons of a decision name what the trees actually weighed.
func (g gbdtCombiner) Contributions(x, out []float64) {
	n := min(len(out), g.m.NumFeatures())
	copy(out, g.m.Contributions(x, out[:n])) // in place unless out is too short
	clear(out[n:])
}

func init() {
	challengers = append(challengers, trainer{kind: CombinerGBDT, train: func(ctx context.Context, cfg *Config, X [][]float64, y, w []float64) (Combiner, error) {
		m, err := gbdt.TrainContext(ctx, X, y, w, cfg.Trees)
		if err != nil {
			return nil, err
		}
		return gbdtCombiner{m: m}, nil
	}})
}
