package analytics

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/portguard/portguard/ingest"
)

// Early warning 风险预警: a subject — an HS heading × origin, an enterprise, a declarant — whose
// recent window shows more hits (or more undervalued goods lines) than its own baseline, by a
// one-sided exact test, with the Benjamini–Hochberg procedure holding the false discovery rate
// across every cell tested in the run.

// Alert kinds and subject kinds.
const (
	AlertHitRate        = "hit_rate_rise"       // share of inspections that found something rose
	AlertUndervaluation = "undervaluation_rise" // share of goods lines priced far below their HS6 norm rose

	SubjectHS4Origin  = "hs4_origin" // "0303|VN"
	SubjectEnterprise = "enterprise"
	SubjectDeclarant  = "declarant"

	// SchemaAlertV1 is the schema of alert messages on Kafka.
	SchemaAlertV1 = "portguard.alert/v1"
)

// AlertOptions tune DetectAlerts. Zero values take the defaults shown.
type AlertOptions struct {
	At       time.Time     // end of the recent window; default now
	Window   time.Duration // recent window; default 14 days
	Baseline time.Duration // baseline period just before the window; default 180 days
	// FDR is the false discovery rate the Benjamini–Hochberg procedure holds; default 0.05.
	FDR float64
	// MinExposure is the least number of recent inspections (hits) or goods lines
	// (undervaluation) a cell needs to be tested; default 10.
	MinExposure uint64
	// MinBaseline is the least baseline exposure for a cell to be compared with its own
	// history; a cell with less is compared with the rate of all cells; default 30.
	MinBaseline uint64
	// UnderFactor marks a goods line undervalued when its value per kg is below UnderFactor ×
	// the median of its HS6 subheading over the baseline; default 0.5.
	UnderFactor float64
	// Kinds and Subjects restrict the tests; default all.
	Kinds    []string
	Subjects []string
}

func (o *AlertOptions) defaults() error {
	if o.At.IsZero() {
		o.At = time.Now()
	}
	if o.Window == 0 {
		o.Window = 14 * 24 * time.Hour
	}
	if o.Baseline == 0 {
		o.Baseline = 180 * 24 * time.Hour
	}
	if o.FDR == 0 {
		o.FDR = 0.05
	}
	if o.MinExposure == 0 {
		o.MinExposure = 10
	}
	if o.MinBaseline == 0 {
		o.MinBaseline = 30
	}
	if o.UnderFactor == 0 {
		o.UnderFactor = 0.5
	}
	if len(o.Kinds) == 0 {
		o.Kinds = []string{AlertHitRate, AlertUndervaluation}
	}
	if len(o.Subjects) == 0 {
		o.Subjects = []string{SubjectHS4Origin, SubjectEnterprise, SubjectDeclarant}
	}
	switch {
	case o.Window < 0 || o.Baseline < 0 || o.Window+o.Baseline > maxTrendSpan:
		return fmt.Errorf("%w: window and baseline must be positive and together within 3 years", ErrInvalid)
	case o.FDR <= 0 || o.FDR >= 1 || o.UnderFactor <= 0 || o.UnderFactor >= 1:
		return fmt.Errorf("%w: need 0 < FDR < 1 and 0 < UnderFactor < 1", ErrInvalid)
	}
	for _, k := range o.Kinds {
		if k != AlertHitRate && k != AlertUndervaluation {
			return fmt.Errorf("%w: alert kind %q", ErrInvalid, k)
		}
	}
	for _, k := range o.Subjects {
		if _, ok := hitSubjects[k]; !ok {
			return fmt.Errorf("%w: subject kind %q", ErrInvalid, k)
		}
	}
	return nil
}

