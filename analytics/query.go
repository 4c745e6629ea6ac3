package analytics

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Dimension is a field analysts may group or filter trends by. Only the dimensions listed in
// Dimensions are accepted; each maps to a fixed SQL expression, so no caller text ever reaches SQL.
type Dimension string

// Dimensions of the trend queries.
const (
	DimPort       Dimension = "port"
	DimHS2        Dimension = "hs2"
	DimHS4        Dimension = "hs4"
	DimOrigin     Dimension = "origin"
	DimTradeMode  Dimension = "trade_mode"
	DimEnterprise Dimension = "enterprise"
	DimChannel    Dimension = "channel"
	DimRule       Dimension = "rule"
	DimSelection  Dimension = "selection"
	DimDeclarant  Dimension = "declarant"
	// DimEnterpriseGrade is the importer's risk grade 绿黄红黑 (green, yellow, red, black) as of the
	// decision — the grade recorded last in grade_changes at or before decided_at — or ungraded
	// (grouped under "", filtered as "ungraded") when it had none yet. Not the current grade:
	// a trend by current grade would credit an enterprise's past inspections to a grade that
	// those inspections earned it.
	DimEnterpriseGrade Dimension = "enterprise_grade"
)

// Ungraded is the filter value of DimEnterpriseGrade for decisions about an enterprise that had
// no grade yet; its group value is "".
const Ungraded = "ungraded"

// dimension says how a Dimension reads from the per-decision fact: a scalar column, or an array
// column (a declaration with two HS chapters counts once in each chapter's group).
type dimension struct {
	column string
	array  bool
	cube   bool // daily_cube has it too, so queries on it alone need not read the facts
}

var dimensions = map[Dimension]dimension{
	DimPort:       {"port", false, true},
	DimHS2:        {"hs2", true, false},
	DimHS4:        {"hs4", true, false},
	DimOrigin:     {"origins", true, false},
	DimTradeMode:  {"trade_mode", false, true},
	DimEnterprise: {"importer", false, false},
	DimChannel:    {"toString(channel)", false, true},
	DimRule:       {"rules_fired", true, false},
	DimSelection:  {"selection", false, true},
	DimDeclarant:  {"declarant", false, false},
	// Kept in both tables by the rollup (migration 0007), from grade_changes as of decided_at.
	DimEnterpriseGrade: {"enterprise_grade", false, true},
}

// gradeFilterValue maps a filter value of DimEnterpriseGrade to the stored one, or says it is not
// a grade.
func gradeFilterValue(v string) (string, bool) {
	switch v {
	case GradeGreen, GradeYellow, GradeRed, GradeBlack:
		return v, true
	case Ungraded:
		return "", true
	}
	return "", false
}

