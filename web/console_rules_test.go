package web

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

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
	step(t, ctx, "submit it", chromedp.Click(chromedp.CSS("#rule-submit")))
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
	step(t, ctx, "open R2", chromedp.Click(chromedp.CSS(`#rules-body tr[data-rule-id="R2"]`)))
	step(t, ctx, "see the approve button enabled", chromedp.Poll[bool](`!!document.querySelector('#rule-approve') && !document.querySelector('#rule-approve').disabled`))
	step(t, ctx, "approve", chromedp.Click(chromedp.CSS("#rule-approve")))
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
