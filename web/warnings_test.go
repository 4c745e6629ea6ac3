package web

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
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

// TestAlertReviewThroughTheAPI: an HQ analyst acknowledges an early warning with a comment and a
// risk analyst dismisses it; both land on the audit chain with who and why, the alert list
// separates open from reviewed alerts, and the wrong role, a missing comment, an unknown alert
// and a second acknowledgement are refused with precise answers.
func TestAlertReviewThroughTheAPI(t *testing.T) {
	r := newRig(t, testConfig())
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	mk := func(id string) analytics.Alert {
		return analytics.Alert{ID: id, Schema: analytics.SchemaAlertV1, Kind: analytics.AlertHitRate, SubjectKind: analytics.SubjectEnterprise,
			Subject: "3122260001", Port: rigPort, DetectedAt: now, WindowFrom: now.AddDate(0, 0, -14), WindowTo: now, Observed: 0.4,
			Expected: 0.05, PValue: 1e-6, QValue: 1e-4, State: analytics.AlertOpen,
			Evidence: analytics.Evidence{RecentN: 20, RecentK: 8, ZH: "查获率上升", EN: "hit rate rose"}}
	}
	if err := r.store.SaveAlerts(ctx, []analytics.Alert{mk("A-rev"), mk("A-other")}); err != nil {
		t.Fatal(err)
	}
	hq := loginAs(t, r.handler, "hq", "password-hq")
	const comment = "已下发布控指令，重点查验该企业"

	for _, u := range []struct{ user, pw string }{{rigOfficer, rigPassword}, {"supervisor", "password-supervisor"}} {
		c := loginAs(t, r.handler, u.user, u.pw)
		if code, b := c.post(t, "/v1/analytics/alerts/A-rev/acknowledge", alertReviewRequest{Comment: "x"}); code != http.StatusForbidden {
			t.Errorf("%s acknowledging: %d %s", u.user, code, b)
		}
	}
	code, b := hq.post(t, "/v1/analytics/alerts/A-rev/acknowledge", alertReviewRequest{Comment: "   "})
	if e := decode[errorBody](t, b).Error; code != http.StatusUnprocessableEntity || len(e.Fields) != 1 || e.Fields[0].Path != "comment" ||
		e.Fields[0].ZH == "" || e.Fields[0].EN == "" {
		t.Errorf("a blank comment: %d %s", code, b)
	}
	if code, b := hq.post(t, "/v1/analytics/alerts/A-nope/acknowledge", alertReviewRequest{Comment: comment}); code != http.StatusNotFound {
		t.Errorf("an unknown alert: %d %s", code, b)
	}

	code, b = hq.post(t, "/v1/analytics/alerts/A-rev/acknowledge", alertReviewRequest{Comment: comment})
	a := decode[analytics.Alert](t, b)
	if code != http.StatusOK || a.State != analytics.AlertAcknowledged || a.Review == nil || a.Review.By != "hq" ||
		a.Review.Comment != comment || time.Since(a.Review.At) > time.Minute {
		t.Fatalf("acknowledge: %d %s", code, b)
	}
	if code, b := hq.post(t, "/v1/analytics/alerts/A-rev/acknowledge", alertReviewRequest{Comment: comment}); code != http.StatusConflict {
		t.Errorf("acknowledging twice: %d %s", code, b)
	}
	list := func(state string) []string {
		t.Helper()
		code, b := hq.get(t, "/v1/analytics/alerts?state="+state)
		if code != http.StatusOK {
			t.Fatalf("alerts?state=%s: %d %s", state, code, b)
		}
		var ids []string
		for _, x := range decode[alertsAnswer](t, b).Alerts {
			ids = append(ids, x.ID+"="+x.State)
		}
		return ids
	}
	if got := list("open"); !slices.Equal(got, []string{"A-other=open"}) {
		t.Errorf("open alerts: %v", got)
	}
	if got := list("acknowledged"); !slices.Equal(got, []string{"A-rev=acknowledged"}) {
		t.Errorf("acknowledged alerts: %v", got)
	}
	if code, b := hq.get(t, "/v1/analytics/alerts?state=closed"); code != http.StatusBadRequest && code != http.StatusUnprocessableEntity {
		t.Errorf("an unknown state: %d %s", code, b)
	}

	analyst := loginAs(t, r.handler, "analyst1", "password-analyst1")
	if code, b := analyst.post(t, "/v1/analytics/alerts/A-rev/dismiss", alertReviewRequest{Comment: "企业已说明：季节性到货"}); code != http.StatusOK {
		t.Fatalf("dismiss: %d %s", code, b)
	}
	if got := list("dismissed"); !slices.Equal(got, []string{"A-rev=dismissed"}) {
		t.Errorf("dismissed alerts: %v", got)
	}

	code, b = hq.get(t, "/v1/audit/trail/alert:A-rev")
	recs := decode[[]clearance.AuditRecord](t, b)
	if code != http.StatusOK || len(recs) != 2 {
		t.Fatalf("audit trail of the alert: %d %s", code, b)
	}
	for i, want := range []struct{ actor, action, comment string }{{"hq", "alert.acknowledge", comment}, {"analyst1", "alert.dismiss", "企业已说明：季节性到货"}} {
		var d struct{ From, To, Comment string }
		if err := json.Unmarshal([]byte(recs[i].Detail), &d); err != nil {
			t.Fatal(err)
		}
		if recs[i].Actor != want.actor || recs[i].Action != want.action || d.Comment != want.comment || recs[i].Hash == "" {
			t.Errorf("audit record %d = %+v, want %s by %s with %q", i, recs[i], want.action, want.actor, want.comment)
		}
	}
}
