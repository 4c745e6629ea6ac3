package web

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// pastConsignment is one declaration of the backtest history and what happened to it.
type pastConsignment struct {
	number  string
	day     int    // days after 2026-03-02
	port    string // "" = the golden's 2229
	bananas bool   // the golden's Vietnamese bananas; otherwise pineapples (HS 0804)
	channel targeting.Channel
	random  bool
	result  string // "", "hit" or "clean"
}

// backtestHistory is three days of stored history. The rig's banana rule (HS 0803 from VN) matches
// A, B, D, E and G; A, D and G were inspected with results (one hit); D was the random control's,
// as was F (a hit, not a match); B and E (at 5300) were released without inspection, so a 100%
// rule adds them as workload.
var backtestHistory = []pastConsignment{
	{number: "222920260000077001", day: 0, bananas: true, channel: targeting.Red, result: "hit"},                 // A
	{number: "222920260000077002", day: 0, bananas: true, channel: targeting.Green},                              // B
	{number: "222920260000077003", day: 0, channel: targeting.Green},                                             // C
	{number: "222920260000077004", day: 1, bananas: true, channel: targeting.Red, random: true, result: "clean"}, // D
	{number: "222920260000077005", day: 1, bananas: true, port: "5300", channel: targeting.Green},                // E
	{number: "222920260000077006", day: 1, channel: targeting.Red, random: true, result: "hit"},                  // F
	{number: "222920260000077007", day: 2, bananas: true, channel: targeting.Yellow, result: "clean"},            // G
}

// seedBacktestHistory writes backtestHistory to the rig's ClickHouse as the services would have:
// normalized declarations, their decisions and the officers' results.
func seedBacktestHistory(t *testing.T, r *rig) {
	t.Helper()
	ctx := context.Background()
	v := ingest.NewValidator(ingest.DefaultConfig())
	day0 := time.Date(2026, 3, 2, 1, 30, 0, 0, time.UTC)
	var decls []*ingest.Declaration
	var decisions []targeting.Decision
	var results []clearance.InspectionResult
	for i, p := range backtestHistory {
		at := day0.AddDate(0, 0, p.day).Add(time.Duration(i) * time.Minute)
		raw := strings.Replace(goldenDeclaration(t, p.number), `"2026-03-02T09:30:00+08:00"`, `"`+at.Format(time.RFC3339)+`"`, 1)
		if p.port != "" {
			raw = strings.Replace(raw, `"port": "2229"`, `"port": "`+p.port+`"`, 1)
		}
		if !p.bananas {
			raw = strings.Replace(raw, `"hs_code": "0803901000"`, `"hs_code": "0804300000"`, 1)
		}
		d, err := v.Declaration([]byte(raw))
		if err != nil {
			t.Fatalf("declaration %s: %v", p.number, err)
		}
		decls = append(decls, d)
		sel := targeting.SelectedByModel
		if p.random {
			sel = targeting.SelectedByRandom
		}
		decisions = append(decisions, targeting.Decision{Schema: targeting.SchemaDecisionV1, DeclarationNo: d.Number,
			Version: d.Version, Port: d.Port, Channel: p.channel, Action: targeting.ActionPhysical, Selection: sel,
			Random: p.random, Propensity: 0.1, ModelVersion: "m1", DecidedAt: at.Add(time.Second)})
		if p.result != "" {
			out := clearance.Conforming
			if p.result == "hit" {
				out = clearance.NonConforming
			}
			results = append(results, clearance.InspectionResult{Schema: clearance.SchemaInspectionResultV1,
				DeclarationNo: d.Number, DeclVersion: d.Version, Version: 1, TaskID: ingest.DeclarationID(d.Number, d.Version),
				Officer: rigOfficer, Port: d.Port, Outcome: out, Disposition: clearance.DispRelease, InspectedAt: at.Add(time.Hour)})
		}
	}
	if err := r.store.InsertDeclarations(ctx, decls); err != nil {
		t.Fatal(err)
	}
	if err := r.store.InsertDecisions(ctx, decisions); err != nil {
		t.Fatal(err)
	}
	if err := r.store.InsertResults(ctx, results); err != nil {
		t.Fatal(err)
	}
}

