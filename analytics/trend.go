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

// decisionOutcomes is the per-decision fact the trend queries start from: every decision (latest
// per declaration version) with its latest concluded result, if any. Placeholders: the WHERE
// clause over decisions is spliced in by the caller (built only from allow-listed parts).
const decisionOutcomes = `SELECT declaration_no, version, decided_at, port, importer, channel, selection,
 random, propensity, probability, model_version, rules_fired, rules_selected, hs2, hs4, origins,
 trade_mode, has_result, hit, severity, revenue
FROM (
 SELECT declaration_no, version, decided_at, port, importer, toString(channel) AS channel, selection,
  random, propensity, probability, model_version, rules_fired, rules_selected, hs2, hs4, origins, trade_mode
 FROM decisions FINAL
 WHERE %s
) ANY LEFT JOIN (
 SELECT declaration_no, decl_version AS version, toUInt8(1) AS has_result, hit, severity, revenue
 FROM (` + latestResults + `)
 WHERE outcome != 'PENDING_LAB'
) USING (declaration_no, version)`

// DailyTrend answers the foundation trend: per day, declarations decided, the share inspected
// (RED or YELLOW), and the share of concluded inspections that found non-conformity. Only the
// latest decision and the latest result version of each declaration version count.
func (s *Store) DailyTrend(ctx context.Context, q TrendQuery) ([]TrendPoint, error) {
	if q.From.IsZero() || !q.To.After(q.From) {
		return nil, fmt.Errorf("analytics: daily trend: %w: need From < To", ErrInvalid)
	}
	if q.To.Sub(q.From) > maxTrendSpan {
		return nil, fmt.Errorf("analytics: daily trend: %w: period longer than 3 years", ErrInvalid)
	}
	where := "decided_at >= ? AND decided_at < ?"
	args := []any{ts(q.From), ts(q.To)}
	if q.Port != "" {
		where += " AND port = ?"
		args = append(args, q.Port)
	}
	query := `SELECT toDate(decided_at, '` + s.cfg.TimeZone + `') AS day, count() AS decl,
 countIf(channel IN ('RED', 'YELLOW')) AS insp, countIf(has_result = 1) AS res,
 countIf(has_result = 1 AND hit = 1) AS hits
FROM (` + fmt.Sprintf(decisionOutcomes, where) + `)
GROUP BY day ORDER BY day LIMIT ?`
	args = append(args, s.cfg.MaxRows)
	loc, _ := time.LoadLocation(s.cfg.TimeZone)
	var out []TrendPoint
	err := s.do(ctx, "daily_trend", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p TrendPoint
			var day time.Time
			if err := rows.Scan(&day, &p.Declarations, &p.Inspected, &p.Results, &p.Hits); err != nil {
				return err
			}
			p.Day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, loc)
			p.InspectionRate = ratio(p.Inspected, p.Declarations)
			p.HitRate = ratio(p.Hits, p.Results)
			out = append(out, p)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: daily trend: %w", err)
	}
	return out, nil
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
