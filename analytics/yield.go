package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Scope selects the decisions a yield query looks at: decided in [From, To), with optional
// allow-listed filters (the same dimensions as trends).
type Scope struct {
	From, To time.Time
	Filters  map[Dimension][]string
}

// scopeSQL returns the WHERE clause over decision_facts that selects the scope, with its
// arguments, after bringing the rollups up to date.
func (s *Store) scopeSQL(ctx context.Context, sc Scope) (string, []any, error) {
	if err := checkPeriod(sc.From, sc.To); err != nil {
		return "", nil, err
	}
	f, fargs, err := filterSQL(sc.Filters)
	if err != nil {
		return "", nil, err
	}
	if err := s.fresh(ctx); err != nil {
		return "", nil, err
	}
	where, args := s.factsWhere(sc.From, sc.To)
	return where + f, append(args, fargs...), nil
}

// HitRates are the honest hit rates of a scope. Only the random control group estimates the
// non-compliance rate without bias; targeted hit rates are meant to be higher, and Lift says by
// how much. The inverse-propensity estimate uses every concluded inspection, each weighted by
// 1/propensity, to estimate the non-compliance rate of all declarations.
type HitRates struct {
	Declarations uint64 `json:"declarations"`
	Random       Rate   `json:"random"`   // random control draws with a concluded result
	Targeted     Rate   `json:"targeted"` // selected by a rule or a model (not random)
	Overall      Rate   `json:"overall"`  // every concluded inspection
	// Lift = Targeted.Rate / Random.Rate; 0 when the random rate is 0.
	Lift float64 `json:"lift"`
	// IPWNonCompliance is the self-normalized (Hájek) inverse-propensity estimate
	// Σ hitᵢ/pᵢ ÷ Σ 1/pᵢ over concluded inspections with a recorded propensity pᵢ > 0.
	IPWNonCompliance float64 `json:"ipw_non_compliance"`
	// IPWEffectiveN is Kish's effective sample size of those weights, (Σw)²/Σw²: how many
	// unweighted observations the estimate is worth.
	IPWEffectiveN float64 `json:"ipw_effective_n"`
	// NoPropensity counts concluded inspections left out of the IPW estimate (propensity 0).
	NoPropensity uint64 `json:"no_propensity"`
}

