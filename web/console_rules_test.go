package web

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portguard/portguard/targeting"
)

// choose sets a select's value and fires its change event, as a user's pick does (SetValue
// alone fires nothing).
func choose(sel, value string) chromedp.Action[bool] {
	return chromedp.Evaluate[bool](`(() => { const s = document.querySelector(` + jsString(sel) + `); s.value = ` + jsString(value) +
		`; s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === ` + jsString(value) + `; })()`)
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

// analystRuleTurnsADeclarationRed: a risk analyst drafts a rule in the editor (HS prefix AND
// origin in a list) and submits it; the console tells her why she may not approve it herself;
// a second analyst approves it; a declaration posted through the API is then RED with the rule
// among its reasons, and the rule's page counts the match.
func analystRuleTurnsADeclarationRed(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)
	const reasonZH = "泰国、越南鲜菠萝检出检疫性有害生物，须查验"

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	consoleLogin(t, ctx, "analyst1", "password-analyst1", "#view-rules")
	step(t, ctx, "see the rig's active rule", chromedp.WaitVisible(chromedp.CSS(`#rules-body tr[data-rule-id="R1"][data-state="active"]`)))
	screenshot(t, ctx, "rules-zh")
	step(t, ctx, "start a new rule", chromedp.Click(chromedp.CSS("#rules-new")))
	step(t, ctx, "see the editor", chromedp.WaitVisible(chromedp.CSS("#rule-form")))
	step(t, ctx, "type the title", chromedp.SendKeys(chromedp.CSS("#rule-title"), "泰越鲜菠萝"))
	step(t, ctx, "type the reason", chromedp.SendKeys(chromedp.CSS("#rule-reason-zh"), reasonZH))
	step(t, ctx, "type the English reason", chromedp.SendKeys(chromedp.CSS("#rule-reason-en"), "Fresh pineapples from Thailand or Vietnam: quarantine pests"))
	step(t, ctx, "set the priority", chromedp.SetValue(chromedp.CSS("#rule-priority"), "20"))
	step(t, ctx, "type the HS prefix", chromedp.SendKeys(chromedp.CSS(`#rule-when [data-testid="cond-row"]:nth-child(1) [data-testid="cond-values"]`), "0804"))
	step(t, ctx, "add a condition", chromedp.Click(chromedp.CSS(`#rule-when [data-testid="cond-add"]`)))
	second := `#rule-when [data-testid="cond-row"]:nth-child(2)`
	step(t, ctx, "make it a country condition", choose(second+` [data-testid="cond-kind"]`, "origin"))
	step(t, ctx, "list the origins", chromedp.SendKeys(chromedp.CSS(second+` [data-testid="cond-values"]`), "VN, TH"))
	screenshot(t, ctx, "rule-editor-zh")
	step(t, ctx, "create the draft", chromedp.Click(chromedp.CSS("#rule-save")))
	step(t, ctx, "see the draft R2", chromedp.Poll[bool](`location.hash === '#/rule/R2' && document.querySelector('#rule-state').dataset.state === 'draft'`))
	// The lifecycle buttons are rebuilt by every render of the rule page, and saving a draft
	// renders it twice (the new address, then the saved rule): click from inside the page.
	step(t, ctx, "submit it", clickNow("#rule-submit:not([disabled])"))
	step(t, ctx, "see it pending", chromedp.Poll[bool](`document.querySelector('#rule-state').dataset.state === 'pending'`))
	if disabled := step(t, ctx, "check the approve button", chromedp.Evaluate[bool](`document.querySelector('#rule-approve').disabled`)); !disabled {
		t.Errorf("the author is offered to approve her own rule")
	}
	if why := step(t, ctx, "read why", chromedp.Text(chromedp.CSS("#rule-why"))); !strings.Contains(why, "双人复核") || !strings.Contains(why, "起草人") {
		t.Errorf("why = %q", why)
	}
	screenshot(t, ctx, "rule-pending-author-zh")
	consoleLogout(t, ctx)

	consoleLogin(t, ctx, "analyst2", "password-analyst2", "#view-rules")
	step(t, ctx, "show the pending rules", chromedp.Click(chromedp.CSS(`[data-testid="rules-tab-pending"]`)))
	step(t, ctx, "wait for the pending rules", settled("view-rules", `document.querySelector('[data-testid="rules-tab-pending"]').classList.contains('active')`))
	step(t, ctx, "open R2", clickNow(`#rules-body tr[data-rule-id="R2"]`))
	step(t, ctx, "see the approve button enabled", chromedp.Poll[bool](`!!document.querySelector('#rule-approve') && !document.querySelector('#rule-approve').disabled`))
	step(t, ctx, "approve", clickNow("#rule-approve:not([disabled])"))
	step(t, ctx, "see it active", chromedp.Poll[bool](`document.querySelector('#rule-state').dataset.state === 'active'`))
	sentence := step(t, ctx, "read the conditions", chromedp.Text(chromedp.CSS("#rule-sentence")))
	if sentence != "商品编码以 0804 开头 且 原产国属于 VN、TH" {
		t.Errorf("conditions read %q", sentence)
	}

	body := strings.Replace(goldenDeclaration(t, "222920260000099801"), `"hs_code": "0803901000"`, `"hs_code": "0804300000"`, 1)
	res := r.decide(t, body)
	d := decode[targeting.Decision](t, res.body)
	if res.code != 201 || d.Channel != targeting.Red {
		t.Fatalf("decide: %d %s", res.code, res.body)
	}
	fired := slices.IndexFunc(d.RulesFired, func(h targeting.RuleHit) bool { return h.ID == "R2" })
	if fired < 0 || slices.ContainsFunc(d.RulesFired, func(h targeting.RuleHit) bool { return h.ID == "R1" }) ||
		!slices.ContainsFunc(d.Reasons, func(x targeting.Reason) bool { return strings.Contains(x.ZH, reasonZH) }) {
		t.Errorf("decision reasons %+v, rules %+v", d.Reasons, d.RulesFired)
	}

	step(t, ctx, "reload the rule", chromedp.Reload())
	step(t, ctx, "see the match counted", chromedp.Poll[bool](`(document.querySelector('[data-testid="rule-matches"]') || {}).textContent === '1'`))
	step(t, ctx, "see the rule's record", chromedp.Poll[bool](`['rule.create','rule.submit','rule.approve'].every(a => !!document.querySelector('[data-testid="rule-history-entry"][data-action="' + a + '"]'))`))
	screenshot(t, ctx, "rule-active-zh")
}

