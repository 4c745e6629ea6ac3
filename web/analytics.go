package web

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/ingest"
)

// Dashboards answers the HQ analysts' questions from ClickHouse history. *analytics.Store
// implements it; when Deps.Dashboards is nil and Deps.Analytics implements it, that is used.
// Every method returns an error wrapping analytics.ErrUnavailable when ClickHouse is down and
// analytics.ErrInvalid for a query it refuses.
type Dashboards interface {
	// Trend counts declarations, inspections, results, hits and revenue per period and group.
	Trend(ctx context.Context, q analytics.TrendRequest) (*analytics.TrendResult, error)
	// HitRates are the random-control and targeted hit rates with Wilson intervals, the lift,
	// and the inverse-propensity estimate of non-compliance.
	HitRates(ctx context.Context, sc analytics.Scope) (*analytics.HitRates, error)
	// RuleYields reports each rule's selections, workload, hit rate and flags.
	RuleYields(ctx context.Context, sc analytics.Scope, o analytics.RuleYieldOptions) ([]analytics.RuleYield, error)
	// ModelYields reports precision at the inspected share and calibration per model version.
	ModelYields(ctx context.Context, sc analytics.Scope) ([]analytics.ModelYield, error)
}

// maxAnalyticsDays bounds every analytics query: ClickHouse's side refuses more than three
// years too, and a day-by-day chart of more is unreadable anyway.
const (
	maxAnalyticsDays  = 3 * 366
	maxFilterValues   = 100
	maxFilterValueLen = 64
)

// scope is a parsed analytics query: [From, To) with To exclusive, as analytics wants it, and
// the inclusive dates the caller gave, echoed back.
type scope struct {
	From, To time.Time
	FromDay  string
	ToDay    string
	Filters  map[analytics.Dimension][]string
}

// scopeEcho is the part of every analytics answer that says what was asked.
type scopeEcho struct {
	From    string              `json:"from"` // first day, inclusive
	To      string              `json:"to"`   // last day, inclusive
	Filters map[string][]string `json:"filters,omitempty"`
}

func (sc scope) echo() scopeEcho {
	e := scopeEcho{From: sc.FromDay, To: sc.ToDay}
	if len(sc.Filters) > 0 {
		e.Filters = map[string][]string{}
		for d, v := range sc.Filters {
			e.Filters[string(d)] = v
		}
	}
	return e
}

// trendAnswer is the body of GET /v1/analytics/trend.
type trendAnswer struct {
	scopeEcho
	analytics.TrendResult
}

// hitRatesAnswer is the body of GET /v1/analytics/hit-rates.
type hitRatesAnswer struct {
	scopeEcho
	HitRates analytics.HitRates `json:"hit_rates"`
}

// ruleYieldAnswer is the body of GET /v1/analytics/rule-yield.
type ruleYieldAnswer struct {
	scopeEcho
	Rules []analytics.RuleYield `json:"rules"`
}

// modelYieldAnswer is the body of GET /v1/analytics/model-yield.
type modelYieldAnswer struct {
	scopeEcho
	Models []analytics.ModelYield `json:"models"`
}

// dimensionsAnswer is the body of GET /v1/analytics/dimensions.
type dimensionsAnswer struct {
	Dimensions []analytics.Dimension `json:"dimensions"`
	Intervals  []analytics.Interval  `json:"intervals"`
}

// scopeParams documents the query parameters every analytics route reads.
func scopeParams(defaultDays int) []param {
	ps := []param{
		query("from", "date", "first day, inclusive (default: "+strconv.Itoa(defaultDays-1)+" days before to) / 起始日期"),
		query("to", "date", "last day, inclusive (default: today) / 截止日期"),
	}
	for _, d := range analytics.Dimensions() {
		ps = append(ps, query(string(d), "string", "filter: keep these values, comma-separated / 筛选："+string(d)))
	}
	return ps
}

// formatParam documents ?format=csv.
var formatParam = query("format", "string", "json (default) or csv / 导出格式")

