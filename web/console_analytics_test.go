package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// hqDashboardShowsClickHouseNumbers: history made by the real services (three RED declarations,
// two results, one hit with 1,500 recovered) and one stored alert are shown on the HQ
// dashboard: key figures, honest hit rates, rule yield, grades, the alert, a grouped trend and
// its CSV export; a trend grouped and filtered by the enterprise grade as of each decision; the
// alert acknowledged with a comment (and audited); and the page reads in English.
func hqDashboardShowsClickHouseNumbers(t *testing.T, ctx context.Context) {
	r := newRig(t, testConfig())
	seedHistory(t, r, "222920260000099901", "222920260000099902", "222920260000099903")
	now := time.Now().UTC().Truncate(time.Second)
	alert := analytics.Alert{ID: "A-dash", Schema: analytics.SchemaAlertV1, Kind: analytics.AlertHitRate, SubjectKind: analytics.SubjectHS4Origin,
		Subject: "0803|VN", Port: rigPort, DetectedAt: now, WindowFrom: now.AddDate(0, 0, -14), WindowTo: now, Observed: 0.5, Expected: 0.04,
		PValue: 1e-5, QValue: 2e-4, State: "open", Evidence: analytics.Evidence{RecentN: 2, RecentK: 1, BaselineN: 300, BaselineK: 12,
			Test: "conditional binomial (own baseline)", Tested: 9, ZH: "越南香蕉查获率由 4% 升至 50%", EN: "bananas from Vietnam: hit rate 4% → 50%"}}
	if err := r.store.SaveAlerts(context.Background(), []analytics.Alert{alert}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.handler)
	t.Cleanup(srv.Close)

	step(t, ctx, "open the console", chromedp.Navigate(srv.URL+"/console/"))
	consoleLogin(t, ctx, "hq", "password-hq", "#view-analytics")
	step(t, ctx, "see the declarations counted", chromedp.Poll[bool](`document.querySelector('#an-k-decl').textContent === '3'`))
	for sel, want := range map[string]string{
		"#an-k-hit":                         "50.0%",
		"#an-k-hit-n":                       "1 / 2",
		"#an-k-insp":                        "100.0%",
		"#an-k-rev":                         "1,500",
		`[data-testid="an-hit-targeted"]`:   "50.0%",
		`[data-testid="an-hit-random"]`:     "—",
		`#an-rules-body tr[data-rule="R1"]`: "3",
		`#an-grades-body tr[data-enterprise="3122260001"]`: "3122260001",
		`#an-alerts li[data-alert-id="A-dash"]`:            "越南香蕉查获率由 4% 升至 50%",
	} {
		step(t, ctx, "see "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
		if txt := step(t, ctx, "read "+sel, chromedp.Text(chromedp.CSS(sel))); !strings.Contains(txt, want) {
			t.Errorf("%s = %q, want %q", sel, txt, want)
		}
	}
	if n := step(t, ctx, "count the chart's bars", chromedp.Evaluate[int](`document.querySelectorAll('#an-trend-chart rect.bar-count[data-value="3"]').length`)); n != 1 {
		t.Errorf("%d bars of 3 declarations in the trend chart, want 1", n)
	}
	rule := step(t, ctx, "read the rule yield", chromedp.Text(chromedp.CSS(`#an-rules-body tr[data-rule="R1"]`)))
	if !strings.Contains(rule, "50.0% [") {
		t.Errorf("rule yield row %q lacks the hit rate with its interval", rule)
	}
	screenshot(t, ctx, "analytics-zh")

	step(t, ctx, "group by channel", choose("#an-group", "channel"))
	step(t, ctx, "query", chromedp.Click(chromedp.CSS("#an-submit")))
	step(t, ctx, "see the grouped row", chromedp.Poll[bool](`[...document.querySelectorAll('[data-testid="an-trend-row"]')].some(r => r.textContent.includes('RED'))`))
	href := step(t, ctx, "read the CSV link", chromedp.AttributeValue(chromedp.CSS("#an-trend-csv"), "href"))
	if !strings.Contains(href.Value, "group_by=channel") || !strings.HasSuffix(href.Value, "format=csv") {
		t.Errorf("CSV link %q", href.Value)
	}
	csvText := step(t, ctx, "download the CSV", chromedp.Evaluate[string](`fetch(document.querySelector('#an-trend-csv').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	// The browser's text decoder drops the byte-order mark; TestAnalyticsThroughTheAPI checks it.
	if !strings.HasPrefix(csvText, "period,channel,declarations") || !strings.Contains(csvText, ",RED,3,3,2,1,1500.00,") {
		t.Errorf("CSV = %q", csvText)
	}

	// Group by the importer's grade as of each decision: the three declarations were decided
	// before it had a grade; a fourth, decided after grading, counts under its grade.
	changes, err := r.store.RecomputeGrades(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(changes, func(c analytics.GradeChange) bool { return c.Enterprise == "3122260001" })
	if i < 0 {
		t.Fatalf("grade changes %+v lack the importer", changes)
	}
	grade := changes[i].To
	if res := r.decide(t, goldenDeclaration(t, "222920260000099904")); res.code != http.StatusCreated {
		t.Fatalf("decide: %d %s", res.code, res.body)
	}
	hq := loginAs(t, r.handler, "hq", "password-hq")
	kafkatest.WaitFor(t, 30*time.Second, "ClickHouse never counted the graded declaration", func() bool {
		_, b := hq.get(t, "/v1/analytics/trend?group_by=enterprise_grade")
		return slices.ContainsFunc(decode[trendAnswer](t, b).Rows, func(r analytics.TrendRow) bool { return r.Group[0] == grade })
	})
	gradeZH := map[string]string{"green": "绿（低风险）", "yellow": "黄", "red": "红", "black": "黑（高风险）"}[grade]
	step(t, ctx, "group by enterprise grade", choose("#an-group", "enterprise_grade"))
	step(t, ctx, "query", chromedp.Click(chromedp.CSS("#an-submit")))
	gradeCell := `td[data-group="enterprise_grade"][data-value="` + grade + `"]`
	step(t, ctx, "see the graded and the ungraded rows", settled("view-analytics",
		`[...document.querySelectorAll('`+gradeCell+`')].some(td => td.textContent === '`+gradeZH+`') && `+
			`[...document.querySelectorAll('td[data-group="enterprise_grade"][data-value=""]')].some(td => td.textContent === '未评级')`))
	href = step(t, ctx, "read the CSV link", chromedp.AttributeValue(chromedp.CSS("#an-trend-csv"), "href"))
	if !strings.Contains(href.Value, "group_by=enterprise_grade") {
		t.Errorf("CSV link %q", href.Value)
	}
	csvText = step(t, ctx, "download the grouped CSV", chromedp.Evaluate[string](`fetch(document.querySelector('#an-trend-csv').href).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(csvText, "period,enterprise_grade,declarations") || !strings.Contains(csvText, ","+grade+",1,1,") || !strings.Contains(csvText, ",,3,3,") {
		t.Errorf("CSV by grade = %q", csvText)
	}
	step(t, ctx, "filter by the grade", choose("#an-grade", grade))
	step(t, ctx, "query", chromedp.Click(chromedp.CSS("#an-submit")))
	step(t, ctx, "see only the graded declaration", settled("view-analytics",
		`document.querySelector('#an-k-decl').textContent === '1' && document.querySelectorAll('`+gradeCell+`').length > 0`))
	step(t, ctx, "clear the grade filter", choose("#an-grade", ""))
	screenshot(t, ctx, "analytics-by-grade")

	// An HQ analyst acknowledges the early warning with a comment: it leaves the open ones, shows
	// who and why, and is on the audit trail.
	alertLI := `li[data-alert-id="A-dash"]`
	if txt := step(t, ctx, "read the alert's state", chromedp.Text(chromedp.CSS(alertLI+` [data-testid="an-alert-state-tag"]`))); txt != "待处理" {
		t.Errorf("the new alert's state reads %q", txt)
	}
	step(t, ctx, "open the acknowledgement", clickNow(alertLI+` [data-testid="an-alert-acknowledge"]`))
	step(t, ctx, "submit without a comment", clickNow(alertLI+` [data-testid="an-alert-submit"]`))
	if txt := step(t, ctx, "read the refusal", chromedp.Text(chromedp.CSS(alertLI+` [data-testid="an-alert-comment-error"]`))); txt != "请填写处理意见" {
		t.Errorf("an empty comment says %q", txt)
	}
	const comment = "已下发布控指令 R1，重点查验越南香蕉"
	step(t, ctx, "type the comment", chromedp.SendKeys(chromedp.CSS(alertLI+` [data-testid="an-alert-comment"]`), comment))
	step(t, ctx, "acknowledge", clickNow(alertLI+` [data-testid="an-alert-submit"]`))
	step(t, ctx, "see it acknowledged by hq with the comment", settled("view-analytics",
		`(() => { const li = document.querySelector('`+alertLI+`'); const r = li && li.querySelector('[data-testid="an-alert-review"]');
		  return li.dataset.state === 'acknowledged' && !!r && r.textContent.includes('hq') && r.textContent.includes('`+comment+`') &&
		    !li.querySelector('[data-testid="an-alert-acknowledge"]'); })()`))
	step(t, ctx, "show open warnings only", choose("#an-alert-state", "open"))
	step(t, ctx, "see no open warning", settled("view-analytics",
		`!document.querySelector('`+alertLI+`') && !document.querySelector('#an-alerts-empty').classList.contains('hidden')`))
	step(t, ctx, "show acknowledged warnings", choose("#an-alert-state", "acknowledged"))
	step(t, ctx, "see the acknowledged warning", settled("view-analytics", `!!document.querySelector('`+alertLI+`[data-state="acknowledged"]')`))
	recs, err := r.clearance.Trail(context.Background(), "alert:A-dash")
	if err != nil || len(recs) != 1 || recs[0].Actor != "hq" || recs[0].Action != "alert.acknowledge" || !strings.Contains(recs[0].Detail, comment) {
		t.Errorf("audit trail of the alert: %+v, %v", recs, err)
	}
	screenshot(t, ctx, "analytics-alert-acknowledged")

	step(t, ctx, "switch to English", chromedp.Click(chromedp.CSS("#lang-switch")))
	if txt := step(t, ctx, "read the alert's state in English", chromedp.Text(chromedp.CSS(alertLI+` [data-testid="an-alert-state-tag"]`))); txt != "Acknowledged" {
		t.Errorf("in English the alert's state reads %q", txt)
	}
	if txt := step(t, ctx, "read the hit-rate card", chromedp.Text(chromedp.CSS(`[data-testid="an-hit-card"] h2`))); txt != "Honest hit rates" {
		t.Errorf("in English the card reads %q", txt)
	}
	if txt := step(t, ctx, "read the targeted row", chromedp.Text(chromedp.CSS(`[data-testid="an-hit-targeted"]`))); !strings.Contains(txt, "Targeted") {
		t.Errorf("targeted row in English = %q", txt)
	}
	screenshot(t, ctx, "analytics-en")
}