// Alert is one early warning with its evidence.
type Alert struct {
	ID          string    `json:"id"` // stable: the same finding for the same window has the same ID
	Schema      string    `json:"schema"`
	Kind        string    `json:"kind"`
	SubjectKind string    `json:"subject_kind"`
	Subject     string    `json:"subject"`
	Port        string    `json:"port,omitempty"`
	DetectedAt  time.Time `json:"detected_at"`
	WindowFrom  time.Time `json:"window_from"`
	WindowTo    time.Time `json:"window_to"`
	Observed    float64   `json:"observed"` // recent rate
	Expected    float64   `json:"expected"` // baseline rate the recent one is tested against
	PValue      float64   `json:"p_value"`
	QValue      float64   `json:"q_value"` // Benjamini–Hochberg adjusted over Evidence.Tested cells
	State       string    `json:"state"`   // open, acknowledged, dismissed (AlertOpen …)
	Evidence    Evidence  `json:"evidence"`
	// Review is the latest analyst review (see ReviewAlert), nil while the alert is untouched.
	Review *AlertReview `json:"review,omitempty"`
}

// Evidence is what an alert rests on.
type Evidence struct {
	RecentN   uint64 `json:"recent_n"` // inspections (or goods lines) in the window
	RecentK   uint64 `json:"recent_k"` // hits (or undervalued lines) among them
	BaselineN uint64 `json:"baseline_n"`
	BaselineK uint64 `json:"baseline_k"`
	// Test names the test: "conditional binomial (own baseline)" or "binomial (all-cell baseline)".
	Test   string `json:"test"`
	Tested int    `json:"tested"` // cells tested in the run (the BH family)
	ZH     string `json:"zh"`
	EN     string `json:"en"`
}

// cell is one tested subject's counts.
type cell struct {
	kind, subjectKind, subject string
	n1, k1, n0, k0             uint64
}

// testCells computes each cell's one-sided p-value for a rate increase and the BH q-values
// across all of them, and returns the cells (as alerts) whose q-value is within fdr and whose
// recent rate is above the expected one. Cells whose baseline exposure is below minBaseline are
// tested against the pooled baseline rate of their kind and subject kind.
func testCells(cells []cell, fdr float64, minBaseline uint64) []Alert {
	type pool struct{ n, k uint64 }
	pools := map[[2]string]*pool{}
	for _, c := range cells {
		key := [2]string{c.kind, c.subjectKind}
		p := pools[key]
		if p == nil {
			p = &pool{}
			pools[key] = p
		}
		p.n, p.k = p.n+c.n0, p.k+c.k0
	}
	ps := make([]float64, len(cells))
	expected := make([]float64, len(cells))
	tests := make([]string, len(cells))
	for i, c := range cells {
		if c.n0 >= minBaseline {
			// Hits as Poisson counts with exposures n1 and n0: given the total, the recent
			// count is binomial with the recent share of exposure under "no change".
			total := c.k0 + c.k1
			share := float64(c.n1) / float64(c.n0+c.n1)
			ps[i] = binomialUpper(total, share, c.k1)
			expected[i] = float64(c.k0) / float64(c.n0)
			tests[i] = "conditional binomial (own baseline)"
			continue
		}
		p := pools[[2]string{c.kind, c.subjectKind}]
		rate := 0.0
		if p.n > 0 {
			rate = float64(p.k) / float64(p.n)
		}
		ps[i] = binomialUpper(c.n1, rate, c.k1)
		expected[i] = rate
		tests[i] = "binomial (all-cell baseline)"
	}
	qs := benjaminiHochberg(ps)
	var out []Alert
	for i, c := range cells {
		observed := float64(c.k1) / float64(max(c.n1, 1))
		if qs[i] > fdr || observed <= expected[i] {
			continue
		}
		out = append(out, Alert{Kind: c.kind, SubjectKind: c.subjectKind, Subject: c.subject,
			Observed: observed, Expected: expected[i], PValue: ps[i], QValue: qs[i], State: "open",
			Evidence: Evidence{RecentN: c.n1, RecentK: c.k1, BaselineN: c.n0, BaselineK: c.k0, Test: tests[i], Tested: len(cells)}})
	}
	return out
}

// binomialUpper is P(X ≥ k) for X ~ Binomial(n, p).
func binomialUpper(n uint64, p float64, k uint64) float64 {
	switch {
	case k == 0:
		return 1
	case k > n || p <= 0:
		return 0
	case p >= 1:
		return 1
	}
	return distuv.Binomial{N: float64(n), P: p}.Survival(float64(k) - 1)
}

