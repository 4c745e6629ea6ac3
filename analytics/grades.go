package analytics

import (
	"context"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"gonum.org/v1/gonum/stat/distuv"
)

// Enterprise risk grades 绿黄红黑, from best to worst. Targeting takes them as the enterprise's
// grade (Engine.SetGrade) and multiplies its random rate by the configured factor.
const (
	GradeGreen  = "green"  // 绿: evidence of compliance — even the optimistic bound is below the baseline
	GradeYellow = "yellow" // 黄: average or not enough evidence either way (new enterprises)
	GradeRed    = "red"    // 红: evidence of elevated risk — even the cautious bound is well above the baseline
	GradeBlack  = "black"  // 黑: strong evidence of high risk with serious findings
)

// Credit classes of the customs enterprise credit system, as SetCreditClasses records them.
const (
	CreditAdvanced  = "advanced"  // 高级认证企业
	CreditGeneral   = "general"   // 一般信用企业
	CreditDishonest = "dishonest" // 失信企业
)

var gradeRank = map[string]int{GradeGreen: 0, GradeYellow: 1, GradeRed: 2, GradeBlack: 3}
var gradeByRank = [...]string{GradeGreen, GradeYellow, GradeRed, GradeBlack}

// GradeOptions tune how grades are computed. Zero values take the defaults shown.
//
// Each enterprise's hit rate gets a Beta posterior: a prior centred on Baseline with the weight
// of PriorStrength inspections, updated with its concluded inspections, each weighted by
// recency (half its weight every HalfLife) and its hits by severity (×1.5 for severity 2, ×2 for
// 3 and above). The posterior's 90% interval [Lo, Hi] grades it: green when Hi ≤ Baseline, red
// when Lo ≥ RedRatio × Baseline, black when Lo ≥ BlackRatio × Baseline and it had a severe hit,
// yellow otherwise. A small importer with one hit has a wide interval, so it is not black. The
// credit class then moves the grade: advanced one step better (never out of black), dishonest at
// least red.
type GradeOptions struct {
	At            time.Time     // grades as of this time; default now
	Lookback      time.Duration // history considered; default 730 days
	HalfLife      time.Duration // recency weighting; default 180 days
	PriorStrength float64       // default 10 inspections
	// Baseline is the hit rate an average enterprise has; default the random-control hit rate
	// over the lookback (the honest non-compliance rate), else the overall hit rate, else 0.05.
	Baseline   float64
	RedRatio   float64 // default 1.5
	BlackRatio float64 // default 3
	// Enterprises restricts the answer to these enterprises (importer keys); Grade to one grade.
	Enterprises []string
	Grade       string
	Limit       int // rows returned by Grades; default and maximum Config.MaxRows
}

func (o *GradeOptions) defaults() error {
	if o.At.IsZero() {
		o.At = time.Now()
	}
	if o.Lookback == 0 {
		o.Lookback = 730 * 24 * time.Hour
	}
	if o.HalfLife == 0 {
		o.HalfLife = 180 * 24 * time.Hour
	}
	if o.PriorStrength == 0 {
		o.PriorStrength = 10
	}
	if o.RedRatio == 0 {
		o.RedRatio = 1.5
	}
	if o.BlackRatio == 0 {
		o.BlackRatio = 3
	}
	switch {
	case o.Lookback < 0 || o.Lookback > maxTrendSpan || o.HalfLife < 0 || o.PriorStrength < 0:
		return fmt.Errorf("%w: lookback must be within 3 years, half-life and prior strength positive", ErrInvalid)
	case o.Baseline < 0 || o.Baseline >= 1 || o.RedRatio <= 1 || o.BlackRatio < o.RedRatio:
		return fmt.Errorf("%w: need 0 ≤ baseline < 1 and 1 < red ratio ≤ black ratio", ErrInvalid)
	case len(o.Enterprises) > 10000:
		return fmt.Errorf("%w: more than 10,000 enterprises", ErrInvalid)
	}
	if _, ok := gradeRank[o.Grade]; o.Grade != "" && !ok {
		return fmt.Errorf("%w: grade %q (allowed: green, yellow, red, black)", ErrInvalid, o.Grade)
	}
	return nil
}

