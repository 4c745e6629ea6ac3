package targeting

import (
	"math"
)

// The combiner's input vector has a fixed layout: one slot per profiled kind (the log-odds of
// its posterior mean minus the overall log-odds, the riskiest item's for item kinds), then the
// numeric indicators, then one slot per extra attribute and per extra numeric measure the model
// was trained with.
const numProfileSlots = int(kAttr) - 1 // kImporter … kDeclarantImporter

const (
	xGlobal       = numProfileSlots + iota // overall log-odds: lets a fixed model follow the base rate
	xUnder                                 // undervaluation: −z of the cheapest item, ≥ 0
	xOver                                  // overvaluation: z of the dearest item, ≥ 0
	xLogValue                              // log1p(total base value)
	xLogKg                                 // log1p(total net kg)
	xLogUV                                 // log10 unit value of the riskiest item
	xWeightDev                             // manifest weight deviation, capped
	xRoute                                 // origin inconsistent with route (0/1)
	xUndeclared                            // log1p(undeclared containers)
	xNewImporter                           // importer without inspection history (0/1)
	xNewDeclarant                          // declarant without inspection history (0/1)
	xItems                                 // log(number of items)
	xHS2Num                                // HS chapter of the riskiest item as a number, for trees
	xHS4Num                                // HS heading of the riskiest item as a number, for trees
	xSeverity                              // severity weight of the riskiest HS range
	numFixedSlots
)

const (
	maxAttrSlots    = 16
	maxMeasureSlots = 16
	maxX            = numFixedSlots + maxAttrSlots + maxMeasureSlots
)

var indicatorNames = [numFixedSlots - numProfileSlots]string{
	"global", "undervaluation", "overvaluation", "log_value", "log_kg", "log_unit_value",
	"weight_deviation", "route_mismatch", "undeclared_containers", "new_importer",
	"new_declarant", "log_items", "hs2", "hs4", "severity",
}

// SlotName names slot i of the combiner input for a model trained with attrs and measures.
func slotName(i int, attrs, measures []string) string {
	switch {
	case i < numProfileSlots:
		return kindNames[i+1]
	case i < numFixedSlots:
		return indicatorNames[i-numProfileSlots]
	case i < numFixedSlots+len(attrs):
		return attrPrefix + attrs[i-numFixedSlots]
	case i < numFixedSlots+len(attrs)+len(measures):
		return "measure:" + measures[i-numFixedSlots-len(attrs)]
	}
	return ""
}

// Combiner turns a consignment's input vector into a calibrated probability of a hit. It must
// be safe for concurrent use and must not retain x. The logistic model is the champion; a
// gradient-boosted-trees model plugs in through the same interface.
type Combiner interface {
	// Kind names the model family, e.g. "logistic" or "gbdt".
	Kind() string
	// Predict returns the probability of a hit for input x.
	Predict(x []float64) float64
}

// Explainer is implemented by combiners that can attribute a prediction to its inputs: out[i]
// receives the log-odds contribution of x[i] relative to an average consignment.
type Explainer interface {
	Contributions(x, out []float64)
}

// Logistic is a regularized logistic regression over standardized inputs.
type Logistic struct {
	Bias    float64   `json:"bias"`
	Weights []float64 `json:"weights"`
	Mean    []float64 `json:"mean"`  // input means, subtracted before weighting
	Scale   []float64 `json:"scale"` // input standard deviations, divided by (1 when unused)
}

// Kind implements Combiner.
func (l *Logistic) Kind() string { return CombinerLogistic }

// Predict implements Combiner.
func (l *Logistic) Predict(x []float64) float64 {
	z := l.Bias
	n := min(len(x), len(l.Weights))
	for i := 0; i < n; i++ {
		if w := l.Weights[i]; w != 0 {
			z += w * (x[i] - l.Mean[i]) / l.Scale[i]
		}
	}
	return sigmoid(z)
}

// Contributions implements Explainer.
func (l *Logistic) Contributions(x, out []float64) {
	n := min(len(x), len(l.Weights), len(out))
	for i := 0; i < n; i++ {
		out[i] = l.Weights[i] * (x[i] - l.Mean[i]) / l.Scale[i]
	}
	for i := n; i < len(out); i++ {
		out[i] = 0
	}
}

// priorCombiner is the model used before any Fit: a naive-Bayes-like sum of damped profile
// log-odds and indicator evidence. Its weights are judgement, not learnt; the first Fit
// replaces it.
func priorCombiner() *Logistic {
	l := &Logistic{Weights: make([]float64, numFixedSlots), Mean: make([]float64, numFixedSlots), Scale: make([]float64, numFixedSlots)}
	for i := range l.Scale {
		l.Scale[i] = 1
	}
	w := map[int]float64{
		int(kImporter) - 1: 0.6, int(kConsignor) - 1: 0.3, int(kDeclarant) - 1: 0.3,
		int(kHS2) - 1: 0.2, int(kHS4) - 1: 0.2, int(kHS6) - 1: 0.4, int(kOrigin) - 1: 0.4,
		int(kDeparture) - 1: 0.2, int(kPort) - 1: 0.1, int(kTradeMode) - 1: 0.2, int(kTransport) - 1: 0.1,
		int(kImporterHS4) - 1: 0.3, int(kHS6Origin) - 1: 0.3, int(kDeclarantImporter) - 1: 0.2,
		xGlobal: 1, xUnder: 0.4, xWeightDev: 2, xRoute: 0.7, xUndeclared: 0.7, xNewImporter: 0.3,
	}
	for i, v := range w {
		l.Weights[i] = v
	}
	return l
}

// model is one trained, immutable model version.
type model struct {
	version  string
	comb     Combiner
	attrs    []string // extra attributes with their own slot, in slot order
	measures []string // extra numeric measures with their own slot
	// validation figures from Fit, for Health and the report
	auc, precision float64
	// revenue recovered per unit of declared value among hits, overall and per HS chapter,
	// for ObjectiveRevenue (0 and nil: none learnt; the value alone ranks)
	revAll  float64
	revRate map[string]float64
}

func (m *model) width() int { return numFixedSlots + len(m.attrs) + len(m.measures) }

// clampSlot bounds a value to a sane range: inputs feed exp() and weights.
func clampSlot(v, lo, hi float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return min(max(v, lo), hi)
}
