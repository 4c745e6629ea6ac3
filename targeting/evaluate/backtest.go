package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// BacktestInput is one historical declaration version and what happened to it then.
type BacktestInput struct {
	Decl      *ingest.Declaration
	Inspected bool // it was sent to RED or YELLOW at the time
	Random    bool // by the random control: its result is an unbiased sample
	HasResult bool // a final inspection result exists
	Hit       bool
}

// BacktestDay is one day of a backtest.
type BacktestDay struct {
	Day          string         `json:"day"`
	Declarations int            `json:"declarations"`
	Matches      int            `json:"matches"`
	Selected     int            `json:"selected"` // after the rule's percentage draw
	Extra        int            `json:"extra"`    // selected but not inspected at the time: new workload
	ExtraByPort  map[string]int `json:"extra_by_port,omitempty"`
}

// HitRate is a proportion with its 95% Wilson interval.
type HitRate struct {
	N    int     `json:"n"`
	Hits int     `json:"hits"`
	Rate float64 `json:"rate"`
	Low  float64 `json:"low"`
	High float64 `json:"high"`
}

// BacktestReport is what `portguard backtest` prints: how often a draft rule would have matched
// and selected over history, what inspection found among the matches that were inspected, the
// unbiased random-control estimate, and the extra daily workload per port.
type BacktestReport struct {
	Rule         string `json:"rule"`
	From         string `json:"from"`
	To           string `json:"to"`
	Days         int    `json:"days"`
	Declarations int    `json:"declarations"`
	Matches      int    `json:"matches"`
	Selected     int    `json:"selected"`
	// MatchedInspected: matches that were inspected at the time and have a result — biased by
	// whatever selected them then.
	MatchedInspected HitRate `json:"matched_inspected"`
	// MatchedRandom: matches that the random control inspected — an unbiased estimate of the
	// rule's hit rate (often few).
	MatchedRandom HitRate `json:"matched_random"`
	// RandomBaseline: every random-control inspection in the period — the non-compliance rate
	// the rule must beat.
	RandomBaseline HitRate `json:"random_baseline"`
	// ExtraPerDayByPort is the mean number of additional inspections a day the rule would cause.
	ExtraPerDayByPort map[string]float64 `json:"extra_per_day_by_port"`
	PerDay            []BacktestDay      `json:"per_day"`
}

// ErrNoHistory is returned when the period holds no stored declarations (of the query's port).
var ErrNoHistory = errors.New("backtest: no declarations in the period")

// BacktestHistory streams the stored declaration versions declared in [from, to), oldest
// first, each with what happened to it then. *analytics.Store implements it. Errors wrap
// analytics.ErrUnavailable when ClickHouse cannot answer; an error returned by each stops the
// stream and is returned wrapped.
type BacktestHistory interface {
	BacktestInputs(ctx context.Context, from, to time.Time, each func(BacktestInput) error) error
}

// BacktestQuery is one backtest: a rule over the days From to To, inclusive.
type BacktestQuery struct {
	Rule targeting.Rule
	// From and To are the first and the last day, inclusive; only their dates (in the
	// Backtester's Loc) count.
	From, To time.Time
	// Port, when not empty, keeps only that port's declarations: what a port-bound user sees.
	Port string
	// Progress, when set, is called with the number of declarations read so far, every 100,000.
	Progress func(n int)
}

// Backtester runs draft rules over stored history with the service's decision code. It is what
// `portguard backtest` and the API's rule backtest (POST /v1/rules/backtest) both call, so the
// two answer the same.
type Backtester struct {
	// Config is the targeting configuration of the service, so that a rule's percentage draw
	// (a keyed hash of the declaration number) selects the same consignments it would there.
	Config targeting.Config
	// History is where the declarations come from.
	History BacktestHistory
	// Loc is the time zone in which From, To and the per-day counts are days; nil means UTC.
	Loc *time.Location
}

// Backtest runs q. A rule that does not validate returns *ingest.ValidationError, a period
// without declarations ErrNoHistory.
func (b *Backtester) Backtest(ctx context.Context, q BacktestQuery) (BacktestReport, error) {
	loc := b.Loc
	if loc == nil {
		loc = time.UTC
	}
	from := time.Date(q.From.Year(), q.From.Month(), q.From.Day(), 0, 0, 0, 0, loc)
	to := time.Date(q.To.Year(), q.To.Month(), q.To.Day(), 0, 0, 0, 0, loc).AddDate(0, 0, 1)
	if !from.Before(to) {
		return BacktestReport{}, &ingest.ValidationError{Kind: "backtest", Fields: []ingest.FieldError{{Path: "to", Code: "range",
			ZH: "截止日期早于起始日期", EN: "the last day is before the first day"}}}
	}
	n := 0
	return backtest(ctx, q.Rule, b.Config, loc, func(each func(BacktestInput) error) error {
		return b.History.BacktestInputs(ctx, from, to, func(in BacktestInput) error {
			if q.Port != "" && in.Decl.Port != q.Port {
				return nil
			}
			if n++; q.Progress != nil && n%100000 == 0 {
				q.Progress(n)
			}
			return each(in)
		})
	})
}

