package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// openTask decides a declaration through the API, waits for its task and returns the task ID
// and the console's server.
func openTask(t *testing.T, r *rig, number string) (string, *httptest.Server) {
	t.Helper()
	if res := r.decide(t, goldenDeclaration(t, number)); res.code != 201 {
		t.Fatalf("decide: %d %s", res.code, res.body)
	}
	id := ingest.DeclarationID(number, 1)
	r.waitTask(t, id)
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)
	return id, srv
}

// stateIs polls until the task page shows state.
func stateIs(state string) chromedp.Action[bool] {
	return chromedp.Poll[bool](`document.querySelector('#task-state').dataset.state === '` + state + `'`)
}

// trailHas polls until the task page's audit trail lists every action.
func trailHas(actions ...string) chromedp.Action[bool] {
	var conds []string
	for _, a := range actions {
		conds = append(conds, `!!document.querySelector('[data-testid="trail-entry"][data-action="`+a+`"]')`)
	}
	return chromedp.Poll[bool](strings.Join(conds, " && "))
}

// labSamplingPendingThenCompleted: an officer sees the manifest cross-checks of the task, starts
// the inspection, sends a sample to the laboratory (the task waits, the goods go under bond),
// then types in the lab's report, and the consignment is released with the report on the trail.
func labSamplingPendingThenCompleted(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	// The golden manifest lists a third container the declaration does not, and the pallets'
	// origin (CN) is neither the loading country (VN) nor the transshipment one (SG); its gross
	// weight equals the declared one.
	r.manifest(t, goldenManifest(t))
	id, srv := openTask(t, r, "222920260000099501")
	row := `#queue-body tr[data-task-id="` + id + `"]`

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	consoleLogin(t, ctx, rigOfficer, rigPassword, "#view-queue")
	step(t, ctx, "open the task", clickNow(row))
	step(t, ctx, "see the start button", chromedp.WaitVisible(chromedp.CSS("#task-start")))
	step(t, ctx, "see the manifest cross-checks", chromedp.WaitVisible(chromedp.CSS("#xcheck-table")))
	for check, flagged := range map[string]string{"weight": "false", "route": "true", "containers": "true"} {
		sel := `[data-testid="cross-check"][data-check="` + check + `"]`
		if got := step(t, ctx, "read the "+check+" check", chromedp.AttributeValue(chromedp.CSS(sel), "data-flag")); got.Value != flagged {
			t.Errorf("cross-check %s flagged = %+v, want %s", check, got, flagged)
		}
	}
	if txt := step(t, ctx, "read the containers check", chromedp.Text(chromedp.CSS(`[data-check="containers"]`))); !strings.Contains(txt, "1") || !strings.Contains(txt, "异常") {
		t.Errorf("containers check = %q", txt)
	}
	screenshot(t, ctx, "task-crosscheck-zh")
	step(t, ctx, "start the inspection", chromedp.Click(chromedp.CSS("#task-start")))
	step(t, ctx, "see it in progress", stateIs("IN_PROGRESS"))
	if hidden := step(t, ctx, "check the start button is gone", chromedp.Evaluate[bool](
		`document.querySelector('#task-start').classList.contains('hidden')`)); !hidden {
		t.Errorf("the start button is still offered on a task in progress")
	}

	step(t, ctx, "choose sampling for the laboratory", chromedp.Click(chromedp.CSS("#outcome-pendinglab")))
	if txt := step(t, ctx, "read the submit button", chromedp.Text(chromedp.CSS("#result-submit"))); txt != "登记取样送检" {
		t.Errorf("submit button = %q", txt)
	}
	step(t, ctx, "write a note", chromedp.SendKeys(chromedp.CSS("#result-note"), "取样 2 份送检"))
	step(t, ctx, "record the sampling", chromedp.Click(chromedp.CSS("#result-submit")))
	step(t, ctx, "see it awaiting the laboratory", stateIs("AWAITING_LAB"))
	step(t, ctx, "see the lab form", chromedp.WaitVisible(chromedp.CSS("#lab-form")))
	step(t, ctx, "see the bond release", chromedp.WaitVisible(chromedp.CSS("#task-bond")))
	if visible := step(t, ctx, "check the result form is gone", chromedp.Evaluate[bool](
		`!document.querySelector('#result-form').classList.contains('hidden')`)); visible {
		t.Errorf("the result form is offered while the sample is at the laboratory")
	}
	if txt := step(t, ctx, "read the state", chromedp.Text(chromedp.CSS("#task-state"))); txt != "待实验室结果" {
		t.Errorf("state = %q", txt)
	}
	screenshot(t, ctx, "lab-pending-zh")

	step(t, ctx, "type the lab report number", chromedp.SendKeys(chromedp.CSS("#lab-ref"), "LAB-2026-0077"))
	step(t, ctx, "write the lab note", chromedp.SendKeys(chromedp.CSS("#lab-note"), "未检出检疫性有害生物"))
	step(t, ctx, "record the lab result", chromedp.Click(chromedp.CSS("#lab-submit")))
	step(t, ctx, "see the consignment released", stateIs("RELEASED"))
	facts := step(t, ctx, "read the result", chromedp.Text(chromedp.CSS("#result-facts")))
	for _, want := range []string{"LAB-2026-0077", "合格", "放行", "未检出检疫性有害生物"} {
		if !strings.Contains(facts, want) {
			t.Errorf("result %q lacks %q", facts, want)
		}
	}
	step(t, ctx, "see sampling and lab result on the trail", trailHas("decision", "task.create", "task.assign", "task.start", "result", "lab.result", "release"))
	lab := step(t, ctx, "read the lab entry", chromedp.Text(chromedp.CSS(`[data-testid="trail-entry"][data-action="lab.result"]`)))
	if !strings.Contains(lab, "实验室结果") || !strings.Contains(lab, "LAB-2026-0077") {
		t.Errorf("lab trail entry = %q", lab)
	}
	screenshot(t, ctx, "lab-done-zh")

	got, err := r.clearance.Task(context.Background(), id)
	if err != nil || got.State != clearance.TaskReleased || got.Result == nil || got.Result.LabRef != "LAB-2026-0077" || got.Result.Version != 2 {
		t.Fatalf("clearance holds %+v, %v", got, err)
	}
}

