package web

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
)

// chromiumPath finds Debian's Chromium. Without it the browser tests skip, except under
// CI=true, where they fail: CI must exercise the console.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("chromium is not installed; ./deploy/test.sh installs it")
	}
	tb.Skip("skipped: chromium is not installed; ./deploy/test.sh installs it")
	return ""
}

// browser is one headless Chromium shared by the console tests: starting it costs seconds, and
// each test gets its own browser context (cookies, storage) from tab, so tests stay isolated.
type browser struct{ ctx context.Context }

// startBrowser starts Chromium with a fresh profile; it stops when the test ends.
func startBrowser(tb testing.TB) *browser {
	tb.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(tb)),
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(1440, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	tb.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser; no timeout on this first call
		tb.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// tab opens a tab in a new browser context: a clean profile for one test.
func (b *browser) tab(tb testing.TB) context.Context {
	tb.Helper()
	var mu sync.Mutex
	var errs []string
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			mu.Lock()
			errs = append(errs, msg)
			mu.Unlock()
		}
	}))
	tb.Cleanup(func() {
		// A script error explains most console test failures: show them with the failure.
		mu.Lock()
		defer mu.Unlock()
		if tb.Failed() {
			for _, e := range errs {
				tb.Logf("console script error: %s", e)
			}
		}
		cancel()
	})
	// The target lives as long as the context its first Run gets: create it here, on ctx itself,
	// not inside a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("open a tab: %v", err)
	}
	return ctx
}

// consoleLogin logs in through the login form and waits for the landing page.
func consoleLogin(tb testing.TB, ctx context.Context, user, password, landing string) {
	tb.Helper()
	step(tb, ctx, "see the login form", chromedp.WaitVisible(chromedp.CSS("#login-username")))
	step(tb, ctx, "clear the user name", chromedp.Evaluate[bool](`(document.querySelector('#login-username').value = '') === ''`))
	step(tb, ctx, "type the user name", chromedp.SendKeys(chromedp.CSS("#login-username"), user))
	step(tb, ctx, "type the password", chromedp.SendKeys(chromedp.CSS("#login-password"), password))
	step(tb, ctx, "log in as "+user, chromedp.Click(chromedp.CSS("#login-submit")))
	step(tb, ctx, "land on "+landing, chromedp.WaitVisible(chromedp.CSS(landing)))
}

// settled polls until cond holds and view has finished loading (its data-busy is false): a
// page redraws its rows when its data arrives, and a click on a row about to be replaced fails.
func settled(view, cond string) chromedp.Action[bool] {
	return chromedp.Poll[bool](`(` + cond + `) && document.querySelector('#` + view + `').dataset.busy === 'false'`)
}

// clickNow clicks the first element matching css from inside the page, waiting until there is
// one. A list that re-renders (a second fetch landing) cannot replace the node between finding
// and clicking it, as it can between chromedp.Click's separate round trips ("Could not find
// node with given id").
func clickNow(css string) chromedp.Action[bool] {
	return chromedp.Poll[bool](`(() => { const e = document.querySelector(` + strconv.Quote(css) + `); if (!e) return false; e.click(); return true; })()`)
}

// textNow waits until an element matching css has text and returns it, read from inside the
// page: a page that renders again cannot replace the node between chromedp.Text's round trips.
func textNow(css string) chromedp.Action[string] {
	return chromedp.Poll[string](`(() => { const e = document.querySelector(` + strconv.Quote(css) + `); return e && e.textContent; })()`)
}

// consoleLogout logs out with the top bar button.
func consoleLogout(tb testing.TB, ctx context.Context) {
	tb.Helper()
	step(tb, ctx, "log out", chromedp.Click(chromedp.CSS("#logout")))
	step(tb, ctx, "see the login form again", chromedp.WaitVisible(chromedp.CSS("#login-username")))
}

// step runs one browser action with a deadline, failing the test with what was being done.
func step[T any](tb testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	tb.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	return v
}

// screenshot saves the page to PORTGUARD_SCREENSHOT_DIR (or the test's temp dir) so that a
// person can look at it.
func screenshot(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	dir := os.Getenv("PORTGUARD_SCREENSHOT_DIR")
	if dir == "" {
		dir = tb.TempDir()
	}
	png := step(tb, ctx, "screenshot "+name, chromedp.FullScreenshot(100)) // quality 100 gives PNG; less gives JPEG
	p := filepath.Join(dir, "portguard-console-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("screenshot: %s", p)
}

// TestConsole drives the console in one real Chromium against the real services; each subtest
// has its own browser context and, where it needs one, its own rig, so they run in parallel.
func TestConsole(t *testing.T) {
	b := startBrowser(t)
	t.Run("an officer records a non-conforming result with two findings and the consignment is released", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		officerRecordsAResult(t, b.tab(t))
	})
	t.Run("a wrong password is shown and nothing of the queue", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		loginFailureIsShown(t, b.tab(t))
	})
	t.Run("a sample waits for the laboratory and the lab report completes it", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		labSamplingPendingThenCompleted(t, b.tab(t))
	})
	t.Run("an override with a reason is reviewed by the supervisor and the trail shows every action", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		overrideReviewedAndTrail(t, b.tab(t))
	})
	t.Run("an analyst's rule, approved by a second analyst, turns a declaration RED", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		analystRuleTurnsADeclarationRed(t, b.tab(t))
	})
	t.Run("an analyst backtests a draft over ClickHouse history and reads its figures", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		analystBacktestsADraft(t, b.tab(t))
	})
	t.Run("a revised decision's task says which revision it is and what it replaced", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		revisedDecisionShowsWhyTheChannelMoved(t, b.tab(t))
	})
	t.Run("the HQ dashboard shows the numbers ClickHouse holds", func(t *testing.T) {
		t.Parallel() // own browser context and own rig: the waits overlap
		hqDashboardShowsClickHouseNumbers(t, b.tab(t))
	})
}