// bananaDraft is the body of a draft rule as the editor sends it: the rig's rule, not saved.
const bananaDraft = `{"title":"越南鲜香蕉（草稿）","reason_zh":"回测","reason_en":"backtest","action":"PHYSICAL","percent":100,
 "when":{"all":[{"field":"hs_code","op":"prefix","values":["0803"]},{"field":"origin_country","op":"in","values":["VN"]}]}}`

const backtestPeriod = "?from=2026-03-02&to=2026-03-04"

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestRuleBacktestThroughTheAPI backtests a draft and a stored rule over history stored in the
// real ClickHouse and checks every figure against the hand count of backtestHistory, then the
// refusals.
func TestRuleBacktestThroughTheAPI(t *testing.T) {
	r := newRig(t, testConfig())
	seedBacktestHistory(t, r)
	analyst := loginAs(t, r.handler, "analyst1", "password-analyst1")

	checkAll := func(t *testing.T, code int, b []byte) {
		t.Helper()
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, b)
		}
		a := decode[backtestAnswer](t, b)
		if a.Declarations != 7 || a.Matches != 5 || a.Selected != 5 || a.Days != 3 || a.From != "2026-03-02" || a.To != "2026-03-04" ||
			a.AskedFrom != "2026-03-02" || a.AskedTo != "2026-03-04" || a.Percent != 100 || a.Port != "" {
			t.Errorf("totals: %s", b)
		}
		want := []evaluate.BacktestDay{
			{Day: "2026-03-02", Declarations: 3, Matches: 2, Selected: 2, Extra: 1},
			{Day: "2026-03-03", Declarations: 3, Matches: 2, Selected: 2, Extra: 1},
			{Day: "2026-03-04", Declarations: 1, Matches: 1, Selected: 1, Extra: 0},
		}
		if len(a.PerDay) != len(want) {
			t.Fatalf("per day: %+v", a.PerDay)
		}
		for i, w := range want {
			g := a.PerDay[i]
			if g.Day != w.Day || g.Declarations != w.Declarations || g.Matches != w.Matches || g.Selected != w.Selected || g.Extra != w.Extra {
				t.Errorf("day %d = %+v, want %+v", i, g, w)
			}
		}
		// A hit, D and G clean: 1 of 3, Wilson 95% [0.0615, 0.7923].
		mi := a.MatchedInspected
		if mi.N != 3 || mi.Hits != 1 || !near(mi.Rate, 1.0/3) || math.Abs(mi.Low-0.06149194) > 1e-6 || math.Abs(mi.High-0.79234040) > 1e-6 {
			t.Errorf("matched inspected = %+v", mi)
		}
		if mr := a.MatchedRandom; mr.N != 1 || mr.Hits != 0 || mr.Rate != 0 || math.Abs(mr.High-0.79345069) > 1e-6 {
			t.Errorf("matched random = %+v", mr)
		}
		if rb := a.RandomBaseline; rb.N != 2 || rb.Hits != 1 || !near(rb.Rate, 0.5) {
			t.Errorf("random baseline = %+v", rb)
		}
		if len(a.ExtraPerDayByPort) != 2 || !near(a.ExtraPerDayByPort["2229"], 1.0/3) || !near(a.ExtraPerDayByPort["5300"], 1.0/3) {
			t.Errorf("extra per day by port = %v", a.ExtraPerDayByPort)
		}
	}

	t.Run("a draft in the body is backtested over the period with the hand-counted figures", func(t *testing.T) {
		code, b := analyst.post(t, "/v1/rules/backtest"+backtestPeriod, decode[map[string]any](t, []byte(bananaDraft)))
		checkAll(t, code, b)
		if a := decode[backtestAnswer](t, b); a.Rule != "BACKTEST" {
			t.Errorf("rule = %q", a.Rule)
		}
	})

	t.Run("a stored rule is backtested by its ID with the same figures", func(t *testing.T) {
		code, b := analyst.post(t, "/v1/rules/R1/backtest"+backtestPeriod, nil)
		checkAll(t, code, b)
	})

	t.Run("at 17 percent it selects the matches whose keyed draw falls below 0.17, as the service would", func(t *testing.T) {
		part := strings.Replace(bananaDraft, `"percent":100`, `"percent":17`, 1)
		code, b := analyst.post(t, "/v1/rules/backtest"+backtestPeriod, decode[map[string]any](t, []byte(part)))
		if code != http.StatusOK {
			t.Fatalf("%d %s", code, b)
		}
		a := decode[backtestAnswer](t, b)
		var want []string
		for _, p := range backtestHistory {
			if p.bananas && targeting.RandomDraw(targeting.DefaultConfig().RandomKey, "BACKTEST", p.number) < 0.17 {
				want = append(want, p.number)
			}
		}
		// With the development key: 077004, 077005 and 077007 (draws 0.02, 0.16, 0.16); not 077001
		// or 077002 (0.23, 0.19). Three of five keeps the check from passing by accident.
		if len(want) != 3 || a.Matches != 5 || a.Selected != len(want) || a.Percent != 17 {
			t.Errorf("matches %d, selected %d (want %v): %s", a.Matches, a.Selected, want, b)
		}
	})

	t.Run("a supervisor bound to a port sees that port's history only", func(t *testing.T) {
		sup := loginAs(t, r.handler, "supervisor", "password-supervisor")
		code, b := sup.post(t, "/v1/rules/R1/backtest"+backtestPeriod, nil)
		a := decode[backtestAnswer](t, b)
		if code != http.StatusOK || a.Declarations != 6 || a.Matches != 4 || a.Port != rigPort ||
			len(a.ExtraPerDayByPort) != 1 || !near(a.ExtraPerDayByPort[rigPort], 1.0/3) {
			t.Errorf("%d %s", code, b)
		}
	})

	t.Run("refusals say what is wrong in both languages", func(t *testing.T) {
		noTitle := strings.Replace(bananaDraft, `"title":"越南鲜香蕉（草稿）",`, "", 1)
		for _, tc := range []struct {
			name, path, body string
			code             int
			errCode, field   string
			en, zh           string
		}{
			{"a rule without a title", "/v1/rules/backtest" + backtestPeriod, noTitle, 422, "invalid", "title", "title is required", "缺少标题"},
			{"the last day before the first", "/v1/rules/backtest?from=2026-03-04&to=2026-03-02", bananaDraft, 422, "invalid", "to", "must not be before from", "截止日期不能早于起始日期"},
			{"more than 366 days", "/v1/rules/backtest?from=2025-03-02&to=2026-03-04", bananaDraft, 422, "invalid", "from", "at most 366 days", "最长 366 天"},
			{"a date that is not one", "/v1/rules/backtest?from=2026-3-2", bananaDraft, 422, "invalid", "from", "YYYY-MM-DD", "YYYY-MM-DD"},
			{"a period without declarations", "/v1/rules/backtest?from=2025-01-01&to=2025-01-31", bananaDraft, 422, "no_history", "", "no declarations were stored", "没有报关单"},
			{"an unknown rule", "/v1/rules/R99/backtest" + backtestPeriod, "", 404, "not_found", "", "not found", "未找到"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var code int
				var b []byte
				if tc.body == "" {
					code, b = analyst.post(t, tc.path, nil)
				} else {
					code, b = analyst.post(t, tc.path, decode[map[string]any](t, []byte(tc.body)))
				}
				e := decode[errorBody](t, b).Error
				if code != tc.code || e.Code != tc.errCode {
					t.Fatalf("%d %s", code, b)
				}
				text := e.Message + " " + e.MessageZH
				if tc.field != "" {
					found := false
					for _, f := range e.Fields {
						if f.Path == tc.field {
							found, text = true, f.EN+" "+f.ZH
						}
					}
					if !found {
						t.Fatalf("no field %q: %s", tc.field, b)
					}
				}
				if !strings.Contains(text, tc.en) || !strings.Contains(text, tc.zh) {
					t.Errorf("messages %q lack %q / %q", text, tc.en, tc.zh)
				}
			})
		}
	})

	t.Run("officers may not backtest", func(t *testing.T) {
		officer := loginAs(t, r.handler, rigOfficer, rigPassword)
		if code, b := officer.post(t, "/v1/rules/R1/backtest"+backtestPeriod, nil); code != http.StatusForbidden {
			t.Errorf("%d %s", code, b)
		}
	})
}