// dayRange reads ?from= and ?to= as days in Config.TimeZone — by default the defaultDays ending
// today — and reports each problem: a malformed date, to before from, or more than maxDays days
// (described by tooLongEN and tooLongZH).
func (s *server) dayRange(c *gin.Context, defaultDays, maxDays int, tooLongEN, tooLongZH string) (from, to time.Time, problems []ingest.FieldError) {
	today := time.Now().In(s.tz)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, s.tz)
	day := func(name string, def time.Time) time.Time {
		v, ok := c.GetQuery(name)
		if !ok || v == "" {
			return def
		}
		t, err := time.ParseInLocation(time.DateOnly, v, s.tz)
		if err != nil {
			problems = append(problems, ingest.FieldError{Path: name, Code: "format",
				EN: "must be a date, YYYY-MM-DD", ZH: "须为日期，格式 YYYY-MM-DD"})
		}
		return t
	}
	to = day("to", today)
	from = day("from", to.AddDate(0, 0, -(defaultDays-1)))
	if problems == nil {
		switch {
		case to.Before(from):
			problems = append(problems, ingest.FieldError{Path: "to", Code: "range",
				EN: "must not be before from", ZH: "截止日期不能早于起始日期"})
		case from.AddDate(0, 0, maxDays-1).Before(to):
			problems = append(problems, ingest.FieldError{Path: "from", Code: "range", EN: tooLongEN, ZH: tooLongZH})
		}
	}
	return from, to, problems
}

// parseScope reads from, to and the dimension filters. Dates are read in Config.TimeZone; a user
// bound to a port is held to it.
func (s *server) parseScope(c *gin.Context, defaultDays int) (scope, error) {
	from, to, problems := s.dayRange(c, defaultDays, maxAnalyticsDays,
		"at most three years", "查询区间不能超过三年")
	filters := map[analytics.Dimension][]string{}
	for _, d := range analytics.Dimensions() {
		raw, ok := c.GetQuery(string(d))
		if !ok || strings.TrimSpace(raw) == "" {
			continue
		}
		var vs []string
		for _, v := range strings.Split(raw, ",") {
			if v = strings.TrimSpace(v); v != "" && !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
		if len(vs) > maxFilterValues || slices.ContainsFunc(vs, func(v string) bool { return len(v) > maxFilterValueLen }) {
			problems = append(problems, ingest.FieldError{Path: string(d), Code: "range",
				EN: "at most 100 values of at most 64 characters", ZH: "最多 100 个值，每个不超过 64 个字符"})
			continue
		}
		if d == analytics.DimEnterpriseGrade && slices.ContainsFunc(vs, func(v string) bool {
			return !slices.Contains(gradeNames, v) && v != analytics.Ungraded
		}) {
			problems = append(problems, ingest.FieldError{Path: string(d), Code: "enum",
				EN: "must be green, yellow, red, black or ungraded", ZH: "须为 green、yellow、red、black 或 ungraded（未评级）"})
			continue
		}
		filters[d] = vs
	}
	if problems != nil {
		return scope{}, &ingest.ValidationError{Kind: "query", Fields: problems}
	}
	if p, _ := principalOf(c); p.Port != "" {
		if ports, ok := filters[analytics.DimPort]; ok && (len(ports) != 1 || ports[0] != p.Port) {
			return scope{}, errOtherPort
		}
		filters[analytics.DimPort] = []string{p.Port}
	}
	return scope{From: from, To: to.AddDate(0, 0, 1), FromDay: from.Format(time.DateOnly), ToDay: to.Format(time.DateOnly),
		Filters: filters}, nil
}

// wantCSV reports whether ?format=csv was asked; any other value than json or csv is refused.
func wantCSV(c *gin.Context) (bool, error) {
	switch c.DefaultQuery("format", "json") {
	case "json":
		return false, nil
	case "csv":
		return true, nil
	}
	return false, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{Path: "format", Code: "enum",
		EN: "must be json or csv", ZH: "须为 json 或 csv"}}}
}

// sendCSV answers with a CSV download. The UTF-8 byte-order mark makes Excel, which analysts
// open exports with, read Chinese text correctly.
func sendCSV(c *gin.Context, name string, sc scope, write func(w io.Writer) error) {
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", `attachment; filename="portguard-`+name+"-"+sc.FromDay+"-"+sc.ToDay+`.csv"`)
	c.Status(http.StatusOK)
	_, _ = io.WriteString(c.Writer, "\ufeff")
	_ = write(c.Writer) // the status is sent: a broken connection is all that can fail now
}