var hitSubjects = map[string]string{
	SubjectHS4Origin:  "arrayJoin(if(empty(hs4), [''], hs4)) AS h, arrayJoin(if(empty(origins), [''], origins)) AS o, concat(h, '|', o)",
	SubjectEnterprise: "importer",
	SubjectDeclarant:  "declarant",
}

var underSubjects = map[string]string{
	SubjectHS4Origin:  "concat(hs4, '|', origin)",
	SubjectEnterprise: "importer",
	SubjectDeclarant:  "declarant",
}

// DetectAlerts tests every HS4 × origin, enterprise and declarant with enough recent exposure for
// a rise in hit rate (concluded inspections) and in the share of undervalued goods lines against
// its own baseline, controls the false discovery rate over all of them at once, and returns the
// alerts, most significant first. It does not store them (SaveAlerts does).
func (s *Store) DetectAlerts(ctx context.Context, o AlertOptions) ([]Alert, error) {
	if err := o.defaults(); err != nil {
		return nil, fmt.Errorf("analytics: detect alerts: %w", err)
	}
	if err := s.fresh(ctx); err != nil {
		return nil, fmt.Errorf("analytics: detect alerts: %w", err)
	}
	to := o.At
	mid := to.Add(-o.Window)
	from := mid.Add(-o.Baseline)
	var cells []cell
	for _, kind := range o.Kinds {
		for _, sk := range o.Subjects {
			var cs []cell
			var err error
			if kind == AlertHitRate {
				cs, err = s.hitCells(ctx, sk, from, mid, to, o.MinExposure)
			} else {
				cs, err = s.underCells(ctx, sk, from, mid, to, o)
			}
			if err != nil {
				return nil, fmt.Errorf("analytics: detect alerts: %s by %s: %w", kind, sk, err)
			}
			cells = append(cells, cs...)
		}
	}
	alerts := testCells(cells, o.FDR, o.MinBaseline)
	now := ts(time.Now()).Truncate(time.Second)
	for i := range alerts {
		a := &alerts[i]
		a.Schema, a.DetectedAt, a.WindowFrom, a.WindowTo = SchemaAlertV1, now, ts(mid), ts(to)
		sum := sha256.Sum256([]byte(a.Kind + "\x00" + a.SubjectKind + "\x00" + a.Subject + "\x00" + a.WindowTo.Format(time.RFC3339)))
		a.ID = hex.EncodeToString(sum[:12])
		what := map[string][2]string{AlertHitRate: {"查获率", "hit rate"}, AlertUndervaluation: {"低报货物比例", "share of undervalued goods lines"}}[a.Kind]
		a.Evidence.ZH = fmt.Sprintf("%s %s 近%d天%s %.1f%%（%d/%d），基线 %.1f%%（%d/%d），p=%.2g，q=%.2g",
			a.SubjectKind, a.Subject, int(o.Window.Hours()/24), what[0], 100*a.Observed, a.Evidence.RecentK, a.Evidence.RecentN,
			100*a.Expected, a.Evidence.BaselineK, a.Evidence.BaselineN, a.PValue, a.QValue)
		a.Evidence.EN = fmt.Sprintf("%s %s: %s over the last %d days %.1f%% (%d/%d) vs baseline %.1f%% (%d/%d), p=%.2g, q=%.2g",
			a.SubjectKind, a.Subject, what[1], int(o.Window.Hours()/24), 100*a.Observed, a.Evidence.RecentK, a.Evidence.RecentN,
			100*a.Expected, a.Evidence.BaselineK, a.Evidence.BaselineN, a.PValue, a.QValue)
	}
	sort.Slice(alerts, func(i, j int) bool {
		if alerts[i].PValue != alerts[j].PValue {
			return alerts[i].PValue < alerts[j].PValue
		}
		return alerts[i].ID < alerts[j].ID
	})
	return alerts, nil
}