// TestRuleBacktestWithoutClickHouse cuts the network between the store and a real ClickHouse:
// every backtest then answers 503 quickly (the store's breaker), never hanging the request.
func TestRuleBacktestWithoutClickHouse(t *testing.T) {
	db := chtest.New(t)
	proxy := startProxy(t, db.Addr)
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = proxy.addr(), db.Database
	cfg.DialTimeout = time.Second
	st, err := analytics.Open(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, h := mustServer(t, testConfig(), Deps{Backtests: &evaluate.Backtester{Config: targeting.DefaultConfig(), History: st}})
	post := func() (int, errorDetail, time.Duration) {
		start := time.Now()
		w := do(t, h, request{method: "POST", path: "/v1/rules/backtest" + backtestPeriod, body: bananaDraft,
			headers: []string{"Content-Type", "application/json", headerAPIKey, testKey(RoleRiskAnalyst)}})
		var e errorDetail
		if w.Code != http.StatusOK {
			e = errorOf(t, w)
		}
		return w.Code, e, time.Since(start)
	}
	if code, e, _ := post(); code != 422 || e.Code != "no_history" {
		t.Fatalf("with ClickHouse reachable: %d %+v", code, e)
	}
	proxy.cut()
	for i := range cfg.BreakerFailures + 2 {
		code, e, took := post()
		if code != http.StatusServiceUnavailable || e.Code != "unavailable" || !strings.Contains(e.MessageZH, "ClickHouse") {
			t.Fatalf("call %d: %d %+v", i, code, e)
		}
		if took > cfg.DialTimeout+5*time.Second {
			t.Errorf("call %d took %v", i, took)
		}
	}
	if _, _, took := post(); took > 100*time.Millisecond {
		t.Errorf("with the breaker open a backtest still took %v", took)
	}
}

// tcpProxy forwards connections to a server until cut, which closes them all and refuses new
// ones: the server is unreachable, as when the network fails.
type tcpProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startProxy(tb testing.TB, target string) *tcpProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{ln: ln}
	tb.Cleanup(p.cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// blockingBacktests stands in for the backtester to test web's own bounds: it answers only when
// its caller's context ends (the time limit) and reports each call's start on started.
type blockingBacktests struct{ started chan struct{} }

func (b blockingBacktests) Backtest(ctx context.Context, _ evaluate.BacktestQuery) (evaluate.BacktestReport, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	return evaluate.BacktestReport{}, fmt.Errorf("analytics: declarations_between: %w", ctx.Err())
}

// TestRuleBacktestIsBounded: a backtest past Config.BacktestTimeout answers 504 with a message
// that says what to do, and one more than Config.Backtests at once answers 429 at once.
func TestRuleBacktestIsBounded(t *testing.T) {
	cfg := testConfig()
	cfg.BacktestTimeout, cfg.Backtests = 300*time.Millisecond, 1
	bt := blockingBacktests{started: make(chan struct{}, 2)}
	_, h := mustServer(t, cfg, Deps{Backtests: bt})
	post := func() *httptest.ResponseRecorder {
		return do(t, h, request{method: "POST", path: "/v1/rules/backtest" + backtestPeriod, body: bananaDraft,
			headers: []string{"Content-Type", "application/json", headerAPIKey, testKey(RoleRiskAnalyst)}})
	}
	first := make(chan *httptest.ResponseRecorder)
	go func() { first <- post() }()
	<-bt.started
	if w := post(); w.Code != http.StatusTooManyRequests || errorOf(t, w).Code != "busy" {
		t.Errorf("a second backtest at once: %d %s", w.Code, w.Body)
	}
	w := <-first
	e := errorOf(t, w)
	if w.Code != http.StatusGatewayTimeout || e.Code != "timeout" || !strings.Contains(e.Message, "shorter period") || !strings.Contains(e.MessageZH, "请缩短期间") {
		t.Errorf("past the time limit: %d %s", w.Code, w.Body)
	}
	go func() { first <- post() }() // the slot is free again
	<-bt.started
	if w := <-first; w.Code != http.StatusGatewayTimeout {
		t.Errorf("after the first ended: %d %s", w.Code, w.Body)
	}
}
