package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

func binom(rng *rand.Rand, n int, p float64) uint64 {
	k := uint64(0)
	for range n {
		if rng.Float64() < p {
			k++
		}
	}
	return k
}

// TestFalseDiscoveryRateHoldsOverSeeds simulates, for 40 seeds, 400 cells whose rate did not
// change and 20 whose rate rose from 5% to 30%, and checks that the share of false alerts among
// all alerts averages within the 5% target (plus a tolerance for 40 runs), that a flat world
// raises almost no alert, and that the real rises are found.
func TestFalseDiscoveryRateHoldsOverSeeds(t *testing.T) {
	const seeds, nulls, rises = 40, 400, 20
	var fdpSum, flatAlerts float64
	found := 0
	for seed := range uint64(seeds) {
		rng := rand.New(rand.NewPCG(seed, 99))
		var cells []cell
		for i := range nulls + rises {
			p1 := 0.05
			if i >= nulls {
				p1 = 0.3
			}
			n0 := 100 + rng.IntN(400)
			cells = append(cells, cell{kind: AlertHitRate, subjectKind: SubjectEnterprise, subject: fmt.Sprint(i),
				n0: uint64(n0), k0: binom(rng, n0, 0.05), n1: 40, k1: binom(rng, 40, p1)})
		}
		alerts := testCells(cells, 0.05, 30)
		falses := 0
		for _, a := range alerts {
			var i int
			fmt.Sscan(a.Subject, &i)
			if i < nulls {
				falses++
			} else {
				found++
			}
		}
		fdpSum += float64(falses) / float64(max(len(alerts), 1))
		flatAlerts += float64(len(testCells(cells[:nulls], 0.05, 30)))
	}
	if fdp := fdpSum / seeds; fdp > 0.05+0.03 {
		t.Errorf("mean false discovery proportion %.3f over %d seeds, want ≤ 0.05 (+0.03)", fdp, seeds)
	}
	if mean := flatAlerts / seeds; mean > 0.2 {
		t.Errorf("a flat world of %d cells raised %.2f alerts per run, want almost none", nulls, mean)
	}
	if power := float64(found) / (seeds * rises); power < 0.8 {
		t.Errorf("found %.0f%% of the real rises, want most", 100*power)
	}
}

func TestBinomialUpperTail(t *testing.T) {
	tests := []struct {
		name string
		n, k uint64
		p    float64
		want float64
	}{
		{"at least zero successes is certain", 10, 0, 0.3, 1},
		{"at least one success in two fair trials", 2, 1, 0.5, 0.75},
		{"all three of three at 0.1", 3, 3, 0.1, 0.001},
		{"more successes than trials is impossible", 3, 4, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := binomialUpper(tt.n, tt.p, tt.k); !near(got, tt.want) {
				t.Fatalf("P(X ≥ %d | n=%d, p=%v) = %v, want %v", tt.k, tt.n, tt.p, got, tt.want)
			}
		})
	}
}

