package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

// lab posts a report as the laboratory's system, with its API key.
func (r *rig) lab(tb testing.TB, in clearance.LabInput) (int, []byte) {
	tb.Helper()
	b := mustJSON(tb, in)
	w := do(tb, r.handler, request{method: "POST", path: "/v1/lab-results", body: b,
		headers: []string{"Content-Type", "application/json", "X-API-Key", testKey(RoleLab)}})
	return w.Code, w.Body.Bytes()
}

// trailActions returns the actions of a declaration's audit trail once it holds every one of
// want (the chain is written just after the change it records).
func trailActions(tb testing.TB, u consoleUser, number string, want ...string) []string {
	tb.Helper()
	var actions []string
	kafkatest.WaitFor(tb, 10*time.Second, "trail never showed "+strings.Join(want, ", "), func() bool {
		code, b := u.get(tb, "/v1/audit/trail/"+number)
		if code != 200 {
			return false
		}
		actions = actions[:0]
		for _, rec := range decode[[]clearance.AuditRecord](tb, b) {
			actions = append(actions, rec.Action)
		}
		for _, w := range want {
			if !slices.Contains(actions, w) {
				return false
			}
		}
		return true
	})
	return actions
}

// TestClearanceWorkThroughTheAPI walks tasks through every clearance route against the real
// services: starting an inspection, sampling for the laboratory and the lab's report by API
// key, reassignment with a reason, an override with a reason code, its review by a supervisor,
// override rates, and the audit trail recording each step.
func TestClearanceWorkThroughTheAPI(t *testing.T) {
	r := newRig(t, testConfig())
	officer := loginAs(t, r.handler, rigOfficer, rigPassword)
	officer2 := loginAs(t, r.handler, "officer2", "password-officer2")
	elsewhere := loginAs(t, r.handler, "officer-elsewhere", "password-elsewhere")
	sup := loginAs(t, r.handler, "supervisor", "password-supervisor")
	hq := loginAs(t, r.handler, "hq", "password-hq")

	const sampled, moved = "222920260000099301", "222920260000099302"
	for _, n := range []string{sampled, moved} {
		if res := r.decide(t, goldenDeclaration(t, n)); res.code != http.StatusCreated {
			t.Fatalf("decide %s: %d %s", n, res.code, res.body)
		}
	}
	sampledID, movedID := ingest.DeclarationID(sampled, 1), ingest.DeclarationID(moved, 1)
	task := r.waitTask(t, sampledID)
	r.waitTask(t, movedID)

	t.Run("starting with a stale version is a conflict; with the right one the task is in progress", func(t *testing.T) {
		if code, b := officer.post(t, "/v1/tasks/"+sampledID+"/start", versionRequest{ExpectedVersion: task.Version + 3}); code != http.StatusConflict {
			t.Fatalf("stale: %d %s", code, b)
		}
		code, b := officer.post(t, "/v1/tasks/"+sampledID+"/start", versionRequest{ExpectedVersion: task.Version})
		task = decode[clearance.Task](t, b)
		if code != 200 || task.State != clearance.TaskInProgress {
			t.Fatalf("start: %d %s", code, b)
		}
		if code, _ := elsewhere.post(t, "/v1/tasks/"+movedID+"/start", versionRequest{ExpectedVersion: 1}); code != http.StatusForbidden {
			t.Errorf("an officer of another port started a task: %d", code)
		}
	})

	t.Run("a sample sent to the laboratory waits, and the lab's report by API key completes it", func(t *testing.T) {
		code, b := officer.post(t, "/v1/inspection-results", clearance.ResultInput{TaskID: sampledID, ExpectedVersion: task.Version,
			Outcome: clearance.PendingLab, Note: "取样 2 份送检"})
		if code != http.StatusCreated {
			t.Fatalf("pending lab: %d %s", code, b)
		}
		code, b = officer.get(t, "/v1/tasks/"+sampledID)
		if got := decode[clearance.Task](t, b); code != 200 || got.State != clearance.TaskAwaitingLab {
			t.Fatalf("after sampling: %d %s", code, b)
		}
		if code, b := r.lab(t, clearance.LabInput{TaskID: sampledID, Outcome: clearance.Conforming}); code != http.StatusUnprocessableEntity {
			t.Errorf("a report without its number: %d %s", code, b)
		}
		report := clearance.LabInput{TaskID: sampledID, LabRef: "LAB-2026-0042", Outcome: clearance.Conforming, Note: "未检出"}
		code, b = r.lab(t, report)
		first := decode[clearance.InspectionResult](t, b)
		if code != http.StatusCreated || first.LabRef != "LAB-2026-0042" || first.Outcome != clearance.Conforming || first.Officer != rigOfficer {
			t.Fatalf("lab report: %d %s", code, b)
		}
		code, b = r.lab(t, report)
		if again := decode[clearance.InspectionResult](t, b); code != http.StatusCreated || again.Version != first.Version {
			t.Errorf("the same report again made a new result: %d %s", code, b)
		}
		code, b = officer.get(t, "/v1/tasks/"+sampledID)
		if got := decode[clearance.Task](t, b); code != 200 || got.State != clearance.TaskReleased {
			t.Errorf("after the lab report: %d %s", code, b)
		}
	})

	t.Run("a reassignment needs a reason and moves the task to the chosen officer", func(t *testing.T) {
		cur := r.waitTask(t, movedID)
		code, b := sup.post(t, "/v1/tasks/"+movedID+"/reassign", reassignRequest{ExpectedVersion: cur.Version, Officer: "officer2"})
		if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"reason"`) {
			t.Fatalf("without a reason: %d %s", code, b)
		}
		if code, _ := officer.post(t, "/v1/tasks/"+movedID+"/reassign", reassignRequest{ExpectedVersion: cur.Version, Officer: "officer2", Reason: "x"}); code != http.StatusForbidden {
			t.Errorf("an officer reassigned: %d", code)
		}
		code, b = sup.post(t, "/v1/tasks/"+movedID+"/reassign", reassignRequest{ExpectedVersion: cur.Version, Officer: "officer2", Reason: "张伟今日外勤"})
		if got := decode[clearance.Task](t, b); code != 200 || got.Officer != "officer2" || got.Reason != "张伟今日外勤" {
			t.Fatalf("reassign: %d %s", code, b)
		}
		code, b = officer.get(t, "/v1/tasks")
		if tasks := decode[[]clearance.Task](t, b); code != 200 || slices.ContainsFunc(tasks, func(x clearance.Task) bool { return x.ID == movedID }) {
			t.Errorf("officer1 still sees the moved task: %s", b)
		}
	})

	var ov clearance.Override
	t.Run("an override needs a known reason code and a text; with them the channel changes", func(t *testing.T) {
		code, b := officer2.post(t, "/v1/overrides", clearance.OverrideInput{TaskID: movedID, NewChannel: targeting.Yellow, ReasonCode: "WHIM"})
		e := decode[errorBody](t, b).Error
		var paths []string
		for _, f := range e.Fields {
			paths = append(paths, f.Path)
		}
		if code != http.StatusUnprocessableEntity || !slices.Contains(paths, "reason_code") || !slices.Contains(paths, "text") {
			t.Fatalf("bad override: %d %s", code, b)
		}
		code, b = officer2.post(t, "/v1/overrides", clearance.OverrideInput{TaskID: movedID, NewChannel: targeting.Yellow,
			ReasonCode: clearance.OverrideIntel, Text: "同批货物昨日已在洋山查验合格"})
		ov = decode[clearance.Override](t, b)
		if code != http.StatusCreated || ov.From != targeting.Red || ov.To != targeting.Yellow || ov.Review != clearance.ReviewPending || ov.By != "officer2" {
			t.Fatalf("override: %d %s", code, b)
		}
		code, b = officer2.get(t, "/v1/tasks/"+movedID)
		if got := decode[clearance.Task](t, b); code != 200 || got.Channel != targeting.Yellow {
			t.Errorf("task after override: %d %s", code, b)
		}
	})

	t.Run("the override waits in the supervisor's review queue and is reviewed once", func(t *testing.T) {
		code, b := sup.get(t, "/v1/overrides?review=PENDING")
		if q := decode[[]clearance.Override](t, b); code != 200 || len(q) != 1 || q[0].ID != ov.ID {
			t.Fatalf("queue: %d %s", code, b)
		}
		if code, _ := sup.get(t, "/v1/overrides?review=MAYBE"); code != http.StatusUnprocessableEntity {
			t.Errorf("bogus review filter: %d", code)
		}
		if code, _ := officer2.post(t, "/v1/overrides/"+ov.ID+"/review", reviewRequest{Approve: true}); code != http.StatusForbidden {
			t.Errorf("the author reviewed the override: %d", code)
		}
		if code, b := sup.post(t, "/v1/overrides/"+ov.ID+"/review", reviewRequest{Approve: false}); code != http.StatusUnprocessableEntity {
			t.Errorf("a rejection without a note: %d %s", code, b)
		}
		code, b = sup.post(t, "/v1/overrides/"+ov.ID+"/review", reviewRequest{Approve: true, Note: "情报属实"})
		if got := decode[clearance.Override](t, b); code != 200 || got.Review != clearance.ReviewApproved || got.Reviewer != "supervisor" {
			t.Fatalf("review: %d %s", code, b)
		}
		if code, _ := sup.post(t, "/v1/overrides/"+ov.ID+"/review", reviewRequest{Approve: true}); code != http.StatusConflict {
			t.Errorf("a second review: %d", code)
		}
		if code, b := sup.get(t, "/v1/overrides?review=PENDING"); code != 200 || len(decode[[]clearance.Override](t, b)) != 0 {
			t.Errorf("queue after review: %d %s", code, b)
		}
	})

	t.Run("override rates show the officer and the port to supervisors and analysts", func(t *testing.T) {
		for _, u := range []consoleUser{sup, hq} {
			code, b := u.get(t, "/v1/override-rates")
			rates := decode[[]clearance.OverrideRate](t, b)
			i := slices.IndexFunc(rates, func(x clearance.OverrideRate) bool { return x.Kind == "officer" && x.Key == "officer2" })
			j := slices.IndexFunc(rates, func(x clearance.OverrideRate) bool { return x.Kind == "port" && x.Key == rigPort })
			if code != 200 || i < 0 || j < 0 || rates[i].Overrides != 1 || rates[j].Overrides != 1 || rates[j].Tasks < 2 {
				t.Errorf("rates: %d %s", code, b)
			}
		}
		if code, _ := officer.get(t, "/v1/override-rates"); code != http.StatusForbidden {
			t.Errorf("an officer reads override rates: %d", code)
		}
		code, b := officer.get(t, "/v1/override-reasons")
		if rs := decode[[]clearance.ReasonCode](t, b); code != 200 || len(rs) < 5 || rs[0].ZH == "" {
			t.Errorf("reasons: %d %s", code, b)
		}
	})

	t.Run("the roster lists both officers and a supervisor takes one off duty", func(t *testing.T) {
		code, b := sup.put(t, "/v1/officers/officer2/duty", dutyRequest{OnDuty: false})
		if o := decode[clearance.Officer](t, b); code != 200 || o.OnDuty {
			t.Fatalf("off duty: %d %s", code, b)
		}
		code, b = sup.get(t, "/v1/officers")
		roster := decode[[]clearance.Officer](t, b)
		if code != 200 || len(roster) != 2 || slices.ContainsFunc(roster, func(o clearance.Officer) bool { return o.ID == "officer2" && o.OnDuty }) {
			t.Errorf("roster: %d %s", code, b)
		}
		if code, _ := sup.put(t, "/v1/officers/nobody/duty", dutyRequest{OnDuty: true}); code != http.StatusNotFound {
			t.Errorf("an unknown officer: %d", code)
		}
	})

	t.Run("the audit trail records every step", func(t *testing.T) {
		trailActions(t, officer, sampled, "decision", clearance.AuditTaskCreate, clearance.AuditTaskAssign, clearance.AuditTaskStart,
			clearance.AuditResult, clearance.AuditLabResult, clearance.AuditRelease)
		trailActions(t, sup, moved, "decision", clearance.AuditTaskReassign, clearance.AuditOverride, clearance.AuditOverrideReview)
	})
}

// TestOverdueTasksAreListedForTheirPort makes every task overdue at once (a due time of a
// millisecond) and checks that the supervisor of the port sees it and another port's does not.
func TestOverdueTasksAreListedForTheirPort(t *testing.T) {
	r := newRig(t, testConfig(), func(c *clearance.Config) { c.DueRed, c.DueYellow = time.Millisecond, time.Millisecond })
	const number = "222920260000099401"
	if res := r.decide(t, goldenDeclaration(t, number)); res.code != http.StatusCreated {
		t.Fatalf("decide: %d %s", res.code, res.body)
	}
	id := ingest.DeclarationID(number, 1)
	r.waitTask(t, id)
	sup := loginAs(t, r.handler, "supervisor", "password-supervisor")
	var tasks []clearance.Task
	kafkatest.WaitFor(t, 5*time.Second, "the task never became overdue", func() bool {
		code, b := sup.get(t, "/v1/tasks/overdue")
		tasks = decode[[]clearance.Task](t, b)
		return code == 200 && len(tasks) == 1
	})
	if tasks[0].ID != id || !tasks[0].DueAt.Before(time.Now()) {
		t.Errorf("overdue = %+v", tasks)
	}
	other := loginAs(t, r.handler, "supervisor-elsewhere", "password-supervisor-elsewhere")
	if code, b := other.get(t, "/v1/tasks/overdue"); code != 200 || len(decode[[]clearance.Task](t, b)) != 0 {
		t.Errorf("another port's supervisor sees %d %s", code, b)
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
