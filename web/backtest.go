package web

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// Backtests runs a rule over the declarations stored in ClickHouse with the service's decision
// code. *evaluate.Backtester implements it — the same code as `portguard backtest`.
type Backtests interface {
	// Backtest runs q. Errors: *ingest.ValidationError for a rule that does not validate or an
	// empty period, evaluate.ErrNoHistory when the period holds no declarations, an error
	// wrapping analytics.ErrUnavailable when ClickHouse cannot answer, and ctx's error when ctx
	// ends first.
	Backtest(ctx context.Context, q evaluate.BacktestQuery) (evaluate.BacktestReport, error)
}

const (
	// maxBacktestDays bounds a backtest's period: it reads every declaration of it and decides
	// each one again, so a longer one would hold a ClickHouse connection and a core for long.
	maxBacktestDays = 366
	// defaultBacktestDays is the period when the caller gives none: the last quarter or so.
	defaultBacktestDays = 90
)

// backtestAnswer is a backtest's report with what was asked: the period, the port the caller is
// bound to (if any), and the rule's percentage, which the selection counts follow.
type backtestAnswer struct {
	evaluate.BacktestReport
	// AskedFrom and AskedTo are the period asked for; From and To are the first and last day
	// that had declarations.
	AskedFrom string  `json:"asked_from"`
	AskedTo   string  `json:"asked_to"`
	Port      string  `json:"port,omitempty"`
	Percent   float64 `json:"percent"`
}

var (
	errNoBacktestHistory = &apiError{status: http.StatusUnprocessableEntity, code: "no_history",
		en: "no declarations were stored in this period; choose another period",
		zh: "该期间内没有报关单历史数据，请另选期间"}
	errBacktestBusy = &apiError{status: http.StatusTooManyRequests, code: "busy",
		en: "other backtests are running; try again in a minute", zh: "其他回测正在运行，请稍后再试"}
)

// backtestParams documents the period parameters of both backtest routes.
var backtestParams = []param{
	query("from", "date", "first day, inclusive (default: "+strconv.Itoa(defaultBacktestDays-1)+" days before to; at most "+
		strconv.Itoa(maxBacktestDays)+" days in all) / 起始日期"),
	query("to", "date", "last day, inclusive (default: today) / 截止日期"),
}

// backtestDraft backtests the rule in the body — a draft as the editor holds it, saved or not.
func (s *server) backtestDraft(c *gin.Context) {
	var r targeting.Rule
	if err := s.bindJSON(c, &r); err != nil {
		s.fail(c, err)
		return
	}
	s.backtest(c, r)
}

// backtestRule backtests a stored rule as it is now, whatever its state.
func (s *server) backtestRule(c *gin.Context) {
	if s.deps.Targeting == nil {
		s.fail(c, errNotConfigured)
		return
	}
	r, err := s.deps.Targeting.Rules().Get(c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.backtest(c, r)
}

func (s *server) backtest(c *gin.Context, r targeting.Rule) {
	from, to, err := s.backtestPeriod(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.deps.Backtests == nil {
		s.fail(c, errNotConfigured)
		return
	}
	select {
	case s.backtestSlots <- struct{}{}:
		defer func() { <-s.backtestSlots }()
	default:
		s.fail(c, errBacktestBusy)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.BacktestTimeout)
	defer cancel()
	p, _ := principalOf(c)
	rep, err := s.deps.Backtests.Backtest(ctx, evaluate.BacktestQuery{Rule: r, From: from, To: to, Port: p.Port})
	switch {
	case errors.Is(err, evaluate.ErrNoHistory):
		s.fail(c, errNoBacktestHistory.with(err))
		return
	case err != nil && errors.Is(err, context.DeadlineExceeded) && c.Request.Context().Err() == nil:
		secs := strconv.Itoa(int(math.Ceil(s.cfg.BacktestTimeout.Seconds())))
		s.fail(c, &apiError{status: http.StatusGatewayTimeout, code: "timeout",
			en:  fmt.Sprintf("the backtest took longer than %s s; choose a shorter period", secs),
			zh:  fmt.Sprintf("回测超过 %s 秒未完成，请缩短期间", secs),
			err: err})
		return
	case err != nil:
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, backtestAnswer{BacktestReport: rep, AskedFrom: from.Format(time.DateOnly),
		AskedTo: to.Format(time.DateOnly), Port: p.Port, Percent: r.Percent})
}

// backtestPeriod reads ?from= and ?to= as days in Config.TimeZone: by default the last 90 days,
// never more than maxBacktestDays.
func (s *server) backtestPeriod(c *gin.Context) (from, to time.Time, err error) {
	from, to, problems := s.dayRange(c, defaultBacktestDays, maxBacktestDays,
		fmt.Sprintf("a backtest covers at most %d days", maxBacktestDays), fmt.Sprintf("回测期间最长 %d 天", maxBacktestDays))
	if problems != nil {
		return time.Time{}, time.Time{}, &ingest.ValidationError{Kind: "query", Fields: problems}
	}
	return from, to, nil
}