// EnterpriseGrade is one enterprise's grade with the evidence behind it.
type EnterpriseGrade struct {
	Enterprise   string `json:"enterprise"`
	Grade        string `json:"grade"`
	CreditClass  string `json:"credit_class,omitempty"`
	Declarations uint64 `json:"declarations"`
	Results      uint64 `json:"results"`     // concluded inspections
	Hits         uint64 `json:"hits"`        // of which non-conforming
	SevereHits   uint64 `json:"severe_hits"` // hits with severity 3 or more
	// WeightedResults and WeightedHits are the recency- (and for hits severity-) weighted counts
	// the posterior was updated with.
	WeightedResults float64 `json:"weighted_results"`
	WeightedHits    float64 `json:"weighted_hits"`
	// Mean, Lo and Hi are the posterior mean hit rate and its 90% credible interval.
	Mean     float64 `json:"posterior_mean"`
	Lo       float64 `json:"posterior_lo"`
	Hi       float64 `json:"posterior_hi"`
	Baseline float64 `json:"baseline"`
	ReasonZH string  `json:"reason_zh"`
	ReasonEN string  `json:"reason_en"`
}

// GradeChange is one change of an enterprise's grade.
type GradeChange struct {
	Enterprise string    `json:"enterprise"`
	From       string    `json:"from"` // "" for an enterprise graded the first time
	To         string    `json:"to"`
	At         time.Time `json:"at"`
	Mean       float64   `json:"posterior_mean"`
	Lo         float64   `json:"posterior_lo"`
	Hi         float64   `json:"posterior_hi"`
	Results    uint64    `json:"results"`
	Hits       uint64    `json:"hits"`
	Reason     string    `json:"reason"`
}

// CreditClass is an enterprise's declared customs credit class.
type CreditClass struct {
	Enterprise string    `json:"enterprise"`
	Class      string    `json:"class"` // advanced, general, dishonest
	UpdatedAt  time.Time `json:"updated_at"`
}

// SetCreditClasses records credit classes; the latest update of each enterprise wins.
func (s *Store) SetCreditClasses(ctx context.Context, cs []CreditClass) error {
	for _, c := range cs {
		switch c.Class {
		case CreditAdvanced, CreditGeneral, CreditDishonest:
		default:
			return fmt.Errorf("analytics: set credit classes: %w: class %q of %s (allowed: advanced, general, dishonest)", ErrInvalid, c.Class, c.Enterprise)
		}
		if c.Enterprise == "" {
			return fmt.Errorf("analytics: set credit classes: %w: enterprise is required", ErrInvalid)
		}
	}
	err := s.insert(ctx, "set_credit", "INSERT INTO enterprise_credit (enterprise, credit_class, updated_at)", len(cs), func(b driver.Batch, i int) error {
		return b.Append(cs[i].Enterprise, cs[i].Class, ts(cs[i].UpdatedAt))
	})
	if err != nil {
		return fmt.Errorf("analytics: set credit classes: %w", err)
	}
	return nil
}

// Grades computes enterprise grades as of o.At from the deduplicated history, riskiest first
// (by the posterior's lower bound).
func (s *Store) Grades(ctx context.Context, o GradeOptions) ([]EnterpriseGrade, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("analytics: grades: %w", err)
	}
	var out []EnterpriseGrade
	err := s.computeGrades(ctx, &o, func(g EnterpriseGrade) {
		if o.Grade == "" || g.Grade == o.Grade {
			out = append(out, g)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: grades: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Lo != out[j].Lo {
			return out[i].Lo > out[j].Lo
		}
		return out[i].Enterprise < out[j].Enterprise
	})
	if l := s.limit(o.Limit); len(out) > l {
		out = out[:l]
	}
	return out, nil
}

