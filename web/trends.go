package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/ingest"
)

// maxTrendDays bounds a daily trend query: a year of days is the most a chart shows.
const maxTrendDays = 366

// trendResponse is the body of GET /v1/trends/daily.
type trendResponse struct {
	From   string                 `json:"from"` // first day, inclusive
	To     string                 `json:"to"`   // last day, inclusive
	Port   string                 `json:"port,omitempty"`
	Points []analytics.TrendPoint `json:"points"`
}

// dailyTrend answers the foundation trend query: per day, declarations decided, inspection rate
// and hit rate. ?from and ?to are dates (YYYY-MM-DD, both inclusive, read in Config.TimeZone);
// the default is the last 30 days up to today. ?port narrows to one port; a user bound to a
// port gets that port whatever they ask.
func (s *server) dailyTrend(c *gin.Context) {
	var problems []ingest.FieldError
	today := time.Now().In(s.tz)
	today = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, s.tz)
	day := func(name string, def time.Time) time.Time {
		v, ok := c.GetQuery(name)
		if !ok {
			return def
		}
		t, err := time.ParseInLocation(time.DateOnly, v, s.tz)
		if err != nil {
			problems = append(problems, ingest.FieldError{Path: name, Code: "format",
				EN: "must be a date, YYYY-MM-DD", ZH: "须为日期，格式 YYYY-MM-DD"})
		}
		return t
	}
	to := day("to", today)
	from := day("from", to.AddDate(0, 0, -29))
	if problems == nil {
		switch {
		case to.Before(from):
			problems = append(problems, ingest.FieldError{Path: "to", Code: "range", EN: "must not be before from", ZH: "不能早于起始日期"})
		case to.Sub(from) > maxTrendDays*24*time.Hour:
			problems = append(problems, ingest.FieldError{Path: "from", Code: "range", EN: "at most 366 days", ZH: "查询区间不能超过 366 天"})
		}
	}
	if problems != nil {
		s.fail(c, &ingest.ValidationError{Kind: "query", Fields: problems})
		return
	}
	p, _ := principalOf(c)
	port := c.Query("port")
	if p.Port != "" {
		if port != "" && port != p.Port {
			s.fail(c, errOtherPort)
			return
		}
		port = p.Port
	}
	if s.deps.Analytics == nil {
		s.fail(c, errNotConfigured)
		return
	}
	pts, err := s.deps.Analytics.DailyTrend(c.Request.Context(), analytics.TrendQuery{From: from, To: to.AddDate(0, 0, 1), Port: port})
	if err != nil {
		s.fail(c, err)
		return
	}
	if pts == nil {
		pts = []analytics.TrendPoint{}
	}
	c.JSON(http.StatusOK, trendResponse{From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), Port: port, Points: pts})
}