// analyticsRequest reads what every analytics route starts with — the scope (defaultDays when
// from/to are absent) and whether CSV is wanted — and answers the error itself (ok false).
func (s *server) analyticsRequest(c *gin.Context, defaultDays int) (sc scope, asCSV, ok bool) {
	sc, err := s.parseScope(c, defaultDays)
	if err == nil {
		asCSV, err = wantCSV(c)
	}
	if err != nil {
		s.fail(c, err)
		return sc, false, false
	}
	return sc, asCSV, true
}

// dashboardRequest is analyticsRequest for the routes answered by the dashboard queries.
func (s *server) dashboardRequest(c *gin.Context, defaultDays int) (sc scope, asCSV bool, d Dashboards, ok bool) {
	if sc, asCSV, ok = s.analyticsRequest(c, defaultDays); !ok {
		return sc, asCSV, nil, false
	}
	if d = s.dashboards(); d == nil {
		s.fail(c, errNotConfigured)
		return sc, asCSV, nil, false
	}
	return sc, asCSV, d, true
}

// dashboards returns the analytics queries, or nil when none is configured.
func (s *server) dashboards() Dashboards {
	d, _ := capability[Dashboards](s)
	return d
}

// analyticsTrend answers GET /v1/analytics/trend: counts and rates per day, week or month,
// grouped by up to three allow-listed dimensions, with filters; ?format=csv exports it.
func (s *server) analyticsTrend(c *gin.Context) {
	sc, asCSV, ok := s.analyticsRequest(c, 30)
	if !ok {
		return
	}
	req := analytics.TrendRequest{From: sc.From, To: sc.To, Interval: analytics.Interval(c.DefaultQuery("interval", "day")), Filters: sc.Filters}
	var problems []ingest.FieldError
	if !slices.Contains([]analytics.Interval{analytics.Day, analytics.Week, analytics.Month}, req.Interval) {
		problems = append(problems, ingest.FieldError{Path: "interval", Code: "enum", EN: "must be day, week or month", ZH: "须为 day、week 或 month"})
	}
	if g := c.Query("group_by"); g != "" {
		for _, name := range strings.Split(g, ",") {
			d := analytics.Dimension(strings.TrimSpace(name))
			if !slices.Contains(analytics.Dimensions(), d) || slices.Contains(req.GroupBy, d) {
				problems = append(problems, ingest.FieldError{Path: "group_by", Code: "enum",
					EN: "unknown or repeated dimension " + strconv.Quote(string(d)), ZH: "未知或重复的分组字段 " + strconv.Quote(string(d))})
				continue
			}
			req.GroupBy = append(req.GroupBy, d)
		}
		if len(req.GroupBy) > 3 {
			problems = append(problems, ingest.FieldError{Path: "group_by", Code: "range", EN: "at most three dimensions", ZH: "最多按三个字段分组"})
		}
	}
	limit, set, err := intQuery(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if set {
		req.Limit = limit
	}
	if problems != nil {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: problems})
		return
	}
	d := s.dashboards()
	if d == nil {
		s.fail(c, errNotConfigured)
		return
	}
	res, err := d.Trend(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err)
		return
	}
	if res.Rows == nil {
		res.Rows = []analytics.TrendRow{}
	}
	if asCSV {
		sendCSV(c, "trend", sc, res.WriteCSV)
		return
	}
	c.JSON(http.StatusOK, trendAnswer{scopeEcho: sc.echo(), TrendResult: *res})
}

// analyticsHitRates answers GET /v1/analytics/hit-rates: the honest hit rates of a scope.
func (s *server) analyticsHitRates(c *gin.Context) {
	sc, asCSV, d, ok := s.dashboardRequest(c, 90)
	if !ok {
		return
	}
	hr, err := d.HitRates(c.Request.Context(), analytics.Scope{From: sc.From, To: sc.To, Filters: sc.Filters})
	if err != nil {
		s.fail(c, err)
		return
	}
	if asCSV {
		sendCSV(c, "hit-rates", sc, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"group", "n", "hits", "rate", "wilson_lo", "wilson_hi"})
			for _, g := range []struct {
				name string
				r    analytics.Rate
			}{{"random", hr.Random}, {"targeted", hr.Targeted}, {"overall", hr.Overall}} {
				_ = cw.Write([]string{g.name, fmtUint(g.r.N), fmtUint(g.r.Hits), fmtFloat(g.r.Rate), fmtFloat(g.r.Lo), fmtFloat(g.r.Hi)})
			}
			_ = cw.Write([]string{"lift", "", "", fmtFloat(hr.Lift), "", ""})
			_ = cw.Write([]string{"ipw_non_compliance", fmtFloat(hr.IPWEffectiveN), "", fmtFloat(hr.IPWNonCompliance), "", ""})
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, hitRatesAnswer{scopeEcho: sc.echo(), HitRates: *hr})
}