// analystBacktestsADraft: with three days of history in ClickHouse, a risk analyst opens her
// draft of the banana rule, backtests it over those days and reads the hand-counted figures of
// TestRuleBacktestThroughTheAPI; she lowers the percentage in the editor without saving and the
// backtest selects what the keyed draws at that percentage select; a period that ends before it
// starts is refused in the editor, in Chinese.
func analystBacktestsADraft(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	seedBacktestHistory(t, r)
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)
	analyst := loginAs(t, r.handler, "analyst1", "password-analyst1")
	draft := decode[map[string]any](t, []byte(bananaDraft))
	draft["valid_from"] = time.Now().Add(-time.Hour).Format(time.RFC3339)
	if code, b := analyst.post(t, "/v1/rules", draft); code != 201 || decode[targeting.Rule](t, b).ID != "R2" {
		t.Fatalf("create the draft: %d %s", code, b)
	}

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	consoleLogin(t, ctx, "analyst1", "password-analyst1", "#view-rules")
	step(t, ctx, "see the draft R2", chromedp.WaitVisible(chromedp.CSS(`#rules-body tr[data-rule-id="R2"][data-state="draft"]`)))
	step(t, ctx, "open it", clickNow(`#rules-body tr[data-rule-id="R2"]`))
	step(t, ctx, "see the editor, loaded", settled("view-rule", `!document.querySelector('#rule-form').classList.contains('hidden')`))
	step(t, ctx, "see the backtest button", chromedp.WaitVisible(chromedp.CSS("#rule-backtest")))
	step(t, ctx, "set the first day", chromedp.SetValue(chromedp.CSS("#bt-from"), "2026-03-02"))
	step(t, ctx, "set the last day", chromedp.SetValue(chromedp.CSS("#bt-to"), "2026-03-04"))
	step(t, ctx, "backtest", chromedp.Click(chromedp.CSS("#rule-backtest")))
	done := `!document.querySelector('#bt-result').classList.contains('hidden') && document.querySelector('#rule-backtest-card').dataset.busy === 'false'`
	failed := `!document.querySelector('#bt-error').classList.contains('hidden')`
	step(t, ctx, "see the backtest start", chromedp.Poll[bool](`document.querySelector('#rule-backtest-card').dataset.busy !== undefined`))
	// A backtest reads ClickHouse and decides every declaration again: on a loaded machine that
	// can take longer than one step's 20 s, so each answer has a minute.
	wait := func(what, cond string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := chromedp.Run(wctx, chromedp.Poll[bool](cond)); err != nil {
			screenshot(t, ctx, "rule-backtest-stuck")
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait("see the result", done+" || "+failed)
	if msg := step(t, ctx, "read any error", chromedp.Evaluate[string](`(`+failed+`) ? document.querySelector('#bt-error').textContent : ''`)); msg != "" {
		t.Fatalf("the backtest failed: %s", msg)
	}
	text := func(id string) string {
		return step(t, ctx, "read "+id, chromedp.Text(chromedp.CSS(`[data-testid="`+id+`"]`)))
	}
	for id, want := range map[string][]string{
		"bt-period":       {"2026-03-02", "2026-03-04"},
		"bt-declarations": {"7"},
		"bt-matches":      {"5"},
		"bt-selected":     {"5", "100%"},
		"bt-extra":        {"2"},
		"bt-hit-rate":     {"33.3%", "[6.1%, 79.2%]", "1/3"},
		"bt-random":       {"0.0%", "[0.0%, 79.3%]", "0/1"},
		"bt-baseline":     {"50.0%", "1/2"},
	} {
		got := text(id)
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%s = %q, want %q in it", id, got, w)
			}
		}
	}
	if bars := step(t, ctx, "read the daily bars", chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid="bt-daily"] rect.bar-count')].map(b => b.dataset.value).join(',')`)); bars != "2,2,1" {
		t.Errorf("matches per day = %q, want 2,2,1", bars)
	}
	if ports := step(t, ctx, "read the workload", chromedp.Evaluate[string](`[...document.querySelectorAll('[data-testid="bt-port"]')].map(r => r.innerText.replace(/\s+/g, ' ')).join('; ')`)); ports != "2229 0.33; 5300 0.33" {
		t.Errorf("extra per day by port = %q", ports)
	}
	if spinning := step(t, ctx, "check the spinner", chromedp.Evaluate[bool](`!document.querySelector('#bt-progress').classList.contains('hidden')`)); spinning {
		t.Errorf("the spinner still shows after the result")
	}
	screenshot(t, ctx, "rule-backtest-zh")

	// Half the matches by the keyed draw of rule R2 (its ID is the draw's salt), unsaved.
	want := 0
	for _, p := range backtestHistory {
		if p.bananas && targeting.RandomDraw(targeting.DefaultConfig().RandomKey, "R2", p.number) < 0.5 {
			want++
		}
	}
	if want != 2 {
		t.Fatalf("the development key's draws changed: %d of 5 below 0.5 for R2; pick another percentage", want)
	}
	step(t, ctx, "lower the percentage without saving", chromedp.SetValue(chromedp.CSS("#rule-percent"), "50"))
	step(t, ctx, "backtest again", chromedp.Click(chromedp.CSS("#rule-backtest")))
	wait("see two of five selected", `(document.querySelector('[data-testid="bt-selected"]') || {}).textContent === '2（布控比例 50%）' && document.querySelector('#rule-backtest-card').dataset.busy === 'false'`)

	step(t, ctx, "set a last day before the first", chromedp.SetValue(chromedp.CSS("#bt-to"), "2026-03-01"))
	step(t, ctx, "backtest the bad period", chromedp.Click(chromedp.CSS("#rule-backtest")))
	wait("see the refusal in the editor", `!document.querySelector('#bt-error').classList.contains('hidden') && document.querySelector('#bt-error').textContent.includes('截止日期不能早于起始日期') && document.querySelector('#bt-result').classList.contains('hidden')`)
	if code, b := analyst.get(t, "/v1/rules/R2"); code != 200 || decode[ruleView](t, b).Rule.Percent != 100 {
		t.Errorf("the backtest saved the draft: %d %s", code, b)
	}
}
