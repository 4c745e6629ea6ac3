package web

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/ingest"
)

// The early-warning side of analytics, each its own small interface: analytics grows them one
// by one, and web serves each as soon as the store it is given implements it (503 before).

// GradeReader computes enterprise risk grades (绿黄红黑). *analytics.Store implements it.
type GradeReader interface {
	Grades(ctx context.Context, o analytics.GradeOptions) ([]analytics.EnterpriseGrade, error)
}

// AlertReader reads stored early-warning alerts (风险预警). *analytics.Store implements it.
type AlertReader interface {
	Alerts(ctx context.Context, f analytics.AlertFilter) ([]analytics.Alert, error)
}

// AlertReviewer records analysts' reviews of alerts (acknowledge, dismiss) and has them audited.
// *analytics.Store implements it.
type AlertReviewer interface {
	// ReviewAlert appends the review to audit, stores it and returns the alert as it now stands.
	// Errors: analytics.ErrInvalid, ErrNotFound, ErrState (the alert's state forbids the action),
	// ErrUnavailable, and the auditor's error.
	ReviewAlert(ctx context.Context, a analytics.AlertAction, audit analytics.Auditor) (analytics.Alert, error)
}

// Forecaster predicts declarations and inspections per day for staffing. *analytics.Store
// implements it.
type Forecaster interface {
	Forecast(ctx context.Context, o analytics.ForecastOptions) ([]analytics.ForecastPoint, error)
}

// capability returns the first of the configured analytics services that implements T.
func capability[T any](s *server) (T, bool) {
	for _, v := range []any{s.deps.Dashboards, s.deps.Analytics} {
		if c, ok := v.(T); ok && v != nil {
			return c, true
		}
	}
	var zero T
	return zero, false
}

// gradesAnswer is the body of GET /v1/analytics/grades.
type gradesAnswer struct {
	Grades []analytics.EnterpriseGrade `json:"grades"`
}

// alertsAnswer is the body of GET /v1/analytics/alerts.
type alertsAnswer struct {
	scopeEcho
	Alerts []analytics.Alert `json:"alerts"`
}

// alertReviewRequest is the body of POST /v1/analytics/alerts/:id/acknowledge and …/dismiss.
type alertReviewRequest struct {
	// Comment is required: what will be done about the alert, or why it is no risk.
	Comment string `json:"comment"`
}

// forecastAnswer is the body of GET /v1/analytics/forecast.
type forecastAnswer struct {
	Port   string                    `json:"port,omitempty"`
	Days   int                       `json:"days"`
	Points []analytics.ForecastPoint `json:"points"`
}

var gradeNames = []string{analytics.GradeGreen, analytics.GradeYellow, analytics.GradeRed, analytics.GradeBlack}

// analyticsGrades answers GET /v1/analytics/grades: enterprises riskiest first with the
// posterior behind each grade; ?grade= one grade, ?enterprise= some enterprises.
func (s *server) analyticsGrades(c *gin.Context) {
	o := analytics.GradeOptions{Grade: c.Query("grade")}
	if o.Grade != "" && !slices.Contains(gradeNames, o.Grade) {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: []ingest.FieldError{{Path: "grade", Code: "enum",
			EN: "must be green, yellow, red or black", ZH: "须为 green、yellow、red 或 black"}}})
		return
	}
	if e := c.Query("enterprise"); e != "" {
		o.Enterprises = strings.Split(e, ",")
	}
	limit, set, err := intQuery(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if set {
		o.Limit = limit
	}
	asCSV, err := wantCSV(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	g, ok := capability[GradeReader](s)
	if !ok {
		s.fail(c, errNotConfigured)
		return
	}
	gs, err := g.Grades(c.Request.Context(), o)
	if err != nil {
		s.fail(c, err)
		return
	}
	if gs == nil {
		gs = []analytics.EnterpriseGrade{}
	}
	if asCSV {
		today := time.Now().In(s.tz).Format(time.DateOnly)
		sendCSV(c, "grades", scope{FromDay: today, ToDay: today}, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"enterprise", "grade", "credit_class", "declarations", "results", "hits", "severe_hits",
				"posterior_mean", "posterior_lo", "posterior_hi", "baseline", "reason_zh", "reason_en"})
			for _, e := range gs {
				_ = cw.Write([]string{e.Enterprise, e.Grade, e.CreditClass, fmtUint(e.Declarations), fmtUint(e.Results), fmtUint(e.Hits),
					fmtUint(e.SevereHits), fmtFloat(e.Mean), fmtFloat(e.Lo), fmtFloat(e.Hi), fmtFloat(e.Baseline), e.ReasonZH, e.ReasonEN})
			}
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, gradesAnswer{Grades: gs})
}