// Dimensions lists the accepted group-by and filter fields, for API documentation and forms.
func Dimensions() []Dimension {
	out := make([]Dimension, 0, len(dimensions))
	for d := range dimensions {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Interval is a trend's period length.
type Interval string

// Intervals; weeks start on Monday.
const (
	Day   Interval = "day"
	Week  Interval = "week"
	Month Interval = "month"
)

// TrendRequest asks for counts and rates over [From, To) by period and any allow-listed groups.
type TrendRequest struct {
	From, To time.Time
	Interval Interval // default Day
	GroupBy  []Dimension
	// Filters keep decisions whose dimension has one of the values (for array dimensions: any
	// of them). Empty value lists are ignored.
	Filters map[Dimension][]string
	// Limit caps the rows returned (default and maximum: Config.MaxRows).
	Limit int
}

// TrendRow is one period × group of a trend.
type TrendRow struct {
	Period       time.Time `json:"period"`
	Group        []string  `json:"group,omitempty"` // values in GroupBy order
	Declarations uint64    `json:"declarations"`
	Inspected    uint64    `json:"inspected"`
	Results      uint64    `json:"results"`
	Hits         uint64    `json:"hits"`
	// Revenue is the duty or value recovered by hits, in the base currency.
	Revenue        float64 `json:"revenue"`
	InspectionRate float64 `json:"inspection_rate"`
	HitRate        float64 `json:"hit_rate"`
}

// TrendResult is a trend with its request echoed; Truncated says the row limit cut it.
type TrendResult struct {
	Interval  Interval    `json:"interval"`
	GroupBy   []Dimension `json:"group_by,omitempty"`
	Rows      []TrendRow  `json:"rows"`
	Truncated bool        `json:"truncated"`
}

// filterSQL turns allow-listed filters into a WHERE fragment with placeholders. Unknown
// dimensions are refused with ErrInvalid.
func filterSQL(filters map[Dimension][]string) (string, []any, error) {
	keys := make([]Dimension, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic SQL: the server's query cache and logs thank us
	var b strings.Builder
	var args []any
	for _, k := range keys {
		vals := filters[k]
		d, ok := dimensions[k]
		if !ok {
			return "", nil, fmt.Errorf("%w: cannot filter by %q (allowed: %v)", ErrInvalid, k, Dimensions())
		}
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1000 {
			return "", nil, fmt.Errorf("%w: more than 1000 values for %s", ErrInvalid, k)
		}
		if k == DimEnterpriseGrade {
			stored := make([]string, len(vals))
			for i, v := range vals {
				g, ok := gradeFilterValue(v)
				if !ok {
					return "", nil, fmt.Errorf("%w: enterprise grade %q (allowed: green, yellow, red, black, ungraded)", ErrInvalid, v)
				}
				stored[i] = g
			}
			vals = stored
		}
		if d.array {
			b.WriteString(" AND hasAny(" + d.column + ", ?)") // a []string binds as an array literal
		} else {
			b.WriteString(" AND has(?, " + d.column + ")")
		}
		args = append(args, vals)
	}
	return b.String(), args, nil
}

// periodSQL cuts periods from the day column that decision_facts and daily_cube share: the
// decision's day in the configured time zone.
func (s *Store) periodSQL(iv Interval) (string, error) {
	day := "day"
	switch iv {
	case Day, "":
		return day, nil
	case Week:
		return "toMonday(" + day + ")", nil
	case Month:
		return "toStartOfMonth(" + day + ")", nil
	}
	return "", fmt.Errorf("%w: interval %q (allowed: day, week, month)", ErrInvalid, iv)
}

func checkPeriod(from, to time.Time) error {
	if from.IsZero() || !to.After(from) {
		return fmt.Errorf("%w: need From < To", ErrInvalid)
	}
	if to.Sub(from) > maxTrendSpan {
		return fmt.Errorf("%w: period longer than 3 years", ErrInvalid)
	}
	return nil
}

// cubeCovers says whether daily_cube alone answers a query over [from, to) grouped and filtered by
// dims: the period must start and end at midnight in the configured time zone (the cube has no
// finer time) and every dimension must be one the cube keeps.
func (s *Store) cubeCovers(from, to time.Time, groupBy []Dimension, filters map[Dimension][]string) bool {
	if !s.midnight(from) || !s.midnight(to) {
		return false
	}
	for _, g := range groupBy {
		if !dimensions[g].cube {
			return false
		}
	}
	for f, v := range filters {
		if len(v) > 0 && !dimensions[f].cube {
			return false
		}
	}
	return true
}

func (s *Store) midnight(t time.Time) bool {
	l := t.In(s.loc)
	return l.Hour() == 0 && l.Minute() == 0 && l.Second() == 0 && l.Nanosecond() == 0
}

// cubeWhere selects the cube's days in [from, to), both local midnights.
func (s *Store) cubeWhere(from, to time.Time) (string, []any) {
	return "day >= toDate(?) AND day < toDate(?)", []any{from.In(s.loc).Format(dateLayout), to.In(s.loc).Format(dateLayout)}
}

func (s *Store) limit(n int) int {
	if n <= 0 || n > s.cfg.MaxRows {
		return s.cfg.MaxRows
	}
	return n
}

// Trend counts declarations, inspections, concluded results, hits and revenue per period and
// group, latest decision and latest result version of each declaration version only.
func (s *Store) Trend(ctx context.Context, q TrendRequest) (*TrendResult, error) {
	if err := checkPeriod(q.From, q.To); err != nil {
		return nil, fmt.Errorf("analytics: trend: %w", err)
	}
	period, err := s.periodSQL(q.Interval)
	if err != nil {
		return nil, fmt.Errorf("analytics: trend: %w", err)
	}
	if len(q.GroupBy) > 3 {
		return nil, fmt.Errorf("analytics: trend: %w: at most 3 group-by fields", ErrInvalid)
	}
	var groups []string
	for i, g := range q.GroupBy {
		d, ok := dimensions[g]
		if !ok {
			return nil, fmt.Errorf("analytics: trend: %w: cannot group by %q (allowed: %v)", ErrInvalid, g, Dimensions())
		}
		if slices.Contains(q.GroupBy[:i], g) {
			return nil, fmt.Errorf("analytics: trend: %w: %s grouped twice", ErrInvalid, g)
		}
		expr := d.column
		if d.array {
			// A decision without values still counts, under "".
			expr = "arrayJoin(if(empty(" + d.column + "), [''], " + d.column + "))"
		}
		groups = append(groups, expr+" AS g"+strconv.Itoa(i))
	}
	filters, fargs, err := filterSQL(q.Filters)
	if err != nil {
		return nil, fmt.Errorf("analytics: trend: %w", err)
	}
	if err := s.fresh(ctx); err != nil {
		return nil, fmt.Errorf("analytics: trend: %w", err)
	}
	sel := []string{period + " AS period"}
	by := []string{"period"}
	for i, g := range groups {
		sel = append(sel, g)
		by = append(by, "g"+strconv.Itoa(i))
	}
	limit := s.limit(q.Limit)
	var query string
	var args []any
	if s.cubeCovers(q.From, q.To, q.GroupBy, q.Filters) {
		where, wargs := s.cubeWhere(q.From, q.To)
		query = "SELECT " + strings.Join(sel, ", ") + `, sum(declarations), sum(inspected), sum(results), sum(hits), sum(revenue)
FROM daily_cube WHERE ` + where + filters + `
GROUP BY ` + strings.Join(by, ", ") + " ORDER BY " + strings.Join(by, ", ") + " LIMIT ?"
		args = append(append(wargs, fargs...), limit+1)
	} else {
		where, wargs := s.factsWhere(q.From, q.To)
		query = "SELECT " + strings.Join(sel, ", ") + `, count(), countIf(channel IN ('RED', 'YELLOW')),
 countIf(has_result = 1), countIf(has_result = 1 AND hit = 1), sumIf(revenue, has_result = 1 AND hit = 1)
FROM decision_facts WHERE ` + where + filters + `
GROUP BY ` + strings.Join(by, ", ") + " ORDER BY " + strings.Join(by, ", ") + " LIMIT ?"
		args = append(append(wargs, fargs...), limit+1)
	}
	res := &TrendResult{Interval: q.Interval, GroupBy: q.GroupBy, Rows: []TrendRow{}}
	if res.Interval == "" {
		res.Interval = Day
	}
	loc := s.loc
	err = s.do(ctx, "trend", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		dest := make([]any, 0, 6+len(groups))
		for rows.Next() {
			var r TrendRow
			var p time.Time
			g := make([]string, len(groups))
			dest = append(dest[:0], &p)
			for i := range g {
				dest = append(dest, &g[i])
			}
			dest = append(dest, &r.Declarations, &r.Inspected, &r.Results, &r.Hits, &r.Revenue)
			if err := rows.Scan(dest...); err != nil {
				return err
			}
			if len(res.Rows) == limit {
				res.Truncated = true
				break
			}
			r.Period = time.Date(p.Year(), p.Month(), p.Day(), 0, 0, 0, 0, loc)
			if len(g) > 0 {
				r.Group = g
			}
			r.InspectionRate = ratio(r.Inspected, r.Declarations)
			r.HitRate = ratio(r.Hits, r.Results)
			res.Rows = append(res.Rows, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: trend: %w", err)
	}
	return res, nil
}

// WriteCSV writes the trend as CSV with a header row, for export.
func (t *TrendResult) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := []string{"period"}
	for _, g := range t.GroupBy {
		head = append(head, string(g))
	}
	head = append(head, "declarations", "inspected", "results", "hits", "revenue", "inspection_rate", "hit_rate")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range t.Rows {
		rec := append([]string{r.Period.Format("2006-01-02")}, r.Group...)
		rec = append(rec, strconv.FormatUint(r.Declarations, 10), strconv.FormatUint(r.Inspected, 10),
			strconv.FormatUint(r.Results, 10), strconv.FormatUint(r.Hits, 10),
			strconv.FormatFloat(r.Revenue, 'f', 2, 64), strconv.FormatFloat(r.InspectionRate, 'f', 6, 64),
			strconv.FormatFloat(r.HitRate, 'f', 6, 64))
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