// overrideReviewedAndTrail: an officer changes the channel with a reason code and text, the
// supervisor approves it from the review queue, sees the override rate, reassigns the task with
// a reason, and the task's trail shows every one of these actions.
func overrideReviewedAndTrail(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	id, srv := openTask(t, r, "222920260000099601")
	const text = "同批货物昨日已在洋山查验合格"

	step(t, ctx, "open the task", chromedp.Navigate(srv.URL+"/console/#/task/"+id))
	consoleLogin(t, ctx, rigOfficer, rigPassword, "#override-form")
	step(t, ctx, "see the reasons picklist", chromedp.Poll[bool](`document.querySelectorAll('#override-reason option').length > 5`))
	step(t, ctx, "submit without a reason", chromedp.Click(chromedp.CSS("#override-submit")))
	step(t, ctx, "see the refusal", chromedp.WaitVisible(chromedp.CSS("#override-error")))
	if msg := step(t, ctx, "read the refusal", chromedp.Text(chromedp.CSS("#override-error"))); !strings.Contains(msg, "reason_code") {
		t.Errorf("refusal = %q", msg)
	}
	step(t, ctx, "choose YELLOW", chromedp.SetValue(chromedp.CSS("#override-channel"), string(targeting.Yellow)))
	step(t, ctx, "choose new intelligence", chromedp.SetValue(chromedp.CSS("#override-reason"), clearance.OverrideIntel))
	step(t, ctx, "explain", chromedp.SendKeys(chromedp.CSS("#override-text"), text))
	step(t, ctx, "submit the override", chromedp.Click(chromedp.CSS("#override-submit")))
	step(t, ctx, "see the channel changed", chromedp.Poll[bool](`document.querySelector('#task-channel').dataset.channel === 'YELLOW'`))
	step(t, ctx, "see the override on the trail", trailHas("override"))
	screenshot(t, ctx, "override-zh")
	consoleLogout(t, ctx)

	consoleLogin(t, ctx, "supervisor", "password-supervisor", "#view-supervise")
	step(t, ctx, "see one override waiting", chromedp.Poll[bool](`document.querySelector('#sup-override-count').textContent === '1'`))
	step(t, ctx, "see the port's task", settled("view-supervise", `!!document.querySelector('#sup-tasks-body tr[data-task-id="`+id+`"]')`))
	screenshot(t, ctx, "supervisor-tasks-zh")
	step(t, ctx, "open the review queue", chromedp.Click(chromedp.CSS("#sup-tab-overrides")))
	step(t, ctx, "wait for the queue", settled("view-supervise", `document.querySelector('#sup-tab-overrides').classList.contains('active')`))
	orow := `#sup-overrides-body tr[data-review="PENDING"]`
	step(t, ctx, "see the override", chromedp.WaitVisible(chromedp.CSS(orow)))
	otext := step(t, ctx, "read the override", chromedp.Text(chromedp.CSS(orow)))
	for _, want := range []string{"222920260000099601", "新情报", text, rigOfficer, "红色", "黄色"} {
		if !strings.Contains(otext, want) {
			t.Errorf("override row %q lacks %q", otext, want)
		}
	}
	screenshot(t, ctx, "supervisor-review-zh")
	step(t, ctx, "write a review note", chromedp.SendKeys(chromedp.CSS(orow+` [data-testid="review-note"]`), "情报属实"))
	step(t, ctx, "approve", clickNow(orow+` [data-testid="review-approve"]`))
	step(t, ctx, "see the queue empty", chromedp.WaitVisible(chromedp.CSS("#sup-overrides-empty")))
	step(t, ctx, "see no count", chromedp.WaitNotVisible(chromedp.CSS("#sup-override-count")))

	step(t, ctx, "open the override rates", chromedp.Click(chromedp.CSS("#sup-tab-rates")))
	step(t, ctx, "wait for the rates", settled("view-supervise", `document.querySelector('#sup-tab-rates').classList.contains('active')`))
	rrow := `#sup-rates-body tr[data-kind="officer"][data-key="` + rigOfficer + `"]`
	step(t, ctx, "see the officer's rate", chromedp.WaitVisible(chromedp.CSS(rrow)))
	if txt := step(t, ctx, "read the officer's rate", chromedp.Text(chromedp.CSS(rrow))); !strings.Contains(txt, "100.0%") {
		t.Errorf("officer rate row = %q, want one override of one task", txt)
	}
	screenshot(t, ctx, "supervisor-rates-zh")

	step(t, ctx, "go to the tasks", chromedp.Click(chromedp.CSS("#sup-tab-tasks")))
	step(t, ctx, "wait for the tasks", settled("view-supervise", `document.querySelector('#sup-tab-tasks').classList.contains('active')`))
	step(t, ctx, "open the task", clickNow(`#sup-tasks-body tr[data-task-id="`+id+`"]`))
	step(t, ctx, "see the reassignment form", chromedp.WaitVisible(chromedp.CSS("#reassign-form")))
	step(t, ctx, "see the roster in the picklist", chromedp.Poll[bool](`!!document.querySelector('#reassign-officer option[value="officer2"]')`))
	step(t, ctx, "choose officer2", chromedp.SetValue(chromedp.CSS("#reassign-officer"), "officer2"))
	step(t, ctx, "give a reason", chromedp.SendKeys(chromedp.CSS("#reassign-reason"), "张伟今日外勤"))
	step(t, ctx, "reassign", chromedp.Click(chromedp.CSS("#reassign-submit")))
	step(t, ctx, "see the new officer", chromedp.Poll[bool](`document.querySelector('[data-testid="task-officer"]').textContent === 'officer2'`))
	step(t, ctx, "see every action on the trail", trailHas("decision", "task.create", "task.assign", "override", "override.review", "task.reassign"))
	for action, want := range map[string][]string{
		"override":        {"变更布控", rigOfficer, "红色 · 查验 → 黄色 · 单证审核", "新情报", text},
		"override.review": {"复核变更", "supervisor", "已同意", "情报属实"},
		"task.reassign":   {"改派关员", "officer1 → officer2", "张伟今日外勤"},
		"decision":        {"布控决定", "红色 · 查验", "布控指令"},
	} {
		txt := step(t, ctx, "read the "+action+" entry", chromedp.Text(chromedp.CSS(`[data-testid="trail-entry"][data-action="`+action+`"]`)))
		for _, w := range want {
			if !strings.Contains(txt, w) {
				t.Errorf("trail entry %s = %q, lacks %q", action, txt, w)
			}
		}
	}
	screenshot(t, ctx, "supervisor-task-zh")
}

