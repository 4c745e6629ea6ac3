package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/targeting"
)

// TestForecastFromHistory stores six weeks of past decisions at one port in ClickHouse and
// checks the forecast route: fourteen days with intervals, the refusal of bad options, and a
// clear answer where there is not enough history.
func TestForecastFromHistory(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	_, h := mustServer(t, testConfig(), Deps{Analytics: store})
	hq := loginAs(t, h, "hq_analyst-user", "password-hq_analyst") // bound to testPort

	if code, b := hq.get(t, "/v1/analytics/forecast"); code != http.StatusNotFound || decode[errorBody](t, b).Error.Code != "insufficient_history" {
		t.Errorf("without history: %d %s", code, b)
	}

	today := time.Now().UTC().Truncate(24 * time.Hour)
	var ds []targeting.Decision
	for day := 1; day <= 42; day++ {
		for i := range 3 + day%7 {
			d := targeting.Decision{Schema: targeting.SchemaDecisionV1, DeclarationNo: fmt.Sprintf("2200202600%04d%04d", day, i), Version: 1,
				Port: testPort, Importer: "3122260001", Channel: targeting.Green, Action: targeting.ActionRelease, ModelVersion: "v1",
				DecidedAt: today.AddDate(0, 0, -day).Add(10 * time.Hour)}
			if i == 0 {
				d.Channel, d.Action, d.Selection = targeting.Red, targeting.ActionPhysical, targeting.SelectedByModel
			}
			ds = append(ds, d)
		}
	}
	if err := store.InsertDecisions(ctx, ds); err != nil {
		t.Fatal(err)
	}
	code, b := hq.get(t, "/v1/analytics/forecast")
	fc := decode[forecastAnswer](t, b)
	if code != 200 || len(fc.Points) != 14 || fc.Port != testPort {
		t.Fatalf("%d %s", code, b)
	}
	for _, p := range fc.Points {
		if p.DeclarationsLo > p.Declarations || p.Declarations > p.DeclarationsHi || p.Declarations < 2 || p.Declarations > 12 ||
			p.Inspections < 0.5 || p.Inspections > 1.5 {
			t.Errorf("point %+v: six weeks of 3–9 declarations and one inspection a day predict otherwise", p)
		}
	}
	if code, _ := hq.get(t, "/v1/analytics/forecast?port=5300"); code != http.StatusForbidden {
		t.Errorf("another port: %d", code)
	}
	for q, want := range map[string]int{"?days=93": 422, "?history=7": 422, "?days=0": 400} {
		if code, b := hq.get(t, "/v1/analytics/forecast"+q); code != want {
			t.Errorf("%s: %d %s", q, code, b)
		}
	}
	w := do(t, h, request{method: "GET", path: "/v1/analytics/forecast?days=7&format=csv", cookies: hq.cookiesOf()})
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), "\ufeff"))).ReadAll()
	if w.Code != 200 || err != nil || len(recs) != 8 || recs[0][0] != "day" {
		t.Errorf("csv: %d %q %v", w.Code, recs, err)
	}
}
