package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// seedHistory decides three RED declarations through the API and records two results (one hit)
// through the API, then waits until ClickHouse's dashboards count them.
func seedHistory(t *testing.T, r *rig, numbers ...string) {
	t.Helper()
	officer := loginAs(t, r.handler, rigOfficer, rigPassword)
	for _, n := range numbers {
		if res := r.decide(t, goldenDeclaration(t, n)); res.code != http.StatusCreated {
			t.Fatalf("decide %s: %d %s", n, res.code, res.body)
		}
	}
	for i, n := range numbers[:2] {
		task := r.waitTask(t, ingest.DeclarationID(n, 1))
		in := clearance.ResultInput{TaskID: task.ID, ExpectedVersion: task.Version, Outcome: clearance.Conforming, Disposition: clearance.DispRelease}
		if i == 0 {
			in.Outcome, in.Disposition, in.Adjustment = clearance.NonConforming, clearance.DispTreatRelease, 1500
			in.Findings = []clearance.Finding{{Code: clearance.FindQuarantinePest, Severity: 3}}
		}
		if code, b := officer.post(t, "/v1/inspection-results", in); code != http.StatusCreated {
			t.Fatalf("result %s: %d %s", n, code, b)
		}
	}
	hq := loginAs(t, r.handler, "hq", "password-hq")
	kafkatest.WaitFor(t, 30*time.Second, "ClickHouse never counted the history", func() bool {
		code, b := hq.get(t, "/v1/analytics/trend")
		if code != 200 {
			t.Fatalf("trend: %d %s", code, b)
		}
		var decl, res uint64
		for _, row := range decode[trendAnswer](t, b).Rows {
			decl += row.Declarations
			res += row.Results
		}
		return decl == uint64(len(numbers)) && res == 2
	})
}