// TestDetectAlertsFindsPlantedRisesAndPublishesThem plants, among 40 enterprises inspected at a
// steady 5%, one whose hit rate jumped to 50% in the last two weeks, and one importer whose
// goods lines suddenly cost a fifth of their HS6 norm; both are found, the steady ones are not,
// and the alerts are stored and published with their evidence.
func TestDetectAlertsFindsPlantedRisesAndPublishesThem(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	now := day0.AddDate(0, 6, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	h := &gradeHistory{s: s}
	for e := range 40 {
		name := fmt.Sprintf("STEADY-%02d", e)
		h.add(name, 80, int(binom(rng, 80, 0.05)), 1, now.AddDate(0, -3, 0), false)
		h.add(name, 20, int(binom(rng, 20, 0.05)), 1, now.AddDate(0, 0, -7), false)
	}
	h.add("RISE", 80, 4, 1, now.AddDate(0, -3, 0), false)
	h.add("RISE", 20, 10, 2, now.AddDate(0, 0, -7), false)
	h.flush(t)
	// Goods lines of HS6 030389: 5 CNY/kg (±20%) from everyone, then 1 CNY/kg from CHEAP.
	var decls []*ingest.Declaration
	for i := range 120 {
		at := now.AddDate(0, -2, 0).Add(time.Duration(i) * time.Hour)
		d := testDeclaration(fmt.Sprintf("4401%014d", i), 1, at)
		d.Consignee.CustomsCode = fmt.Sprintf("31019600%02d", i%10)
		d.Items = d.Items[:1]
		d.Items[0].NetWeightKg, d.Items[0].ValueBase = 1000, 5000*(0.8+0.4*rng.Float64())
		decls = append(decls, d)
	}
	for i := range 15 {
		d := testDeclaration(fmt.Sprintf("4402%014d", i), 1, now.AddDate(0, 0, -5).Add(time.Duration(i)*time.Hour))
		d.Consignee.CustomsCode = "3101CHEAP0"
		d.Items = d.Items[:1]
		d.Items[0].NetWeightKg, d.Items[0].ValueBase = 1000, 1000
		decls = append(decls, d)
	}
	if err := s.InsertDeclarations(ctx, decls); err != nil {
		t.Fatal(err)
	}
	alerts, err := s.DetectAlerts(ctx, AlertOptions{At: now, Subjects: []string{SubjectEnterprise}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Alert{}
	for _, a := range alerts {
		got[a.Kind+" "+a.Subject] = a
	}
	rise, ok := got[AlertHitRate+" RISE"]
	if !ok || rise.Evidence.RecentK != 10 || rise.Evidence.RecentN != 20 || rise.Evidence.BaselineK != 4 ||
		rise.Evidence.BaselineN != 80 || rise.QValue > 0.05 || rise.PValue > rise.QValue || rise.Evidence.Tested < 41 {
		t.Fatalf("planted hit-rate rise not found with its evidence: %+v (all: %+v)", rise, alerts)
	}
	cheap, ok := got[AlertUndervaluation+" 3101CHEAP0"]
	if !ok || cheap.Evidence.RecentK != 15 || cheap.Observed != 1 {
		t.Fatalf("planted undervaluation not found: %+v (all: %+v)", cheap, alerts)
	}
	if len(alerts) > 3 {
		t.Errorf("%d alerts, want the two planted ones and at most one false: %+v", len(alerts), alerts)
	}
	if err := s.SaveAlerts(ctx, alerts); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveAlerts(ctx, alerts); err != nil { // saving again changes nothing
		t.Fatal(err)
	}
	stored, err := s.Alerts(ctx, AlertFilter{Kind: AlertHitRate})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || stored[0].ID != rise.ID && len(stored) == 1 {
		t.Fatalf("stored hit-rate alerts %+v", stored)
	}
	for _, a := range stored {
		if a.Kind != AlertHitRate || a.Evidence.EN == "" {
			t.Fatalf("stored alert %+v", a)
		}
	}

	b := kafkatest.Start(t, 1, kfake.SeedTopics(1, "portguard.alerts"))
	p := ingest.NewProducer([]string{b.Addr})
	defer p.Close()
	if err := PublishAlerts(ctx, p, "portguard.alerts", alerts); err != nil {
		t.Fatal(err)
	}
	msgs := b.Consume(t, "portguard.alerts", len(alerts), 10*time.Second)
	if len(msgs) != len(alerts) {
		t.Fatalf("published %d alerts, consumed %d", len(alerts), len(msgs))
	}
	var first Alert
	if err := json.Unmarshal(msgs[0].Value, &first); err != nil || first.Schema != SchemaAlertV1 || string(msgs[0].Key) != first.ID || first.Evidence.RecentN == 0 {
		t.Fatalf("message %s: %+v (%v)", msgs[0].Value, first, err)
	}
}