// computeGrades grades every enterprise with decisions in the lookback and hands each to fn.
func (s *Store) computeGrades(ctx context.Context, o *GradeOptions, fn func(EnterpriseGrade)) error {
	from := o.At.Add(-o.Lookback)
	if o.Baseline == 0 {
		h, err := s.HitRates(ctx, Scope{From: from, To: o.At})
		if err != nil {
			return err
		}
		switch {
		case h.Random.N >= 30 && h.Random.Rate > 0:
			o.Baseline = h.Random.Rate
		case h.Overall.N > 0 && h.Overall.Rate > 0:
			o.Baseline = h.Overall.Rate
		default:
			o.Baseline = 0.05
		}
	} else if err := s.fresh(ctx); err != nil {
		return err
	}
	where, args := s.factsWhere(from, o.At)
	if len(o.Enterprises) > 0 {
		where += " AND has(?, importer)"
		args = append(args, o.Enterprises)
	}
	decay := math.Ln2 / o.HalfLife.Hours() * 24 // per day
	if o.HalfLife == 0 {
		decay = 0
	}
	query := `SELECT importer, declarations, results, hits, severe, wres, whits, wnon, credit FROM (
 SELECT importer, count() AS declarations, countIf(has_result = 1) AS results,
  countIf(has_result = 1 AND hit = 1) AS hits, countIf(has_result = 1 AND hit = 1 AND severity >= 3) AS severe,
  sumIf(w, has_result = 1) AS wres,
  sumIf(w * multiIf(severity >= 3, 2., severity = 2, 1.5, 1.), has_result = 1 AND hit = 1) AS whits,
  sumIf(w, has_result = 1 AND hit = 0) AS wnon
 FROM (SELECT importer, has_result, hit, severity, exp(-? * (toUInt32(?) - toUInt32(decided_at)) / 86400) AS w
  FROM decision_facts WHERE ` + where + `)
 GROUP BY importer
) ANY LEFT JOIN (
 SELECT enterprise AS importer, argMax(credit_class, updated_at) AS credit FROM enterprise_credit GROUP BY enterprise
) USING importer`
	args = append([]any{decay, ts(o.At)}, args...)
	a0, b0 := o.PriorStrength*o.Baseline, o.PriorStrength*(1-o.Baseline)
	return s.stream(ctx, "grades", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var g EnterpriseGrade
			var wnon float64
			if err := rows.Scan(&g.Enterprise, &g.Declarations, &g.Results, &g.Hits, &g.SevereHits,
				&g.WeightedResults, &g.WeightedHits, &wnon, &g.CreditClass); err != nil {
				return err
			}
			grade(&g, a0+g.WeightedHits, b0+wnon, o)
			fn(g)
		}
		return rows.Err()
	})
}

// grade fills in the posterior, the grade and its reason.
func grade(g *EnterpriseGrade, alpha, beta float64, o *GradeOptions) {
	// A zero prior strength with no history would be an improper posterior: keep it proper.
	alpha, beta = math.Max(alpha, 1e-3), math.Max(beta, 1e-3)
	post := distuv.Beta{Alpha: alpha, Beta: beta}
	g.Mean, g.Lo, g.Hi, g.Baseline = post.Mean(), post.Quantile(0.05), post.Quantile(0.95), o.Baseline
	base := GradeYellow
	switch {
	case g.Lo >= o.BlackRatio*o.Baseline && g.SevereHits > 0:
		base = GradeBlack
	case g.Lo >= o.RedRatio*o.Baseline:
		base = GradeRed
	case g.Hi <= o.Baseline:
		base = GradeGreen
	}
	r := gradeRank[base]
	switch g.CreditClass {
	case CreditAdvanced:
		if base != GradeBlack && r > 0 {
			r--
		}
	case CreditDishonest:
		r = max(r, gradeRank[GradeRed])
	}
	g.Grade = gradeByRank[r]
	g.ReasonZH = fmt.Sprintf("查验%d次，查获%d次（严重%d次），加权查获率%.1f%%（90%%区间%.1f%%–%.1f%%），基准%.1f%%",
		g.Results, g.Hits, g.SevereHits, 100*g.Mean, 100*g.Lo, 100*g.Hi, 100*o.Baseline)
	g.ReasonEN = fmt.Sprintf("%d inspections, %d hits (%d severe), weighted hit rate %.1f%% (90%% interval %.1f–%.1f%%), baseline %.1f%%",
		g.Results, g.Hits, g.SevereHits, 100*g.Mean, 100*g.Lo, 100*g.Hi, 100*o.Baseline)
	if g.CreditClass != "" && g.Grade != base {
		g.ReasonZH += "；信用等级" + map[string]string{CreditAdvanced: "高级认证", CreditDishonest: "失信"}[g.CreditClass] + "调整"
		g.ReasonEN += "; adjusted for credit class " + g.CreditClass
	}
}