// officerRecordsAResult: an officer logs in, sees the RED consignment with its Chinese reason,
// records a non-conforming result with two findings, sees it released, and switches to English.
func officerRecordsAResult(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)

	const number = "222920260000099101"
	taskID := ingest.DeclarationID(number, 1)
	if res := r.decide(t, goldenDeclaration(t, number)); res.code != 201 {
		t.Fatalf("decide: %d %s", res.code, res.body)
	}
	r.waitTask(t, taskID)
	row := `#queue-body tr[data-task-id="` + taskID + `"]`

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	step(t, ctx, "see the login form", chromedp.WaitVisible(chromedp.CSS("#login-username")))
	if title := step(t, ctx, "read the login title", chromedp.Text(chromedp.CSS("#login-form h1"))); title != "关员登录" {
		t.Errorf("login title = %q, want Chinese first", title)
	}
	step(t, ctx, "type the user name", chromedp.SendKeys(chromedp.CSS("#login-username"), rigOfficer))
	step(t, ctx, "type the password", chromedp.SendKeys(chromedp.CSS("#login-password"), rigPassword))
	step(t, ctx, "log in", chromedp.Click(chromedp.CSS("#login-submit")))

	step(t, ctx, "see the consignment in the queue", chromedp.WaitVisible(chromedp.CSS(row)))
	rowText := step(t, ctx, "read the queue row", chromedp.Text(chromedp.CSS(row)))
	for _, want := range []string{number, "红色 · 查验", rigRuleZH, "已分派"} {
		if !strings.Contains(rowText, want) {
			t.Errorf("queue row %q lacks %q", rowText, want)
		}
	}
	if ch := step(t, ctx, "read the row's channel", chromedp.AttributeValue(chromedp.CSS(row), "data-channel")); ch.Value != "RED" {
		t.Errorf("row channel = %+v", ch)
	}
	screenshot(t, ctx, "queue-zh")

	step(t, ctx, "open the task", clickNow(row))
	step(t, ctx, "see the result form", chromedp.WaitVisible(chromedp.CSS("#result-form")))
	step(t, ctx, "see the declaration's three goods items", chromedp.Poll[bool](
		`document.querySelectorAll('[data-testid="item-row"]').length === 3`))
	items := step(t, ctx, "read the items", chromedp.Text(chromedp.CSS("#items-table")))
	if !strings.Contains(items, "鲜香蕉") || !strings.Contains(items, "0803901000") {
		t.Errorf("items table = %q", items)
	}
	reasons := step(t, ctx, "read the reasons", chromedp.Text(chromedp.CSS("#task-reasons")))
	if !strings.Contains(reasons, rigRuleZH) {
		t.Errorf("reasons = %q", reasons)
	}
	step(t, ctx, "see the findings picklist", chromedp.WaitVisible(chromedp.CSS("#finding-QUARANTINE_PEST")))
	screenshot(t, ctx, "task-zh")

	step(t, ctx, "choose non-conforming", chromedp.Click(chromedp.CSS("#outcome-nonconforming")))
	step(t, ctx, "tick a quarantine pest", chromedp.Click(chromedp.CSS("#finding-QUARANTINE_PEST")))
	step(t, ctx, "tick wood packaging", chromedp.Click(chromedp.CSS("#finding-WOOD_PACKAGING")))
	step(t, ctx, "set the adjustment", chromedp.SetValue(chromedp.CSS("#result-adjustment"), "1200"))
	step(t, ctx, "choose treat-then-release", chromedp.SetValue(chromedp.CSS("#result-disposition"), clearance.DispTreatRelease))
	step(t, ctx, "write a note", chromedp.SendKeys(chromedp.CSS("#result-note"), "检出实蝇，已做熏蒸处理"))
	step(t, ctx, "submit the result", chromedp.Click(chromedp.CSS("#result-submit")))

	step(t, ctx, "see the task released", chromedp.Poll[bool](
		`document.querySelector('#task-state').dataset.state === 'TREATED_RELEASED'`))
	step(t, ctx, "see the recorded result", chromedp.WaitVisible(chromedp.CSS("#result-view")))
	state := step(t, ctx, "read the state", chromedp.Text(chromedp.CSS("#task-state")))
	if !strings.Contains(state, "放行") {
		t.Errorf("state = %q, want released (放行)", state)
	}
	result := step(t, ctx, "read the result", chromedp.Text(chromedp.CSS("#result-facts")))
	for _, want := range []string{"不合格", "检出检疫性有害生物或疫病", "木质包装不合格", "处理后放行"} {
		if !strings.Contains(result, want) {
			t.Errorf("result %q lacks %q", result, want)
		}
	}
	if visible := step(t, ctx, "check the form is gone", chromedp.Evaluate[bool](
		`!document.querySelector('#result-form').classList.contains('hidden')`)); visible {
		t.Errorf("the result form is still offered on a released task")
	}
	screenshot(t, ctx, "released-zh")

	got, err := r.clearance.Task(context.Background(), taskID)
	if err != nil || got.State != clearance.TaskTreatedRelease || got.Result == nil || len(got.Result.Findings) != 2 ||
		got.Result.Officer != rigOfficer || got.Result.Adjustment != 1200 {
		t.Fatalf("clearance holds %+v, %v", got, err)
	}

	step(t, ctx, "switch to English", chromedp.Click(chromedp.CSS("#lang-switch")))
	for sel, want := range map[string]string{
		"#task-back":         "Back to tasks",
		"#result-view h2":    "This task is closed; its result:",
		"#task-state":        "Treated, released",
		"#lang-switch":       "中文",
		"#task-channel":      "RED · Inspect",
		"#items-table thead": "Description",
		"#result-facts":      "Quarantine pest or disease found",
	} {
		if txt := step(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel))); !strings.Contains(txt, want) {
			t.Errorf("in English %s = %q, want %q", sel, txt, want)
		}
	}
	if txt := step(t, ctx, "read the English reason", chromedp.Text(chromedp.CSS("#task-reasons li span"))); !strings.Contains(txt, rigRuleEN) {
		t.Errorf("English reason = %q", txt)
	}
	screenshot(t, ctx, "released-en")

	step(t, ctx, "reload the page", chromedp.Reload())
	step(t, ctx, "wait for the console", chromedp.Poll[bool](`document.body.dataset.ready === 'true'`))
	step(t, ctx, "see the task again", chromedp.WaitVisible(chromedp.CSS("#result-view")))
	if txt := step(t, ctx, "read the back link", chromedp.Text(chromedp.CSS("#task-back"))); txt != "Back to tasks" {
		t.Errorf("after a reload the language is %q: the choice was not remembered", txt)
	}
	if lang := step(t, ctx, "read the page language", chromedp.Evaluate[string](`document.documentElement.lang`)); lang != "en" {
		t.Errorf("html lang = %q", lang)
	}

	step(t, ctx, "go back to the queue", chromedp.Click(chromedp.CSS("#task-back")))
	step(t, ctx, "see the queue", chromedp.WaitVisible(chromedp.CSS("#view-queue")))
	step(t, ctx, "see it is no longer open", chromedp.Poll[bool](
		`!document.querySelector('`+row+`') && !document.querySelector('#queue-empty').classList.contains('hidden')`))
	step(t, ctx, "open the closed tab", chromedp.Click(chromedp.CSS("#tab-done")))
	step(t, ctx, "see it among the closed", chromedp.WaitVisible(chromedp.CSS(row)))

	step(t, ctx, "log out", chromedp.Click(chromedp.CSS("#logout")))
	step(t, ctx, "see the login form again", chromedp.WaitVisible(chromedp.CSS("#login-username")))
}

// loginFailureIsShown checks the wrong-password message and that nothing of the queue is shown
// before a login.
func loginFailureIsShown(t *testing.T, ctx context.Context) {
	_, h := mustServer(t, testConfig(), Deps{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/#/queue"))
	step(t, ctx, "see the login form", chromedp.WaitVisible(chromedp.CSS("#login-username")))
	step(t, ctx, "type the user name", chromedp.SendKeys(chromedp.CSS("#login-username"), "officer-user"))
	step(t, ctx, "type a wrong password", chromedp.SendKeys(chromedp.CSS("#login-password"), "not-the-password"))
	step(t, ctx, "log in", chromedp.Click(chromedp.CSS("#login-submit")))
	step(t, ctx, "see the error", chromedp.WaitVisible(chromedp.CSS("#login-error")))
	if txt := step(t, ctx, "read the error", chromedp.Text(chromedp.CSS("#login-error"))); txt != "用户名或密码错误" {
		t.Errorf("login error = %q", txt)
	}
	if hidden := step(t, ctx, "check the queue is hidden", chromedp.Evaluate[bool](
		`document.querySelector('#view-queue').classList.contains('hidden')`)); !hidden {
		t.Errorf("the queue is visible before login")
	}
}