// TestAnalyticsThroughTheAPI checks every analytics route against history the real services
// wrote to ClickHouse: trend with groups, filters and CSV, honest hit rates, rule and model
// yield, and the refusals of bad queries.
func TestAnalyticsThroughTheAPI(t *testing.T) {
	r := newRig(t, testConfig())
	seedHistory(t, r, "222920260000099701", "222920260000099702", "222920260000099703")
	hq := loginAs(t, r.handler, "hq", "password-hq")

	t.Run("the trend grouped by port and channel counts three RED declarations, two results and one hit", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/trend?group_by=port,channel&interval=week")
		res := decode[trendAnswer](t, b)
		if code != 200 || len(res.Rows) != 1 || res.Interval != analytics.Week {
			t.Fatalf("%d %s", code, b)
		}
		row := res.Rows[0]
		if !slices.Equal(row.Group, []string{rigPort, "RED"}) || row.Declarations != 3 || row.Inspected != 3 || row.Results != 2 ||
			row.Hits != 1 || row.Revenue != 1500 || row.HitRate != 0.5 {
			t.Errorf("row = %+v", row)
		}
		if res.From == "" || res.To == "" {
			t.Errorf("scope not echoed: %s", b)
		}
	})

	t.Run("a filter narrows the trend and an unknown value finds nothing", func(t *testing.T) {
		for q, want := range map[string]uint64{"?port=" + rigPort: 3, "?port=5300": 0, "?hs4=0803&origin=VN": 3, "?channel=GREEN": 0} {
			code, b := hq.get(t, "/v1/analytics/trend"+q)
			var n uint64
			for _, row := range decode[trendAnswer](t, b).Rows {
				n += row.Declarations
			}
			if code != 200 || n != want {
				t.Errorf("%s: %d declarations, want %d: %s", q, n, want, b)
			}
		}
	})

	t.Run("the trend exports as CSV for Excel", func(t *testing.T) {
		w := do(t, r.handler, request{method: "GET", path: "/v1/analytics/trend?group_by=channel&format=csv", cookies: hq.cookiesOf()})
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
			!strings.Contains(w.Header().Get("Content-Disposition"), "portguard-trend-") {
			t.Fatalf("%d %v", w.Code, w.Header())
		}
		body, ok := strings.CutPrefix(w.Body.String(), "\ufeff")
		if !ok {
			t.Errorf("no byte-order mark")
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(recs) != 2 || recs[0][1] != "channel" || recs[1][1] != "RED" || recs[1][2] != "3" {
			t.Errorf("csv = %q, %v", recs, err)
		}
	})

	t.Run("bad analytics queries are refused with the field at fault", func(t *testing.T) {
		for q, field := range map[string]string{
			"trend?group_by=importer_password":          "group_by",
			"trend?group_by=port,port":                  "group_by",
			"trend?interval=year":                       "interval",
			"trend?format=xml":                          "format",
			"hit-rates?from=2026-02-30":                 "from",
			"rule-yield?from=2026-03-10&to=2026-03-01":  "to",
			"model-yield?from=2020-01-01&to=2026-01-01": "from",
		} {
			code, b := hq.get(t, "/v1/analytics/"+q)
			e := decode[errorBody](t, b).Error
			if code != http.StatusUnprocessableEntity || len(e.Fields) == 0 || e.Fields[0].Path != field {
				t.Errorf("%s: %d %s", q, code, b)
			}
		}
	})

	t.Run("a supervisor bound to another port sees only that port", func(t *testing.T) {
		other := loginAs(t, r.handler, "supervisor-elsewhere", "password-supervisor-elsewhere")
		if code, _ := other.get(t, "/v1/analytics/trend?port="+rigPort); code != http.StatusForbidden {
			t.Errorf("asking for another port: %d", code)
		}
		code, b := other.get(t, "/v1/analytics/trend")
		if res := decode[trendAnswer](t, b); code != 200 || len(res.Rows) != 0 || res.Filters["port"][0] != "5300" {
			t.Errorf("own port: %d %s", code, b)
		}
	})

	t.Run("hit rates separate the targeted inspections from the random control", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/hit-rates")
		hr := decode[hitRatesAnswer](t, b).HitRates
		if code != 200 || hr.Declarations != 3 || hr.Targeted.N != 2 || hr.Targeted.Hits != 1 || hr.Random.N != 0 ||
			hr.Targeted.Lo <= 0 || hr.Targeted.Hi >= 1 || hr.Targeted.Lo >= 0.5 {
			t.Errorf("%d %s", code, b)
		}
	})

	t.Run("rule yield counts the rule's selections and hits, for one rule when asked", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/rule-yield?rule=R1")
		rules := decode[ruleYieldAnswer](t, b).Rules
		if code != 200 || len(rules) != 1 || rules[0].Rule != "R1" || rules[0].Fired != 3 || rules[0].Selected != 3 ||
			rules[0].Yield.N != 2 || rules[0].Yield.Hits != 1 || rules[0].LastHit.IsZero() {
			t.Errorf("%d %s", code, b)
		}
		w := do(t, r.handler, request{method: "GET", path: "/v1/analytics/rule-yield?format=csv", cookies: hq.cookiesOf()})
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), "\ufeff"))).ReadAll()
		if w.Code != 200 || err != nil || len(recs) < 2 || recs[0][0] != "rule" || recs[1][0] != "R1" || recs[1][6] != "1" {
			t.Errorf("csv: %d %q %v", w.Code, recs, err)
		}
	})

	t.Run("grades list the importer with its inspections and hit", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/grades")
		gs := decode[gradesAnswer](t, b).Grades
		i := slices.IndexFunc(gs, func(g analytics.EnterpriseGrade) bool { return g.Enterprise == "3122260001" })
		if code != 200 || i < 0 || gs[i].Results != 2 || gs[i].Hits != 1 || !slices.Contains(gradeNames, gs[i].Grade) || gs[i].ReasonZH == "" {
			t.Fatalf("%d %s", code, b)
		}
		if code, b := hq.get(t, "/v1/analytics/grades?grade=purple"); code != http.StatusUnprocessableEntity {
			t.Errorf("bogus grade: %d %s", code, b)
		}
		w := do(t, r.handler, request{method: "GET", path: "/v1/analytics/grades?format=csv", cookies: hq.cookiesOf()})
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(w.Body.String(), "\ufeff"))).ReadAll()
		if w.Code != 200 || err != nil || len(recs) != len(gs)+1 || recs[0][1] != "grade" {
			t.Errorf("csv: %d %q %v", w.Code, recs, err)
		}
	})

	t.Run("stored alerts are listed with their evidence, and another port's are not", func(t *testing.T) {
		now := time.Now().UTC().Truncate(time.Second)
		mk := func(id, port string) analytics.Alert {
			return analytics.Alert{ID: id, Schema: analytics.SchemaAlertV1, Kind: analytics.AlertHitRate, SubjectKind: analytics.SubjectHS4Origin,
				Subject: "0803|VN", Port: port, DetectedAt: now, WindowFrom: now.AddDate(0, 0, -14), WindowTo: now, Observed: 0.4, Expected: 0.05,
				PValue: 1e-6, QValue: 1e-4, State: "open", Evidence: analytics.Evidence{RecentN: 20, RecentK: 8, BaselineN: 400, BaselineK: 20,
					Test: "conditional binomial (own baseline)", Tested: 12, ZH: "越南香蕉查获率由 5% 升至 40%", EN: "hit rate of 0803 from VN rose from 5% to 40%"}}
		}
		if err := r.store.SaveAlerts(context.Background(), []analytics.Alert{mk("A-here", rigPort), mk("A-there", "5300")}); err != nil {
			t.Fatal(err)
		}
		code, b := hq.get(t, "/v1/analytics/alerts")
		if as := decode[alertsAnswer](t, b).Alerts; code != 200 || len(as) != 2 || as[0].Evidence.ZH == "" {
			t.Errorf("all alerts: %d %s", code, b)
		}
		sup := loginAs(t, r.handler, "supervisor", "password-supervisor")
		code, b = sup.get(t, "/v1/analytics/alerts")
		if as := decode[alertsAnswer](t, b).Alerts; code != 200 || len(as) != 1 || as[0].ID != "A-here" {
			t.Errorf("the port's alerts: %d %s", code, b)
		}
	})

	t.Run("the trend groups and filters by the enterprise grade at decision, and refuses a bogus grade", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/trend?group_by=enterprise_grade&enterprise_grade=ungraded")
		res := decode[trendAnswer](t, b)
		if code != 200 || len(res.Rows) == 0 || res.GroupBy[0] != analytics.DimEnterpriseGrade || res.Rows[0].Group[0] != "" || res.Rows[0].Declarations != 3 {
			t.Errorf("ungraded history by grade: %d %s", code, b)
		}
		if code, b := hq.get(t, "/v1/analytics/trend?enterprise_grade=red"); code != 200 || len(decode[trendAnswer](t, b).Rows) != 0 {
			t.Errorf("nothing was decided for a red importer: %d %s", code, b)
		}
		code, b = hq.get(t, "/v1/analytics/trend?enterprise_grade=purple")
		if e := decode[errorBody](t, b).Error; code != http.StatusUnprocessableEntity || len(e.Fields) != 1 || e.Fields[0].Path != "enterprise_grade" || e.Fields[0].ZH == "" {
			t.Errorf("a bogus grade: %d %s", code, b)
		}
	})

	t.Run("model yield reports the model version that decided", func(t *testing.T) {
		code, b := hq.get(t, "/v1/analytics/model-yield")
		ms := decode[modelYieldAnswer](t, b).Models
		if code != 200 || len(ms) != 1 || ms[0].ModelVersion == "" || ms[0].Declarations != 3 || ms[0].Inspected != 3 {
			t.Errorf("%d %s", code, b)
		}
		code, b = hq.get(t, "/v1/analytics/dimensions")
		if dims := decode[dimensionsAnswer](t, b); code != 200 || !slices.Contains(dims.Dimensions, analytics.DimHS2) {
			t.Errorf("dimensions: %d %s", code, b)
		}
	})
}