// HitRates computes the honest hit rates of the scope.
func (s *Store) HitRates(ctx context.Context, sc Scope) (*HitRates, error) {
	fact, args, err := s.scopeSQL(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("analytics: hit rates: %w", err)
	}
	query := `SELECT count(),
 countIf(has_result = 1 AND random = 1), countIf(has_result = 1 AND random = 1 AND hit = 1),
 countIf(has_result = 1 AND random = 0 AND selection IN ('rule', 'model')),
 countIf(has_result = 1 AND random = 0 AND selection IN ('rule', 'model') AND hit = 1),
 countIf(has_result = 1), countIf(has_result = 1 AND hit = 1),
 sumIf(hit / propensity, has_result = 1 AND propensity > 0), sumIf(1 / propensity, has_result = 1 AND propensity > 0),
 sumIf(1 / (propensity * propensity), has_result = 1 AND propensity > 0), countIf(has_result = 1 AND propensity <= 0)
FROM decision_facts WHERE ` + fact
	if s.cubeCovers(sc.From, sc.To, nil, sc.Filters) {
		// The same sums from the cube, whose rows are already split by random and selection.
		f, fargs, _ := filterSQL(sc.Filters)
		where, wargs := s.cubeWhere(sc.From, sc.To)
		query = `SELECT sum(declarations),
 sumIf(results, random = 1), sumIf(hits, random = 1),
 sumIf(results, random = 0 AND selection IN ('rule', 'model')), sumIf(hits, random = 0 AND selection IN ('rule', 'model')),
 sum(results), sum(hits), sum(w_hit), sum(w_sum), sum(w_sq), sum(no_propensity)
FROM daily_cube WHERE ` + where + f
		args = append(wargs, fargs...)
	}
	var (
		h                      HitRates
		rn, rh, tn, th, on, oh uint64
		wHit, wSum, wSq        float64
	)
	err = s.do(ctx, "hit_rates", func(ctx context.Context) error {
		return s.conn.QueryRow(s.limits(ctx), query, args...).Scan(&h.Declarations, &rn, &rh, &tn, &th, &on, &oh, &wHit, &wSum, &wSq, &h.NoPropensity)
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: hit rates: %w", err)
	}
	h.Random, h.Targeted, h.Overall = NewRate(rh, rn), NewRate(th, tn), NewRate(oh, on)
	if h.Random.Rate > 0 {
		h.Lift = h.Targeted.Rate / h.Random.Rate
	}
	if wSum > 0 {
		h.IPWNonCompliance = wHit / wSum
		h.IPWEffectiveN = wSum * wSum / wSq
	}
	return &h, nil
}

// RuleYield is what one targeting rule achieved in a scope.
type RuleYield struct {
	Rule     string `json:"rule"`
	State    string `json:"state,omitempty"` // from the rule store, when known
	Fired    uint64 `json:"fired"`           // declarations it matched
	Selected uint64 `json:"selected"`        // of which its draw selected
	// Workload counts the inspections and document reviews its selections caused.
	Workload uint64    `json:"workload"`
	Yield    Rate      `json:"yield"`             // hits among its selections' concluded results
	LastHit  time.Time `json:"last_hit,omitzero"` // decision time of its latest hit
	// ExpiresAt is read from the rule's stored body ("expires_at" or "valid_to"), when present.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Flags     []string  `json:"flags,omitempty"` // "never_hit", "low_yield", "expiring_soon"
}

// RuleYieldOptions tune the flags. Zero values take the defaults shown.
type RuleYieldOptions struct {
	// MinResults a rule needs before it is flagged low-yield or never-hit; default 20.
	MinResults uint64
	// ExpiringWithin flags rules whose expiry falls within this long after Now; default 14 days.
	ExpiringWithin time.Duration
	Now            time.Time // default time.Now()
}

// RuleYields reports, per rule that fired in the scope or is stored in the rule store, its
// selections, workload, hit rate with interval, last hit and flags: never_hit (enough concluded
// results, no hit), low_yield (the interval's upper bound is below the random-control hit rate:
// inspecting at random would find more) and expiring_soon.
func (s *Store) RuleYields(ctx context.Context, sc Scope, o RuleYieldOptions) ([]RuleYield, error) {
	if o.MinResults == 0 {
		o.MinResults = 20
	}
	if o.ExpiringWithin == 0 {
		o.ExpiringWithin = 14 * 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	fact, args, err := s.scopeSQL(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("analytics: rule yield: %w", err)
	}
	query := `SELECT rule, count(), countIf(has(rules_selected, rule)),
 countIf(has(rules_selected, rule) AND channel IN ('RED', 'YELLOW')),
 countIf(has(rules_selected, rule) AND has_result = 1), countIf(has(rules_selected, rule) AND has_result = 1 AND hit = 1),
 maxIf(decided_at, has(rules_selected, rule) AND has_result = 1 AND hit = 1)
FROM decision_facts ARRAY JOIN rules_fired AS rule
WHERE ` + fact + `
GROUP BY rule ORDER BY rule LIMIT ?`
	args = append(args, s.cfg.MaxRows)
	byID := map[string]*RuleYield{}
	var out []*RuleYield
	err = s.do(ctx, "rule_yield", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r := &RuleYield{}
			var res, hits uint64
			if err := rows.Scan(&r.Rule, &r.Fired, &r.Selected, &r.Workload, &res, &hits, &r.LastHit); err != nil {
				return err
			}
			r.Yield = NewRate(hits, res)
			if r.LastHit.Unix() <= 0 {
				r.LastHit = time.Time{}
			}
			byID[r.Rule] = r
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: rule yield: %w", err)
	}
	// Rules that exist but never fired belong in the report: they are the first to retire.
	err = s.RuleVersions(ctx, func(id string, _ int, state string, body []byte) error {
		r := byID[id]
		if r == nil {
			r = &RuleYield{Rule: id, Yield: NewRate(0, 0)}
			byID[id] = r
			out = append(out, r)
		}
		r.State = state
		r.ExpiresAt = ruleExpiry(body)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: rule yield: %w", err)
	}
	rates, err := s.HitRates(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("analytics: rule yield: %w", err)
	}
	res := make([]RuleYield, 0, len(out))
	for _, r := range out {
		if r.Yield.N >= o.MinResults && r.Yield.Hits == 0 {
			r.Flags = append(r.Flags, "never_hit")
		}
		if r.Yield.N >= o.MinResults && rates.Random.N > 0 && r.Yield.Hi < rates.Random.Rate {
			r.Flags = append(r.Flags, "low_yield")
		}
		if !r.ExpiresAt.IsZero() && r.ExpiresAt.After(o.Now) && r.ExpiresAt.Sub(o.Now) <= o.ExpiringWithin {
			r.Flags = append(r.Flags, "expiring_soon")
		}
		res = append(res, *r)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Rule < res[j].Rule })
	return res, nil
}

// ruleExpiry reads an expiry time from a rule body without knowing targeting's rule type.
func ruleExpiry(body []byte) time.Time {
	var b map[string]any
	if json.Unmarshal(body, &b) != nil {
		return time.Time{}
	}
	for _, k := range []string{"expires_at", "valid_to", "expiry", "ExpiresAt", "ValidTo"} {
		if v, ok := b[k].(string); ok {
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				return t
			}
		}
	}
	return time.Time{}
}

// ModelYield is how one model version performed in a scope.
type ModelYield struct {
	ModelVersion string `json:"model_version"`
	Declarations uint64 `json:"declarations"`
	Inspected    uint64 `json:"inspected"`
	// InspectedShare = Inspected / Declarations: the capacity the model was given.
	InspectedShare float64 `json:"inspected_share"`
	// Threshold is the probability above which the top InspectedShare of declarations lie.
	Threshold float64 `json:"threshold"`
	// PrecisionAtShare is the hit rate among concluded inspections of declarations the model
	// ranked within its top InspectedShare: what it finds when given the capacity it had.
	PrecisionAtShare Rate          `json:"precision_at_share"`
	Calibration      []Calibration `json:"calibration"`
}

// Calibration is one predicted-probability decile (0–10 %, 10–20 % …) of a model: its mean
// prediction next to the observed hit rate among concluded inspections, raw and weighted by
// inverse propensity (which corrects for targeting inspecting mostly the high scores).
type Calibration struct {
	Decile      int     `json:"decile"` // 0 = [0, 0.1) … 9 = [0.9, 1]
	Predicted   float64 `json:"predicted"`
	Observed    Rate    `json:"observed"`
	ObservedIPW float64 `json:"observed_ipw"`
}

// ModelYields reports precision at the inspected share and calibration by decile, per model
// version seen in the scope.
func (s *Store) ModelYields(ctx context.Context, sc Scope) ([]ModelYield, error) {
	fact, args, err := s.scopeSQL(ctx, sc)
	if err != nil {
		return nil, fmt.Errorf("analytics: model yield: %w", err)
	}
	var out []ModelYield
	byVersion := map[string]*ModelYield{}
	// The threshold is the quantile of the model's own scores at 1 - inspected share, over every
	// declaration it scored, inspected or not: quantileExact's element, at index n - inspected
	// (0-based) of the sorted scores; precision is then measured where labels exist. Sorting
	// millions of scores costs seconds, so the element is found in two steps: a histogram of
	// 1/10,000-wide score buckets says which bucket holds it and at which offset, and a second
	// query reads that bucket alone.
	type bucket struct {
		b int64
		n uint64
	}
	hist := map[string][]bucket{}
	err = s.do(ctx, "model_yield", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), `SELECT model_version, toInt64(floor(probability * 10000)) AS b, count(),
 countIf(channel IN ('RED', 'YELLOW'))
FROM decision_facts WHERE `+fact+` GROUP BY model_version, b ORDER BY model_version, b`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			var b int64
			var n, insp uint64
			if err := rows.Scan(&v, &b, &n, &insp); err != nil {
				return err
			}
			m := byVersion[v]
			if m == nil {
				if len(out) == 1000 {
					continue
				}
				out = append(out, ModelYield{ModelVersion: v})
				m = &out[len(out)-1]
				// out may have moved: rebuild the index.
				for k := range out {
					byVersion[out[k].ModelVersion] = &out[k]
				}
			}
			m.Declarations += n
			m.Inspected += insp
			hist[v] = append(hist[v], bucket{b, n})
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: model yield: %w", err)
	}
	for i := range out {
		m := &out[i]
		m.InspectedShare = ratio(m.Inspected, m.Declarations)
		idx := min(m.Declarations-m.Inspected, m.Declarations-1)
		var before uint64
		var at bucket
		for _, b := range hist[m.ModelVersion] {
			if before+b.n > idx {
				at = b
				break
			}
			before += b.n
		}
		err := s.do(ctx, "model_yield", func(ctx context.Context) error {
			return s.conn.QueryRow(s.limits(ctx), `SELECT probability FROM decision_facts WHERE `+fact+`
 AND model_version = ? AND toInt64(floor(probability * 10000)) = ? ORDER BY probability LIMIT ?, 1`,
				append(append([]any{}, args...), m.ModelVersion, at.b, idx-before)...).Scan(&m.Threshold)
		})
		if err != nil {
			return nil, fmt.Errorf("analytics: model yield %s: %w", m.ModelVersion, err)
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	versions := make([]string, len(out))
	thresholds := make([]float64, len(out))
	for i := range out {
		versions[i], thresholds[i] = out[i].ModelVersion, out[i].Threshold
		byVersion[out[i].ModelVersion] = &out[i]
	}
	err = s.do(ctx, "model_yield", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), `SELECT model_version, count(), sum(hit)
FROM decision_facts WHERE `+fact+` AND has_result = 1 AND probability >= transform(model_version, ?, ?, 2.)
GROUP BY model_version`, append(append([]any{}, args...), versions, thresholds)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			var n, h uint64
			if err := rows.Scan(&v, &n, &h); err != nil {
				return err
			}
			if m := byVersion[v]; m != nil {
				m.PrecisionAtShare = NewRate(h, n)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: model yield: %w", err)
	}
	err = s.do(ctx, "model_calibration", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), `SELECT model_version, least(toUInt8(floor(probability * 10)), 9) AS decile,
 avg(probability), count(), sum(hit), sumIf(hit / propensity, propensity > 0), sumIf(1 / propensity, propensity > 0)
FROM decision_facts WHERE `+fact+` AND has_result = 1 AND probability >= 0
GROUP BY model_version, decile ORDER BY model_version, decile`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			var d uint8
			var c Calibration
			var n, h uint64
			var wh, w float64
			if err := rows.Scan(&v, &d, &c.Predicted, &n, &h, &wh, &w); err != nil {
				return err
			}
			c.Decile, c.Observed = int(d), NewRate(h, n)
			if w > 0 {
				c.ObservedIPW = wh / w
			}
			if m := byVersion[v]; m != nil {
				m.Calibration = append(m.Calibration, c)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: model calibration: %w", err)
	}
	for i := range out {
		if out[i].PrecisionAtShare.Hi == 0 {
			out[i].PrecisionAtShare = NewRate(0, 0)
		}
	}
	return out, nil
}
