package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

func decode[T any](tb testing.TB, b []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %T: %v: %s", v, err, b)
	}
	return v
}

// consoleUser is a logged-in console user of the rig.
type consoleUser struct {
	h      http.Handler
	cookie *http.Cookie
	csrf   string
}

func (s consoleUser) get(tb testing.TB, path string) (int, []byte) {
	tb.Helper()
	w := do(tb, s.h, request{method: "GET", path: path, cookies: []*http.Cookie{s.cookie}})
	return w.Code, w.Body.Bytes()
}

func (s consoleUser) post(tb testing.TB, path string, v any) (int, []byte) {
	tb.Helper()
	b, _ := json.Marshal(v)
	w := do(tb, s.h, request{method: "POST", path: path, body: string(b), cookies: []*http.Cookie{s.cookie},
		headers: []string{"Content-Type", "application/json", headerCSRF, s.csrf}})
	return w.Code, w.Body.Bytes()
}

func (s consoleUser) cookiesOf() []*http.Cookie { return []*http.Cookie{s.cookie} }

func loginAs(tb testing.TB, h http.Handler, user, pw string) consoleUser {
	c, csrf := login(tb, h, user, pw)
	return consoleUser{h: h, cookie: c, csrf: csrf}
}

// TestTheLoopThroughTheAPI drives one consignment through the real services over HTTP: decided
// RED by a rule, turned into a task for the officer, inspected, found non-conforming, released,
// on the audit trail, and counted in the daily trend.
func TestTheLoopThroughTheAPI(t *testing.T) {
	r := newRig(t, testConfig())
	const number = "222920260000099001"
	taskID := ingest.DeclarationID(number, 1)
	body := goldenDeclaration(t, number)

	var first targeting.Decision
	t.Run("a new declaration is decided with 201 and its rule's reason", func(t *testing.T) {
		res := r.decide(t, body)
		if res.code != http.StatusCreated {
			t.Fatalf("status %d: %s", res.code, res.body)
		}
		first = decode[targeting.Decision](t, res.body)
		if first.Channel != targeting.Red || first.DeclarationNo != number || first.Version != 1 {
			t.Fatalf("decision = %+v", first)
		}
		if !slices.ContainsFunc(first.Reasons, func(x targeting.Reason) bool {
			return strings.Contains(x.ZH, rigRuleZH) && strings.Contains(x.EN, rigRuleEN)
		}) {
			t.Errorf("the rule's reason is missing: %+v", first.Reasons)
		}
		if loc := res.header.Get("Location"); loc != "/v1/decisions/"+number+"?version=1" {
			t.Errorf("Location = %q", loc)
		}
	})

	t.Run("the same declaration again is 200 with the same decision", func(t *testing.T) {
		res := r.decide(t, body)
		if res.code != http.StatusOK {
			t.Fatalf("status %d: %s", res.code, res.body)
		}
		again := decode[targeting.Decision](t, res.body)
		if again.Channel != first.Channel || !again.DecidedAt.Equal(first.DecidedAt) || again.Score != first.Score {
			t.Errorf("replay differs: %+v vs %+v", again, first)
		}
	})

	t.Run("an invalid declaration is 422 listing every bad field", func(t *testing.T) {
		bad := strings.Replace(goldenDeclaration(t, "222920260000099002"), `"port": "2229"`, `"port": "22X"`, 1)
		bad = strings.Replace(bad, `"hs_code": "0803901000"`, `"hs_code": "08"`, 1)
		res := r.decide(t, bad)
		if res.code != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %s", res.code, res.body)
		}
		e := decode[errorBody](t, res.body).Error
		var paths []string
		for _, f := range e.Fields {
			paths = append(paths, f.Path)
			if f.ZH == "" || f.EN == "" || f.Code == "" {
				t.Errorf("field error without code or messages: %+v", f)
			}
		}
		if e.Code != "invalid" || !slices.Contains(paths, "port") || !slices.Contains(paths, "items[0].hs_code") {
			t.Errorf("error = %+v", e)
		}
	})

	t.Run("a decision can be read back by number, with or without version", func(t *testing.T) {
		for path, want := range map[string]int{
			"/v1/decisions/" + number:                200,
			"/v1/decisions/" + number + "?version=1": 200,
			"/v1/decisions/" + number + "?version=2": 404,
			"/v1/decisions/222920260000000000":       404,
		} {
			w := do(t, r.handler, request{method: "GET", path: path, headers: []string{"X-API-Key", testKey(RoleSystem)}})
			if w.Code != want {
				t.Errorf("%s: %d, want %d", path, w.Code, want)
			}
		}
	})

	task := r.waitTask(t, taskID)
	if task.Officer != rigOfficer || task.Channel != targeting.Red {
		t.Fatalf("task = %+v", task)
	}
	officer := loginAs(t, r.handler, rigOfficer, rigPassword)

	t.Run("the officer's queue shows the task; other officers' queues do not", func(t *testing.T) {
		code, b := officer.get(t, "/v1/tasks")
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		tasks := decode[[]clearance.Task](t, b)
		if len(tasks) != 1 || tasks[0].ID != taskID {
			t.Fatalf("queue = %+v", tasks)
		}
		for _, other := range [][2]string{{"officer2", "password-officer2"}, {"officer-elsewhere", "password-elsewhere"}} {
			s := loginAs(t, r.handler, other[0], other[1])
			code, b := s.get(t, "/v1/tasks")
			if code != 200 || len(decode[[]clearance.Task](t, b)) != 0 {
				t.Errorf("%s sees %d %s", other[0], code, b)
			}
		}
		sup := loginAs(t, r.handler, "supervisor", "password-supervisor")
		if code, b := sup.get(t, "/v1/tasks"); code != 200 || len(decode[[]clearance.Task](t, b)) != 1 {
			t.Errorf("the supervisor of the port sees %d %s", code, b)
		}
		elsewhere := loginAs(t, r.handler, "officer-elsewhere", "password-elsewhere")
		if code, _ := elsewhere.get(t, "/v1/tasks/"+taskID); code != http.StatusForbidden {
			t.Errorf("an officer of another port reads the task: %d", code)
		}
		if code, _ := officer.get(t, "/v1/tasks?state=bogus"); code != http.StatusUnprocessableEntity {
			t.Errorf("a bogus state filter: %d", code)
		}
	})

	t.Run("the task detail has the declaration's goods items from ClickHouse", func(t *testing.T) {
		var d ingest.Declaration
		kafkatest.WaitFor(t, 20*time.Second, "declaration never readable", func() bool {
			code, b := officer.get(t, "/v1/declarations/"+number+"?version=1")
			if code == 200 {
				d = decode[ingest.Declaration](t, b)
			}
			return code == 200
		})
		if len(d.Items) != 3 || d.Items[0].Description != "鲜香蕉" || d.Port != rigPort {
			t.Errorf("declaration = %+v", d)
		}
	})

	t.Run("a result with a stale version is a 409 conflict", func(t *testing.T) {
		code, b := officer.post(t, "/v1/inspection-results", clearance.ResultInput{TaskID: taskID, ExpectedVersion: task.Version + 5,
			Outcome: clearance.Conforming, Disposition: clearance.DispRelease})
		if code != http.StatusConflict || decode[errorBody](t, b).Error.Code != "conflict" {
			t.Fatalf("%d %s", code, b)
		}
	})

	t.Run("an invalid result is 422 with fields", func(t *testing.T) {
		code, b := officer.post(t, "/v1/inspection-results", clearance.ResultInput{TaskID: taskID, ExpectedVersion: task.Version,
			Outcome: "MAYBE", Adjustment: -3})
		if code != http.StatusUnprocessableEntity || len(decode[errorBody](t, b).Error.Fields) == 0 {
			t.Fatalf("%d %s", code, b)
		}
	})

	t.Run("a non-conforming result with two findings releases the consignment", func(t *testing.T) {
		code, b := officer.post(t, "/v1/inspection-results", clearance.ResultInput{TaskID: taskID, ExpectedVersion: task.Version,
			Outcome: clearance.NonConforming, Adjustment: 1200, Disposition: clearance.DispTreatRelease,
			Findings: []clearance.Finding{{Code: clearance.FindQuarantinePest, Severity: 3}, {Code: clearance.FindWoodPackaging, Severity: 2}}})
		if code != http.StatusCreated {
			t.Fatalf("%d %s", code, b)
		}
		res := decode[clearance.InspectionResult](t, b)
		if res.Officer != rigOfficer || !res.Label.Hit || len(res.Findings) != 2 {
			t.Errorf("result = %+v", res)
		}
		code, b = officer.get(t, "/v1/tasks/"+taskID)
		got := decode[clearance.Task](t, b)
		if code != 200 || !got.State.Final() || got.Result == nil {
			t.Fatalf("task after result: %d %+v", code, got)
		}
		if code, b := officer.get(t, "/v1/tasks?state=done"); code != 200 || len(decode[[]clearance.Task](t, b)) != 1 {
			t.Errorf("done queue: %d %s", code, b)
		}
	})

	t.Run("the audit trail shows decision, task, result and release", func(t *testing.T) {
		var actions []string
		kafkatest.WaitFor(t, 10*time.Second, "trail incomplete", func() bool {
			code, b := officer.get(t, "/v1/audit/trail/"+number)
			if code != 200 {
				return false
			}
			actions = actions[:0]
			for _, rec := range decode[[]clearance.AuditRecord](t, b) {
				actions = append(actions, rec.Action)
			}
			return len(actions) >= 4 && slices.Contains(actions, "decision")
		})
		joined := strings.Join(actions, " ")
		for _, want := range []string{"decision", "task", "result", "release"} {
			if !strings.Contains(joined, want) {
				t.Errorf("trail %v lacks %s", actions, want)
			}
		}
	})

	t.Run("logins and failed logins are on the audit chain", func(t *testing.T) {
		w := do(t, r.handler, request{method: "POST", path: "/v1/login", body: `{"username":"officer1","password":"guess-guess"}`,
			headers: []string{"Content-Type", "application/json"}})
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("bad login: %d", w.Code)
		}
		var got []string
		kafkatest.WaitFor(t, 10*time.Second, "login events not audited", func() bool {
			got = got[:0]
			err := r.store.AuditRecords(context.Background(), 0, "user:"+rigOfficer, func(rec clearance.AuditRecord) error {
				got = append(got, rec.Action)
				return nil
			})
			return err == nil && slices.Contains(got, "login") && slices.Contains(got, "login.failed")
		})
	})

	t.Run("the daily trend counts the decision", func(t *testing.T) {
		hq := loginAs(t, r.handler, "hq", "password-hq")
		var tr trendResponse
		kafkatest.WaitFor(t, 20*time.Second, "trend never counted the decision", func() bool {
			code, b := hq.get(t, "/v1/trends/daily")
			if code != 200 {
				t.Fatalf("trend: %d %s", code, b)
			}
			tr = decode[trendResponse](t, b)
			var n uint64
			for _, p := range tr.Points {
				n += p.Declarations
			}
			return n >= 1
		})
		for q, want := range map[string]int{
			"?from=2026-13-01":                               422,
			"?from=2026-03-10&to=2026-03-01":                 422,
			"?from=2024-01-01&to=2026-03-01":                 422,
			"?from=2026-03-01&to=2026-03-03&port=" + rigPort: 200,
		} {
			if code, b := hq.get(t, "/v1/trends/daily"+q); code != want {
				t.Errorf("%s: %d %s", q, code, b)
			}
		}
	})

	t.Run("readyz reports ClickHouse, Kafka and targeting's health", func(t *testing.T) {
		w := do(t, r.handler, request{method: "GET", path: "/readyz"})
		res := decode[readyResponse](t, w.Body.Bytes())
		if w.Code != 200 || res.Targeting == nil || res.Targeting.Rules != 1 || res.Degraded {
			t.Errorf("readyz %d %s", w.Code, w.Body.String())
		}
	})

	t.Run("metrics count the decision requests", func(t *testing.T) {
		w := do(t, r.handler, request{method: "GET", path: "/metrics"})
		want := fmt.Sprintf(`portguard_http_requests_total{code="201",method="POST",route="/v1/decisions"} 1`)
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	})
}