func (s *Store) hitCells(ctx context.Context, sk string, from, mid, to time.Time, minExp uint64) ([]cell, error) {
	where, args := s.factsWhere(from, to)
	q := `SELECT subject, countIf(recent), countIf(recent AND hit = 1), countIf(NOT recent), countIf(NOT recent AND hit = 1)
FROM (SELECT ` + hitSubjects[sk] + ` AS subject, decided_at >= ? AS recent, hit FROM decision_facts
 WHERE ` + where + ` AND has_result = 1)
GROUP BY subject HAVING countIf(recent) >= ? ORDER BY subject`
	return s.cells(ctx, AlertHitRate, sk, q, append(append([]any{ts(mid)}, args...), minExp))
}

func (s *Store) underCells(ctx context.Context, sk string, from, mid, to time.Time, o AlertOptions) ([]cell, error) {
	declarant := ""
	if sk == SubjectDeclarant {
		declarant = ` ANY LEFT JOIN (SELECT declaration_no, version, declarant FROM declarations
 WHERE declared_at >= ? AND declared_at < ?) USING (declaration_no, version)`
	}
	q := `SELECT subject, countIf(recent), countIf(recent AND under), countIf(NOT recent), countIf(NOT recent AND under)
FROM (
 SELECT ` + underSubjects[sk] + ` AS subject, declared_at >= ? AS recent, value_base / net_weight_kg < ? * norm AS under
 FROM (
  SELECT declaration_no, version, declared_at, importer, hs4, origin, value_base, net_weight_kg, norm FROM (
   SELECT declaration_no, version, declared_at, importer, hs4, hs6, origin, value_base, net_weight_kg
   FROM declaration_items FINAL
   WHERE declared_at >= ? AND declared_at < ? AND net_weight_kg > 0 AND value_base > 0
  ) ANY INNER JOIN (
   SELECT hs6, quantileExact(0.5)(value_base / net_weight_kg) AS norm FROM declaration_items FINAL
   WHERE declared_at >= ? AND declared_at < ? AND net_weight_kg > 0 AND value_base > 0 GROUP BY hs6
  ) USING hs6
 )` + declarant + `
)
GROUP BY subject HAVING countIf(recent) >= ? ORDER BY subject`
	args := []any{ts(mid), o.UnderFactor, ts(from), ts(to), ts(from), ts(mid)}
	if declarant != "" {
		args = append(args, ts(from), ts(to))
	}
	return s.cells(ctx, AlertUndervaluation, sk, q, append(args, o.MinExposure))
}

