package targeting

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
)

// synthWorld generates labelled declarations with planted risk: a few risky importers, an
// HS×origin hot spot and undervaluation, on top of a 5% base rate.
type synthWorld struct {
	r      *rand.Rand
	t0     time.Time
	risky  map[string]bool
	prices map[string]float64
}

func newSynthWorld(seed uint64) *synthWorld {
	w := &synthWorld{r: rand.New(rand.NewPCG(seed, seed+1)), t0: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), risky: map[string]bool{}, prices: map[string]float64{}}
	for i := 0; i < 300; i++ {
		if w.r.IntN(10) == 0 {
			w.risky["IMP"+strconv.Itoa(i)] = true
		}
	}
	return w
}

var synthHS = []string{"0303890090", "0302110000", "8471300000", "4403960000", "1001990000", "6109100000", "9503000000", "3004900000"}
var synthOrigins = []string{"JP", "CN", "RU", "VN", "US"}

func (w *synthWorld) example(i int) Labelled {
	r := w.r
	imp := "IMP" + strconv.Itoa(int(math.Min(299, r.ExpFloat64()*60)))
	hs := synthHS[r.IntN(len(synthHS))]
	origin := synthOrigins[r.IntN(len(synthOrigins))]
	kg := 100 + r.Float64()*5000
	price := 10 * math.Pow(2, float64(len(hs)%5+int(hs[1]-'0')))
	under := r.IntN(12) == 0
	if under {
		price *= 0.3
	}
	price *= math.Exp(r.NormFloat64() * 0.15)
	d := &ingest.Declaration{
		Schema: ingest.SchemaDeclarationV1, Number: fmt.Sprintf("2200%014d", i), Version: 1, Direction: ingest.Import,
		DeclaredAt: w.t0.Add(time.Duration(i) * 10 * time.Minute), Port: "2200", TradeMode: "0110", TransportMode: "2",
		Consignee: ingest.Enterprise{CustomsCode: imp}, Consignor: ingest.Enterprise{CustomsCode: "S" + strconv.Itoa(r.IntN(50))},
		Declarant: "D" + strconv.Itoa(r.IntN(20)), DepartureCountry: origin,
		Attributes: map[string]string{"PAYMENT": []string{"LC", "TT", "DP"}[r.IntN(3)]},
		Items:      []ingest.Item{{Seq: 1, HSCode: hs, Quantity: kg, NetWeightKg: kg, DeclaredValue: kg * price, Currency: "CNY", OriginCountry: origin, ValueBase: kg * price}},
	}
	lo := logit(0.04)
	if w.risky[imp] {
		lo += 2.2
	}
	if hs[:4] == "0303" && origin == "JP" {
		lo += 2.0
	}
	if under {
		lo += 2.0
	}
	hit := r.Float64() < sigmoid(lo)
	return Labelled{Decl: d, Hit: hit, Propensity: 1, At: d.DeclaredAt}
}

func TestFitLearnsPlantedRiskAndBeatsThePriorModel(t *testing.T) {
	w := newSynthWorld(42)
	var train, test []Labelled
	for i := 0; i < 12000; i++ {
		train = append(train, w.example(i))
	}
	for i := 12000; i < 16000; i++ {
		test = append(test, w.example(i))
	}
	precision := func(e *Engine) float64 {
		scores, y := make([]float64, len(test)), make([]float64, len(test))
		for i, x := range test {
			// Score without learning from the test set: a fresh copy of the declaration.
			d := e.Decide(x.Decl, x.At)
			scores[i] = d.Probability
			if x.Hit {
				y[i] = 1
			}
		}
		return precisionAt(scores, y, 0.10)
	}
	prior := mustEngine(t, func(c *Config) { c.Combiner = CombinerLogistic })
	for _, x := range train { // the prior model with profiles learnt online
		d := prior.Decide(x.Decl, x.At)
		prior.Learn(Outcome{DeclarationNo: d.DeclarationNo, Version: 1, Hit: x.Hit, Propensity: 1, Features: d.Features, DecidedAt: x.At})
	}
	pPrior := precision(prior)

	e := mustEngine(t, func(c *Config) { c.Combiner = CombinerLogistic })
	rep, err := e.FitReport(context.Background(), train)
	if err != nil {
		t.Fatal(err)
	}
	if e.ModelVersion() == "v0-prior" || rep.Kind != CombinerLogistic {
		t.Fatalf("model version %s after fit (%+v)", e.ModelVersion(), rep)
	}
	pFit := precision(e)
	var base float64
	for _, x := range test {
		if x.Hit {
			base++
		}
	}
	base /= float64(len(test))
	t.Logf("base rate %.3f, precision@10%%: online profiles with prior weights %.3f, fitted %.3f", base, pPrior, pFit)
	if pFit < 2.5*base {
		t.Errorf("fitted precision %.3f is not well above the base rate %.3f", pFit, base)
	}
	if pFit+0.02 < pPrior {
		t.Errorf("fitted model (%.3f) is worse than the prior weights (%.3f)", pFit, pPrior)
	}
	l := e.state.Load().model.comb.(*Logistic)
	if wi := l.Weights[int(kImporter)-1]; !(wi > 0) {
		t.Errorf("importer weight %v: the risky importers were not learnt", wi)
	}
	if wu := l.Weights[xUnder]; !(wu > 0) {
		t.Errorf("undervaluation weight %v: undervaluation was not learnt", wu)
	}
}