// analyticsRuleYield answers GET /v1/analytics/rule-yield: per rule, selections, workload, hit
// rate with interval, last hit and flags (never hit, low yield, expiring soon).
func (s *server) analyticsRuleYield(c *gin.Context) {
	sc, asCSV, d, ok := s.dashboardRequest(c, 90)
	if !ok {
		return
	}
	rs, err := d.RuleYields(c.Request.Context(), analytics.Scope{From: sc.From, To: sc.To, Filters: sc.Filters}, analytics.RuleYieldOptions{})
	if err != nil {
		s.fail(c, err)
		return
	}
	if want := sc.Filters[analytics.DimRule]; len(want) > 0 {
		// Rules stored but not fired are listed whatever the filter; keep the asked ones.
		rs = slices.DeleteFunc(rs, func(r analytics.RuleYield) bool { return !slices.Contains(want, r.Rule) })
	}
	if rs == nil {
		rs = []analytics.RuleYield{}
	}
	if asCSV {
		sendCSV(c, "rule-yield", sc, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"rule", "state", "fired", "selected", "workload", "results", "hits", "hit_rate", "wilson_lo", "wilson_hi", "last_hit", "expires_at", "flags"})
			for _, r := range rs {
				_ = cw.Write([]string{r.Rule, r.State, fmtUint(r.Fired), fmtUint(r.Selected), fmtUint(r.Workload), fmtUint(r.Yield.N), fmtUint(r.Yield.Hits),
					fmtFloat(r.Yield.Rate), fmtFloat(r.Yield.Lo), fmtFloat(r.Yield.Hi), stamp(r.LastHit), stamp(r.ExpiresAt), strings.Join(r.Flags, " ")})
			}
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, ruleYieldAnswer{scopeEcho: sc.echo(), Rules: rs})
}

// analyticsModelYield answers GET /v1/analytics/model-yield: precision at the inspected share
// and the calibration table, per model version.
func (s *server) analyticsModelYield(c *gin.Context) {
	sc, asCSV, d, ok := s.dashboardRequest(c, 90)
	if !ok {
		return
	}
	ms, err := d.ModelYields(c.Request.Context(), analytics.Scope{From: sc.From, To: sc.To, Filters: sc.Filters})
	if err != nil {
		s.fail(c, err)
		return
	}
	if ms == nil {
		ms = []analytics.ModelYield{}
	}
	if asCSV {
		sendCSV(c, "model-yield", sc, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"model_version", "declarations", "inspected", "inspected_share", "threshold", "precision_at_share",
				"decile", "predicted", "observed_n", "observed_hits", "observed_rate", "observed_ipw"})
			for _, m := range ms {
				head := []string{m.ModelVersion, fmtUint(m.Declarations), fmtUint(m.Inspected), fmtFloat(m.InspectedShare), fmtFloat(m.Threshold), fmtFloat(m.PrecisionAtShare.Rate)}
				if len(m.Calibration) == 0 {
					_ = cw.Write(append(head, "", "", "", "", "", ""))
				}
				for _, k := range m.Calibration {
					_ = cw.Write(append(slices.Clone(head), strconv.Itoa(k.Decile), fmtFloat(k.Predicted), fmtUint(k.Observed.N), fmtUint(k.Observed.Hits),
						fmtFloat(k.Observed.Rate), fmtFloat(k.ObservedIPW)))
				}
			}
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, modelYieldAnswer{scopeEcho: sc.echo(), Models: ms})
}

// analyticsDimensions lists the allow-listed group-by and filter fields and the intervals: the
// dashboard's form is built from it.
func (s *server) analyticsDimensions(c *gin.Context) {
	c.JSON(http.StatusOK, dimensionsAnswer{Dimensions: analytics.Dimensions(),
		Intervals: []analytics.Interval{analytics.Day, analytics.Week, analytics.Month}})
}

// fmtUint and fmtFloat format CSV cells; six decimals keep rates exact enough for analysts.
func fmtUint(v uint64) string   { return strconv.FormatUint(v, 10) }
func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

// stamp formats an optional time for CSV: empty when unset.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