// revisedDecisionShowsWhyTheChannelMoved: a RED that revised a GREEN held for its manifest (as
// targeting publishes it on the decisions topic when the cross-check finds a discrepancy) is
// marked in the officer's queue, and its task page says which revision it is and what it was.
// A first decision shows neither.
func revisedDecisionShowsWhyTheChannelMoved(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	first, srv := openTask(t, r, "222920260000099601")
	res := r.decide(t, goldenDeclaration(t, "222920260000099601")) // answered again from the cache
	var rev targeting.Decision
	if err := json.Unmarshal(res.body, &rev); err != nil || rev.Channel != targeting.Red {
		t.Fatalf("the rig's RED decision: %v %s", err, res.body)
	}
	rev.DeclarationNo = "222920260000099602"
	rev.Revision, rev.RevisedFrom = 1, targeting.Green
	rev.Degraded = true // decided while ClickHouse was unreachable: the officer is told
	prod := ingest.NewProducer([]string{r.broker.Addr})
	defer prod.Close()
	if err := prod.Publish(ctx, ingest.Message{Topic: r.broker.Topics.Decisions, Key: rev.DeclarationNo, Value: &rev}); err != nil {
		t.Fatal(err)
	}
	revised := ingest.DeclarationID(rev.DeclarationNo, rev.Version)
	r.waitTask(t, revised)

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	consoleLogin(t, ctx, rigOfficer, rigPassword, "#view-queue")
	row := func(id string) string { return `#queue-body tr[data-task-id="` + id + `"]` }
	step(t, ctx, "see both tasks", chromedp.WaitVisible(chromedp.CSS(row(revised))))
	step(t, ctx, "see the first task", chromedp.WaitVisible(chromedp.CSS(row(first))))
	if tag := step(t, ctx, "read the revised tag", textNow(row(revised)+` [data-testid="queue-revised"]`)); tag != "改判" {
		t.Errorf("revised tag = %q", tag)
	}
	if n := step(t, ctx, "count tags on the first", chromedp.Evaluate[int](`document.querySelectorAll('`+row(first)+` [data-testid="queue-revised"]').length`)); n != 0 {
		t.Errorf("a first decision is marked revised")
	}
	step(t, ctx, "open the revised task", clickNow(row(revised)))
	// The page renders the task, then again when its declaration and trail arrive.
	text := step(t, ctx, "read the revision", textNow(`#task-facts [data-testid="task-revision"]`))
	if !strings.Contains(text, "第 1 次改判") || !strings.Contains(text, "绿色") {
		t.Errorf("revision fact = %q, want the revision number and the channel it replaced", text)
	}
	if d := step(t, ctx, "read the degraded fact", textNow(`#task-facts [data-testid="task-degraded"]`)); !strings.Contains(d, "历史数据不可用") {
		t.Errorf("degraded fact = %q", d)
	}
	screenshot(t, ctx, "task-revised-zh")
	step(t, ctx, "back to the queue", chromedp.Navigate(srv.URL+"/console/#/queue"))
	step(t, ctx, "open the first task", clickNow(row(first)))
	step(t, ctx, "see its facts", chromedp.Poll[bool](`document.querySelector('#task-number').textContent.startsWith('222920260000099601')`))
	if n := step(t, ctx, "look for revision and degraded facts", chromedp.Evaluate[int](`document.querySelectorAll('#task-facts [data-testid="task-revision"], #task-facts [data-testid="task-degraded"]').length`)); n != 0 {
		t.Errorf("a first, normal decision's task shows a revision or degraded fact")
	}
}