func (s *Store) cells(ctx context.Context, kind, sk, q string, args []any) ([]cell, error) {
	var out []cell
	err := s.stream(ctx, "alert_cells", func(ctx context.Context) error {
		rows, err := s.conn.Query(s.limits(ctx), q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := cell{kind: kind, subjectKind: sk}
			if err := rows.Scan(&c.subject, &c.n1, &c.k1, &c.n0, &c.k0); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// SaveAlerts stores alerts; saving the same alert again (same ID) keeps the latest.
func (s *Store) SaveAlerts(ctx context.Context, as []Alert) error {
	err := s.insert(ctx, "save_alerts", `INSERT INTO alerts (id, kind, subject_kind, subject, port, detected_at,
 window_from, window_to, observed, expected, p_value, q_value, state, evidence)`, len(as), func(b driver.Batch, i int) error {
		a := &as[i]
		ev, err := json.Marshal(a.Evidence)
		if err != nil {
			return err
		}
		return b.Append(a.ID, a.Kind, a.SubjectKind, a.Subject, a.Port, ts(a.DetectedAt), ts(a.WindowFrom), ts(a.WindowTo),
			a.Observed, a.Expected, a.PValue, a.QValue, a.State, string(ev))
	})
	if err != nil {
		return fmt.Errorf("analytics: save alerts: %w", err)
	}
	return nil
}

// AlertFilter selects stored alerts: detected in [From, To) (zero: no bound), of a kind, subject
// kind, state (as reviews left it) and ID when set.
type AlertFilter struct {
	From, To    time.Time
	Kind        string
	SubjectKind string
	State       string // open, acknowledged or dismissed
	ID          string
	Limit       int // default and maximum Config.MaxRows
}

// Alerts returns stored alerts, latest detection first, each in the state its latest review
// left it (open when none).
func (s *Store) Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	switch f.State {
	case "", AlertOpen, AlertAcknowledged, AlertDismissed:
	default:
		return nil, fmt.Errorf("analytics: alerts: %w: state %q (allowed: open, acknowledged, dismissed)", ErrInvalid, f.State)
	}
	where := "1"
	var args []any
	if !f.From.IsZero() {
		where += " AND detected_at >= ?"
		args = append(args, ts(f.From))
	}
	if !f.To.IsZero() {
		where += " AND detected_at < ?"
		args = append(args, ts(f.To))
	}
	for _, c := range []struct{ col, v string }{{"kind", f.Kind}, {"subject_kind", f.SubjectKind}, {"id", f.ID}} {
		if c.v != "" {
			where += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	events := ""
	if f.ID != "" {
		events = " WHERE alert_id = ?"
		args = append(args, f.ID)
	}
	outer := "1"
	if f.State != "" {
		outer = "cur_state = ?"
		args = append(args, f.State)
	}
	var out []Alert
	err := s.do(ctx, "alerts", func(ctx context.Context) error {
		// The latest review event of each alert, if any, gives its state (one JOIN: 18.16).
		rows, err := s.conn.Query(s.limits(ctx), `SELECT id, kind, subject_kind, subject, port, detected_at, window_from,
 window_to, observed, expected, p_value, q_value, if(ev_state != '', ev_state, state) AS cur_state, evidence,
 ev_action, ev_actor, ev_at, ev_comment
FROM (SELECT id, kind, subject_kind, subject, port, detected_at, window_from, window_to, observed, expected,
  p_value, q_value, state, evidence FROM alerts FINAL WHERE `+where+`)
ANY LEFT JOIN (
 SELECT alert_id AS id, argMax(state, at_ns) AS ev_state, argMax(action, at_ns) AS ev_action,
  argMax(actor, at_ns) AS ev_actor, argMax(at, at_ns) AS ev_at, argMax(comment, at_ns) AS ev_comment
 FROM alert_events`+events+` GROUP BY alert_id
) USING id
WHERE `+outer+`
ORDER BY detected_at DESC, p_value, id LIMIT ?`, append(args, s.limit(f.Limit))...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a := Alert{Schema: SchemaAlertV1}
			var ev string
			var r AlertReview
			if err := rows.Scan(&a.ID, &a.Kind, &a.SubjectKind, &a.Subject, &a.Port, &a.DetectedAt, &a.WindowFrom,
				&a.WindowTo, &a.Observed, &a.Expected, &a.PValue, &a.QValue, &a.State, &ev,
				&r.Action, &r.By, &r.At, &r.Comment); err != nil {
				return err
			}
			_ = json.Unmarshal([]byte(ev), &a.Evidence) // evidence we wrote ourselves; a bad one stays empty
			if r.Action != "" {
				a.Review = &r
			}
			out = append(out, a)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: alerts: %w", err)
	}
	return out, nil
}

// Publisher sends messages to Kafka; *ingest.Producer satisfies it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...ingest.Message) error
}

// PublishAlerts publishes alerts to topic, keyed by alert ID (a republished alert lands on the
// same partition and consumers can deduplicate by ID).
func PublishAlerts(ctx context.Context, p Publisher, topic string, as []Alert) error {
	if topic == "" {
		return fmt.Errorf("analytics: publish alerts: %w: topic is required", ErrInvalid)
	}
	msgs := make([]ingest.Message, len(as))
	for i := range as {
		a := as[i]
		a.Schema = SchemaAlertV1
		msgs[i] = ingest.Message{Topic: topic, Key: a.ID, Value: a}
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := p.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("analytics: publish alerts: %w", err)
	}
	return nil
}
