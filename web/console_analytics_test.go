package web

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/portguard/portguard/analytics"
)

// hqDashboardShowsClickHouseNumbers: history made by the real services (three RED declarations,
// two results, one hit with 1,500 recovered) and one stored alert are shown on the HQ
// dashboard: key figures, honest hit rates, rule yield, grades, the alert, a grouped trend and
// its CSV export; and the page reads in English.
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

	step(t, ctx, "switch to English", chromedp.Click(chromedp.CSS("#lang-switch")))
	if txt := step(t, ctx, "read the hit-rate card", chromedp.Text(chromedp.CSS(`[data-testid="an-hit-card"] h2`))); txt != "Honest hit rates" {
		t.Errorf("in English the card reads %q", txt)
	}
	if txt := step(t, ctx, "read the targeted row", chromedp.Text(chromedp.CSS(`[data-testid="an-hit-targeted"]`))); !strings.Contains(txt, "Targeted") {
		t.Errorf("targeted row in English = %q", txt)
	}
	screenshot(t, ctx, "analytics-en")
}