// analyticsAlerts answers GET /v1/analytics/alerts: stored early warnings detected in the
// period, latest first, with their evidence.
func (s *server) analyticsAlerts(c *gin.Context) {
	sc, asCSV, ok := s.analyticsRequest(c, 90)
	if !ok {
		return
	}
	f := analytics.AlertFilter{From: sc.From, To: sc.To, Kind: c.Query("kind"), SubjectKind: c.Query("subject_kind"), State: c.Query("state")}
	limit, set, err := intQuery(c, "limit")
	if err != nil {
		s.fail(c, err)
		return
	}
	if set {
		f.Limit = limit
	}
	a, ok := capability[AlertReader](s)
	if !ok {
		s.fail(c, errNotConfigured)
		return
	}
	as, err := a.Alerts(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ports := sc.Filters[analytics.DimPort]; len(ports) > 0 {
		// Alerts about enterprises or HS × origin span ports; one that names another port is not
		// this user's to see.
		as = slices.DeleteFunc(as, func(x analytics.Alert) bool { return x.Port != "" && !slices.Contains(ports, x.Port) })
	}
	if as == nil {
		as = []analytics.Alert{}
	}
	if asCSV {
		sendCSV(c, "alerts", sc, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"id", "kind", "subject_kind", "subject", "port", "detected_at", "window_from", "window_to",
				"observed", "expected", "p_value", "q_value", "state", "recent_n", "recent_k", "baseline_n", "baseline_k", "test", "evidence_zh", "evidence_en"})
			for _, x := range as {
				e := x.Evidence
				_ = cw.Write([]string{x.ID, x.Kind, x.SubjectKind, x.Subject, x.Port, stamp(x.DetectedAt), stamp(x.WindowFrom), stamp(x.WindowTo),
					fmtFloat(x.Observed), fmtFloat(x.Expected), strconv.FormatFloat(x.PValue, 'g', 6, 64), strconv.FormatFloat(x.QValue, 'g', 6, 64),
					x.State, fmtUint(e.RecentN), fmtUint(e.RecentK), fmtUint(e.BaselineN), fmtUint(e.BaselineK), e.Test, e.ZH, e.EN})
			}
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, alertsAnswer{scopeEcho: sc.echo(), Alerts: as})
}

// reviewAlert answers POST /v1/analytics/alerts/:id/acknowledge (action analytics.ReviewAcknowledge)
// and …/dismiss (ReviewDismiss): the caller's review with its comment is audited and stored, and
// the alert is returned in its new state with the review (who, when, why).
func (s *server) reviewAlert(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		var req alertReviewRequest
		if err := s.bindJSON(c, &req); err != nil {
			s.fail(c, err)
			return
		}
		comment := strings.TrimSpace(req.Comment)
		var problem *ingest.FieldError
		switch {
		case comment == "":
			problem = &ingest.FieldError{Path: "comment", Code: "required",
				EN: "a comment is required: what will be done, or why this is no risk", ZH: "请填写处理意见：后续措施或排除理由"}
		case utf8.RuneCountInString(comment) > analytics.MaxReviewComment:
			problem = &ingest.FieldError{Path: "comment", Code: "range",
				EN: "at most " + strconv.Itoa(analytics.MaxReviewComment) + " characters", ZH: "不能超过 " + strconv.Itoa(analytics.MaxReviewComment) + " 个字符"}
		}
		if problem != nil {
			s.fail(c, &ingest.ValidationError{Kind: "alert_review", Fields: []ingest.FieldError{*problem}})
			return
		}
		r, ok := capability[AlertReviewer](s)
		if !ok || s.deps.Audit == nil { // an unaudited review is not one
			s.fail(c, errNotConfigured)
			return
		}
		p, _ := principalOf(c)
		a, err := r.ReviewAlert(c.Request.Context(), analytics.AlertAction{AlertID: c.Param("id"), Action: action,
			Actor: p.Name, Comment: comment}, s.deps.Audit)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, a)
	}
}

// analyticsForecast answers GET /v1/analytics/forecast: expected declarations and inspections
// per day for the next days (default 14) of one port or of all, with prediction intervals.
func (s *server) analyticsForecast(c *gin.Context) {
	o := analytics.ForecastOptions{Port: c.Query("port")}
	p, _ := principalOf(c)
	if p.Port != "" {
		if o.Port != "" && o.Port != p.Port {
			s.fail(c, errOtherPort)
			return
		}
		o.Port = p.Port
	}
	var problems []ingest.FieldError
	days, set, err := intQuery(c, "days")
	if err != nil {
		s.fail(c, err)
		return
	}
	o.Days = 14
	if set {
		o.Days = days
	}
	if o.Days > 92 {
		problems = append(problems, ingest.FieldError{Path: "days", Code: "range", EN: "at most 92 days", ZH: "最多预测 92 天"})
	}
	history, set, err := intQuery(c, "history")
	if err != nil {
		s.fail(c, err)
		return
	}
	if set {
		if history < 28 || history > 1098 {
			problems = append(problems, ingest.FieldError{Path: "history", Code: "range", EN: "between 28 and 1098 days", ZH: "须在 28 至 1098 天之间"})
		}
		o.History = history
	}
	if problems != nil {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: problems})
		return
	}
	asCSV, err := wantCSV(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	fc, ok := capability[Forecaster](s)
	if !ok {
		s.fail(c, errNotConfigured)
		return
	}
	pts, err := fc.Forecast(c.Request.Context(), o)
	if errors.Is(err, analytics.ErrNotFound) {
		s.fail(c, errNoHistory.with(err))
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if pts == nil {
		pts = []analytics.ForecastPoint{}
	}
	if asCSV {
		sc := scope{}
		if len(pts) > 0 {
			sc.FromDay, sc.ToDay = pts[0].Day.In(s.tz).Format(time.DateOnly), pts[len(pts)-1].Day.In(s.tz).Format(time.DateOnly)
		}
		sendCSV(c, "forecast", sc, func(w io.Writer) error {
			cw := csv.NewWriter(w)
			_ = cw.Write([]string{"day", "declarations", "declarations_lo", "declarations_hi", "inspections", "inspections_lo", "inspections_hi"})
			for _, x := range pts {
				_ = cw.Write([]string{x.Day.In(s.tz).Format(time.DateOnly), fmtFloat(x.Declarations), fmtFloat(x.DeclarationsLo), fmtFloat(x.DeclarationsHi),
					fmtFloat(x.Inspections), fmtFloat(x.InspectionsLo), fmtFloat(x.InspectionsHi)})
			}
			cw.Flush()
			return cw.Error()
		})
		return
	}
	c.JSON(http.StatusOK, forecastAnswer{Port: o.Port, Days: o.Days, Points: pts})
}