// TestSchemasAreServed checks that ingest's published JSON Schemas are served by file name and by
// kind.
func TestSchemasAreServed(t *testing.T) {
	_, h := mustServer(t, testConfig(), Deps{Schemas: ingest.Schemas()})
	w := do(t, h, request{method: "GET", path: "/v1/schemas"})
	names := decode[struct{ Schemas []string }](t, w.Body.Bytes()).Schemas
	if len(names) < 3 {
		t.Fatalf("schemas = %v", names)
	}
	for _, p := range []string{"/v1/schemas/" + names[0], "/v1/schemas/declaration", "/v1/schemas/manifest.v1"} {
		w := do(t, h, request{method: "GET", path: p})
		var doc map[string]any
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &doc) != nil {
			t.Errorf("%s: %d", p, w.Code)
		}
	}
	if w := do(t, h, request{method: "GET", path: "/v1/schemas/nope"}); w.Code != 404 {
		t.Errorf("unknown schema: %d", w.Code)
	}
}

// TestADecisionBodyIsReadWhetherOrNotItsLengthIsSaid: POST /v1/decisions reads a body sized by
// its Content-Length into one buffer, and a body without one (chunked) as before; either way a
// body over the limit is 413 and one at the limit is decided.
func TestADecisionBodyIsReadWhetherOrNotItsLengthIsSaid(t *testing.T) {
	body := goldenDeclaration(t, "222920260000099811")
	cfg := testConfig()
	cfg.MaxBodyBytes = int64(len(body))
	r := newRig(t, cfg)
	post := func(body string, chunked bool) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/decisions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+testKey(RoleSystem))
		if chunked {
			req.ContentLength = -1
		}
		w := httptest.NewRecorder()
		r.handler.ServeHTTP(w, req)
		return w
	}
	if w := post(body, false); w.Code != http.StatusCreated {
		t.Fatalf("at the limit, with its length: %d %s", w.Code, w.Body.String())
	}
	second := goldenDeclaration(t, "222920260000099812")
	if w := post(second, true); w.Code != http.StatusCreated {
		t.Fatalf("at the limit, chunked: %d %s", w.Code, w.Body.String())
	}
	over := strings.Replace(goldenDeclaration(t, "222920260000099813"), "{", "{ ", 1)
	for _, chunked := range []bool{false, true} {
		if w := post(over, chunked); w.Code != http.StatusRequestEntityTooLarge || errorOf(t, w).Code != "too_large" {
			t.Errorf("one byte over the limit (chunked %v): %d %s", chunked, w.Code, w.Body.String())
		}
	}
}