// RecomputeGrades grades every enterprise with decisions in the default lookback as of at,
// records the grades that changed in enterprise_grades and grade_changes, and returns the
// changes. Enterprises without decisions in the lookback keep their last grade.
func (s *Store) RecomputeGrades(ctx context.Context, at time.Time) ([]GradeChange, error) {
	o := GradeOptions{At: at}
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("analytics: recompute grades: %w", err)
	}
	at = ts(o.At).Truncate(time.Second)
	current := map[string]string{}
	err := s.stream(ctx, "current_grades", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, "SELECT enterprise, argMax(grade, computed_at) FROM enterprise_grades GROUP BY enterprise")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e, g string
			if err := rows.Scan(&e, &g); err != nil {
				return err
			}
			current[e] = g
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: recompute grades: %w", err)
	}
	var changed []EnterpriseGrade
	var changes []GradeChange
	err = s.computeGrades(ctx, &o, func(g EnterpriseGrade) {
		if prev, ok := current[g.Enterprise]; ok && prev == g.Grade {
			return
		}
		changed = append(changed, g)
		changes = append(changes, GradeChange{Enterprise: g.Enterprise, From: current[g.Enterprise], To: g.Grade, At: at,
			Mean: g.Mean, Lo: g.Lo, Hi: g.Hi, Results: g.Results, Hits: g.Hits, Reason: g.ReasonEN})
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: recompute grades: %w", err)
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Enterprise < changes[j].Enterprise })
	err = s.insert(ctx, "save_grades", `INSERT INTO enterprise_grades (enterprise, grade, credit_class, declarations,
 results, hits, severe_hits, weighted_results, weighted_hits, posterior_mean, posterior_lo, posterior_hi, baseline, computed_at)`,
		len(changed), func(b driver.Batch, i int) error {
			g := &changed[i]
			return b.Append(g.Enterprise, g.Grade, g.CreditClass, g.Declarations, g.Results, g.Hits, g.SevereHits,
				g.WeightedResults, g.WeightedHits, g.Mean, g.Lo, g.Hi, g.Baseline, at)
		})
	if err != nil {
		return nil, fmt.Errorf("analytics: recompute grades: %w", err)
	}
	err = s.insert(ctx, "save_grade_changes", `INSERT INTO grade_changes (enterprise, from_grade, to_grade, changed_at,
 posterior_mean, posterior_lo, posterior_hi, results, hits, reason)`, len(changes), func(b driver.Batch, i int) error {
		c := &changes[i]
		return b.Append(c.Enterprise, c.From, c.To, at, c.Mean, c.Lo, c.Hi, c.Results, c.Hits, c.Reason)
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: recompute grades: %w", err)
	}
	return changes, nil
}

// GradeChanges streams the grade changes recorded at or after since, oldest first.
func (s *Store) GradeChanges(ctx context.Context, since time.Time, fn func(GradeChange) error) error {
	err := s.stream(ctx, "grade_changes", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, `SELECT enterprise, from_grade, to_grade, changed_at, posterior_mean,
 posterior_lo, posterior_hi, results, hits, reason FROM grade_changes FINAL
WHERE changed_at >= ? ORDER BY changed_at, enterprise`, ts(since))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c GradeChange
			if err := rows.Scan(&c.Enterprise, &c.From, &c.To, &c.At, &c.Mean, &c.Lo, &c.Hi, &c.Results, &c.Hits, &c.Reason); err != nil {
				return err
			}
			if err := fn(c); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: grade changes: %w", err)
	}
	return nil
}

// GradeSetter receives grades; *targeting.Engine satisfies it.
type GradeSetter interface {
	SetGrade(enterprise, grade string)
}

// ApplyGradeChanges hands every grade change since since to t in order and returns how many it
// applied and the time of the last (pass it as since next time; changes at that same second are
// applied again, harmlessly).
func (s *Store) ApplyGradeChanges(ctx context.Context, since time.Time, t GradeSetter) (int, time.Time, error) {
	n, last := 0, since
	err := s.GradeChanges(ctx, since, func(c GradeChange) error {
		t.SetGrade(c.Enterprise, c.To)
		n, last = n+1, c.At
		return nil
	})
	return n, last, err
}
