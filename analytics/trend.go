package analytics

import (
	"context"
	"fmt"
	"time"
)

// TrendQuery selects the decisions a daily trend counts: decided in [From, To), at Port when set.
type TrendQuery struct {
	From, To time.Time
	Port     string // empty = all ports
}

// TrendPoint is one day of a trend. Rates are 0 when their denominator is 0.
type TrendPoint struct {
	Day          time.Time `json:"day"`          // midnight of the day in the configured time zone
	Declarations uint64    `json:"declarations"` // declaration versions decided that day
	Inspected    uint64    `json:"inspected"`    // of which RED or YELLOW
	Results      uint64    `json:"results"`      // inspected ones with a final result (not waiting for a lab)
	Hits         uint64    `json:"hits"`         // of which non-conforming (latest result version)
	// InspectionRate = Inspected / Declarations.
	InspectionRate float64 `json:"inspection_rate"`
	// HitRate = Hits / Results: how often an inspection that has concluded found something.
	HitRate float64 `json:"hit_rate"`
}

// maxTrendSpan bounds a trend query's period; beyond it the caller should use the grouped trend
// by month.
const maxTrendSpan = 3 * 366 * 24 * time.Hour

// factsWhere selects the facts decided in [from, to) from decision_facts — every declaration
// version once (its latest decision) with its latest concluded result, as Rollup keeps them; the
// queries read the table directly, without a subquery, so that only the columns they use are
// read. The day bounds (one day of slack on each side)
// let ClickHouse skip the day partitions outside the period; decided_at then cuts exactly.
func (s *Store) factsWhere(from, to time.Time) (string, []any) {
	return "day >= toDate(?) AND day <= toDate(?) AND decided_at >= ? AND decided_at < ?",
		[]any{from.In(s.loc).AddDate(0, 0, -1).Format(dateLayout), to.In(s.loc).AddDate(0, 0, 1).Format(dateLayout), ts(from), ts(to)}
}

// DailyTrend answers the foundation trend: per day, declarations decided, the share inspected
// (RED or YELLOW), and the share of concluded inspections that found non-conformity. Only the
// latest decision and the latest result version of each declaration version count.
func (s *Store) DailyTrend(ctx context.Context, q TrendQuery) ([]TrendPoint, error) {
	req := TrendRequest{From: q.From, To: q.To, Interval: Day}
	if q.Port != "" {
		req.Filters = map[Dimension][]string{DimPort: {q.Port}}
	}
	res, err := s.Trend(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("analytics: daily trend: %w", err)
	}
	out := make([]TrendPoint, len(res.Rows))
	for i, r := range res.Rows {
		out[i] = TrendPoint{Day: r.Period, Declarations: r.Declarations, Inspected: r.Inspected,
			Results: r.Results, Hits: r.Hits, InspectionRate: r.InspectionRate, HitRate: r.HitRate}
	}
	return out, nil
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