// Backtest runs rule r — activated in a fresh engine with cfg, its validity window and port scope
// set aside except for the ports — over history in date order, with the same decision code the
// service runs. source calls its argument for every historical declaration, oldest first. Days
// are UTC days.
func Backtest(ctx context.Context, r targeting.Rule, cfg targeting.Config, source func(each func(BacktestInput) error) error) (BacktestReport, error) {
	return backtest(ctx, r, cfg, time.UTC, source)
}

func backtest(ctx context.Context, r targeting.Rule, cfg targeting.Config, loc *time.Location, source func(each func(BacktestInput) error) error) (BacktestReport, error) {
	e, err := targeting.NewEngine(cfg)
	if err != nil {
		return BacktestReport{}, err
	}
	if r.ID == "" {
		r.ID = "BACKTEST"
	}
	r.State = targeting.RuleDraft
	r.ValidFrom, r.ValidTo = time.Unix(0, 0).UTC(), time.Time{}
	r.Emergency, r.ApprovalDue = false, time.Time{}
	author := targeting.Actor{User: "backtest-author", Roles: []string{targeting.RoleRiskAnalyst}}
	approver := targeting.Actor{User: "backtest-approver", Roles: []string{targeting.RoleRiskAnalyst}}
	book := e.Rules()
	if _, err := book.Create(ctx, author, r); err != nil {
		return BacktestReport{}, fmt.Errorf("backtest: rule: %w", err)
	}
	if _, err := book.Submit(ctx, author, r.ID); err != nil {
		return BacktestReport{}, fmt.Errorf("backtest: rule: %w", err)
	}
	if _, err := book.Approve(ctx, approver, r.ID); err != nil {
		return BacktestReport{}, fmt.Errorf("backtest: rule: %w", err)
	}

	rep := BacktestReport{Rule: r.ID, ExtraPerDayByPort: map[string]float64{}}
	days := map[string]*BacktestDay{}
	var mi, mr, rb HitRate
	var first, last time.Time
	err = source(func(in BacktestInput) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		d := in.Decl
		if first.IsZero() || d.DeclaredAt.Before(first) {
			first = d.DeclaredAt
		}
		if d.DeclaredAt.After(last) {
			last = d.DeclaredAt
		}
		key := d.DeclaredAt.In(loc).Format(time.DateOnly)
		day := days[key]
		if day == nil {
			day = &BacktestDay{Day: key, ExtraByPort: map[string]int{}}
			days[key] = day
		}
		day.Declarations++
		rep.Declarations++
		if in.Random && in.HasResult {
			count(&rb, in.Hit)
		}
		dec := e.Decide(d, d.DeclaredAt)
		for _, h := range dec.RulesFired {
			if h.ID != r.ID {
				continue
			}
			day.Matches++
			rep.Matches++
			if in.Inspected && in.HasResult {
				count(&mi, in.Hit)
			}
			if in.Random && in.HasResult {
				count(&mr, in.Hit)
			}
			if h.Selected {
				day.Selected++
				rep.Selected++
				if !in.Inspected {
					day.Extra++
					day.ExtraByPort[d.Port]++
				}
			}
		}
		return nil
	})
	if err != nil {
		return BacktestReport{}, fmt.Errorf("backtest: %w", err)
	}
	if rep.Declarations == 0 {
		return BacktestReport{}, ErrNoHistory
	}
	rep.MatchedInspected, rep.MatchedRandom, rep.RandomBaseline = wilson(mi), wilson(mr), wilson(rb)
	rep.From, rep.To = first.In(loc).Format(time.DateOnly), last.In(loc).Format(time.DateOnly)
	rep.Days = len(days)
	for _, d := range days {
		rep.PerDay = append(rep.PerDay, *d)
		for p, n := range d.ExtraByPort {
			rep.ExtraPerDayByPort[p] += float64(n)
		}
	}
	for p := range rep.ExtraPerDayByPort {
		rep.ExtraPerDayByPort[p] /= float64(rep.Days)
	}
	sort.Slice(rep.PerDay, func(i, j int) bool { return rep.PerDay[i].Day < rep.PerDay[j].Day })
	return rep, nil
}

func count(r *HitRate, hit bool) {
	r.N++
	if hit {
		r.Hits++
	}
}

// wilson fills in the rate and its 95% Wilson score interval.
func wilson(r HitRate) HitRate {
	if r.N == 0 {
		return r
	}
	const z = 1.959963984540054
	n, p := float64(r.N), float64(r.Hits)/float64(r.N)
	den := 1 + z*z/n
	mid := (p + z*z/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / den
	r.Rate, r.Low, r.High = p, max(0, mid-half), min(1, mid+half)
	return r
}
