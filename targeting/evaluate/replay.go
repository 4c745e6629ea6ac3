package evaluate

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/portguard/portguard/targeting"
)

// ReplayOptions configure Replay. The zero value of a field means its default.
type ReplayOptions struct {
	// Config is the engine configuration; its TargetInspectRate is replaced by InspectRate.
	// Nil means targeting.DefaultConfig().
	Config *targeting.Config
	// InspectRate is the target share of consignments physically inspected. Default 0.10.
	InspectRate float64
	// WarmupDays is the length of the fully labelled start of the history. Default 60.
	WarmupDays int
	// FeedbackDelay is how long after its decision an inspected consignment's label reaches
	// the engine. Zero means at the end of the decision's week (Monday 00:00 UTC after it).
	FeedbackDelay time.Duration
	// RetrainEvery is how often a refit of the models on the labels revealed so far is
	// considered, as production does; it runs when Engine.RetrainDue says enough new labels
	// arrived. Default 7 days; negative never retrains after the warm-up.
	RetrainEvery time.Duration
	// Period is the length of the periods the report breaks results into. Default 7 days.
	Period time.Duration
	// Prepare, when not nil, is called with the new engine before the first decision: add
	// targeting rules to its rule book there.
	Prepare func(*targeting.Engine) error
	// OnDecision, when not nil, sees every decision after the warm-up and whether it sent the
	// consignment to inspection (and so will reveal its label).
	OnDecision func(r Row, d targeting.Decision, inspected bool)
}

// ReplayReport is the result of Replay, the JSON of `portguard replay` (issue 7). Counts and
// rates cover the rows after the warm-up.
type ReplayReport struct {
	InspectRateTarget float64 `json:"inspect_rate_target"`
	Declarations      int     `json:"declarations"`
	Inspected         int     `json:"inspected"`
	Hits              int     `json:"hits"`
	Precision         float64 `json:"precision"`
	Recall            float64 `json:"recall"`
	// RecallBase is the number of labelled hits after the warm-up: what recall divides by.
	RecallBase     int           `json:"recall_base"`
	InspectedShare float64       `json:"inspected_share"`
	Periods        []PeriodStats `json:"periods"`
	Last90Days     WindowStats   `json:"last_90_days"`
	// Revenue is the revenue of the hits found; RevenueBase that of every labelled hit. Both
	// are absent when no row carries revenue.
	Revenue     float64 `json:"revenue,omitempty"`
	RevenueBase float64 `json:"revenue_base,omitempty"`
	// Random is a pure random strategy at the same rate over the same rows, drawn by keyed hash
	// of the declaration number: the baseline the engine must beat.
	Random StrategyStats `json:"random"`

	WarmupDeclarations int `json:"warmup_declarations"`
	Retrains           int `json:"retrains"`
	// RetrainsSkipped counts periodic retrains not run because too few labels had arrived
	// since the last (targeting.Config.RetrainGrowth), as in production.
	RetrainsSkipped  int     `json:"retrains_skipped"`
	ModelVersion     string  `json:"model_version"`
	Seconds          float64 `json:"seconds"`
	DeclarationsPerS float64 `json:"declarations_per_s"`
	// CPUSeconds is the CPU time the process used meanwhile (all threads; 0 where it cannot be
	// read) and DeclarationsPerCPUS the throughput per second of it: on a shared machine the
	// wall-clock rate says as much about the neighbours as about the replay.
	CPUSeconds          float64 `json:"cpu_seconds,omitempty"`
	DeclarationsPerCPUS float64 `json:"declarations_per_cpu_s,omitempty"`
}

// PeriodStats are the results of one period of the replay.
type PeriodStats struct {
	Start        time.Time `json:"start"`
	Declarations int       `json:"declarations"`
	Inspected    int       `json:"inspected"`
	Hits         int       `json:"hits"`
	Precision    float64   `json:"precision"`
	Recall       float64   `json:"recall"`
	RecallBase   int       `json:"recall_base"`
	Revenue      float64   `json:"revenue,omitempty"`
}

// WindowStats summarize the last days of the replay.
type WindowStats struct {
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	InspectedShare float64 `json:"inspected_share"`
}

// StrategyStats are the results of a baseline strategy.
type StrategyStats struct {
	Inspected int     `json:"inspected"`
	Hits      int     `json:"hits"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	Revenue   float64 `json:"revenue,omitempty"`
}

// randomSalt keys the baseline's draws apart from every draw the engine makes.
const randomSalt = "evaluate.replay.random-baseline"

// pending is a label waiting for its feedback time.
type pending struct {
	at time.Time
	o  targeting.Outcome
	ex targeting.Labelled
}

// Replay runs the closed loop over labelled history: rows are decided one by one in date order
// by the engine's decision code; during the first WarmupDays every label is known (learnt
// online and used for the first fit); afterwards only the consignments the engine sent to
// physical inspection (RED) get their label back, FeedbackDelay after the decision, and the
// models learn from those labels online and are refitted every RetrainEvery with their
// propensities. The label of a consignment that was not inspected is never passed to the
// engine: it is read only to score the replay. "Inspected" is RED, physical inspection, which
// is what the target rate budgets; YELLOW (document review, Config.YellowShare) is a desk check
// outside that budget and reveals no label. progress, when not nil, is called every few
// thousand rows and at the end.
func Replay(ctx context.Context, rows []Row, opts ReplayOptions, progress func(done, total int)) (ReplayReport, error) {
	opts = opts.withDefaults()
	if len(rows) == 0 {
		return ReplayReport{}, errors.New("evaluate: no rows to replay")
	}
	cfg := targeting.DefaultConfig()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	cfg.TargetInspectRate = opts.InspectRate
	e, err := targeting.NewEngine(cfg)
	if err != nil {
		return ReplayReport{}, fmt.Errorf("evaluate: %w", err)
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(e); err != nil {
			return ReplayReport{}, fmt.Errorf("evaluate: prepare engine: %w", err)
		}
	}
	began, cpu0 := time.Now(), processCPU()
	rows = byTime(rows)
	warmEnd := rows[0].At.Add(time.Duration(opts.WarmupDays) * 24 * time.Hour)
	rep := ReplayReport{InspectRateTarget: opts.InspectRate}

	// Warm-up: every label is known at once.
	var known []targeting.Labelled
	i := 0
	for ; i < len(rows) && rows[i].At.Before(warmEnd); i++ {
		r := rows[i]
		d := e.Decide(r.Decl, r.At)
		o := outcome(r, d, r.At)
		o.Propensity = 1 // labelled whatever the decision: the history is fully known
		e.Learn(o)
		known = append(known, targeting.Labelled{Decl: r.Decl, Hit: r.Hit, Revenue: r.Revenue, Propensity: 1, At: r.At})
		report(progress, i, len(rows))
	}
	rep.WarmupDeclarations = i
	if err := fit(ctx, e, known); err != nil {
		return ReplayReport{}, err
	}
	if i == len(rows) {
		return ReplayReport{}, fmt.Errorf("evaluate: the %d-day warm-up covers all %d rows", opts.WarmupDays, len(rows))
	}

	start := rows[i].At
	nextFit := start.Add(opts.RetrainEvery)
	var queue []pending
	last90 := rows[len(rows)-1].At.Add(-90 * 24 * time.Hour)
	var w90 struct{ n, inspected, hits, base int }
	for ; i < len(rows); i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return ReplayReport{}, ctx.Err()
		}
		r := rows[i]
		// Feedback that has arrived by now, then the periodic refit.
		k := 0
		for ; k < len(queue) && !queue[k].at.After(r.At); k++ {
			e.Learn(queue[k].o)
			known = append(known, queue[k].ex)
		}
		queue = queue[k:]
		if opts.RetrainEvery > 0 && !r.At.Before(nextFit) {
			if e.RetrainDue(len(known)) {
				if err := fit(ctx, e, known); err != nil {
					return ReplayReport{}, err
				}
				rep.Retrains++
			} else {
				rep.RetrainsSkipped++
			}
			for !r.At.Before(nextFit) {
				nextFit = nextFit.Add(opts.RetrainEvery)
			}
		}

		d := e.Decide(r.Decl, r.At)
		inspected := d.Channel == targeting.Red
		if opts.OnDecision != nil {
			opts.OnDecision(r, d, inspected)
		}
		if inspected {
			back := opts.feedback(r.At)
			o := outcome(r, d, back)
			queue = append(queue, pending{at: back, o: o,
				ex: targeting.Labelled{Decl: r.Decl, Hit: r.Hit, Revenue: r.Revenue, Propensity: d.Propensity, At: r.At}})
		}

		// Scoring the replay: here, and only here, the label of every row is read.
		p := int(r.At.Sub(start) / opts.Period)
		for len(rep.Periods) <= p {
			rep.Periods = append(rep.Periods, PeriodStats{Start: start.Add(time.Duration(len(rep.Periods)) * opts.Period)})
		}
		ps := &rep.Periods[p]
		ps.Declarations++
		rep.Declarations++
		random := targeting.RandomDraw(cfg.RandomKey, randomSalt, r.Decl.Number) < opts.InspectRate
		if random {
			rep.Random.Inspected++
		}
		if inspected {
			ps.Inspected++
			rep.Inspected++
		}
		inWindow := r.At.After(last90)
		if inWindow {
			w90.n++
			if inspected {
				w90.inspected++
			}
		}
		if r.Hit {
			ps.RecallBase++
			rep.RecallBase++
			rep.RevenueBase += r.Revenue
			if inWindow {
				w90.base++
			}
			if inspected {
				ps.Hits++
				rep.Hits++
				ps.Revenue += r.Revenue
				rep.Revenue += r.Revenue
				if inWindow {
					w90.hits++
				}
			}
			if random {
				rep.Random.Hits++
				rep.Random.Revenue += r.Revenue
			}
		}
		report(progress, i, len(rows))
	}
	if progress != nil {
		progress(len(rows), len(rows))
	}

	for k := range rep.Periods {
		ps := &rep.Periods[k]
		ps.Precision, ps.Recall = ratio(ps.Hits, ps.Inspected), ratio(ps.Hits, ps.RecallBase)
	}
	rep.Precision, rep.Recall = ratio(rep.Hits, rep.Inspected), ratio(rep.Hits, rep.RecallBase)
	rep.InspectedShare = ratio(rep.Inspected, rep.Declarations)
	rep.Last90Days = WindowStats{Precision: ratio(w90.hits, w90.inspected), Recall: ratio(w90.hits, w90.base),
		InspectedShare: ratio(w90.inspected, w90.n)}
	rep.Random.Precision = ratio(rep.Random.Hits, rep.Random.Inspected)
	rep.Random.Recall = ratio(rep.Random.Hits, rep.RecallBase)
	rep.ModelVersion = e.ModelVersion()
	rep.Seconds = time.Since(began).Seconds()
	rep.DeclarationsPerS = float64(len(rows)) / math.Max(rep.Seconds, 1e-9)
	if cpu := processCPU() - cpu0; cpu0 > 0 && cpu > 0 {
		rep.CPUSeconds, rep.DeclarationsPerCPUS = cpu, float64(len(rows))/cpu
	}
	return rep, nil
}

func (o ReplayOptions) withDefaults() ReplayOptions {
	if o.InspectRate == 0 {
		o.InspectRate = 0.10
	}
	if o.WarmupDays == 0 {
		o.WarmupDays = 60
	}
	if o.RetrainEvery == 0 {
		o.RetrainEvery = 7 * 24 * time.Hour
	}
	if o.Period <= 0 {
		o.Period = 7 * 24 * time.Hour
	}
	return o
}

// feedback is when the label of a consignment decided at t reaches the engine.
func (o ReplayOptions) feedback(t time.Time) time.Time {
	if o.FeedbackDelay > 0 {
		return t.Add(o.FeedbackDelay)
	}
	day := t.UTC().Truncate(24 * time.Hour)
	// Days until the next Monday: Monday → 7, Tuesday → 6, …, Sunday → 1.
	return day.AddDate(0, 0, 7-(int(day.Weekday())+6)%7)
}

// outcome builds the label the engine learns from, as clearance would send it.
func outcome(r Row, d targeting.Decision, inspectedAt time.Time) targeting.Outcome {
	o := targeting.Outcome{
		DeclarationNo: d.DeclarationNo, Version: d.Version, Hit: r.Hit, Revenue: r.Revenue,
		Channel: d.Channel, Selection: d.Selection, Random: d.Random, Propensity: d.Propensity,
		ModelVersion: d.ModelVersion, Features: d.Features, ResultVersion: 1,
		DecidedAt: d.DecidedAt, InspectedAt: inspectedAt,
	}
	if o.DecidedAt.IsZero() {
		o.DecidedAt = r.At
	}
	if r.Hit {
		o.Severity = 1
	}
	for _, h := range d.RulesFired {
		o.RulesFired = append(o.RulesFired, h.ID)
	}
	return o
}

func fit(ctx context.Context, e *targeting.Engine, known []targeting.Labelled) error {
	err := e.Fit(ctx, known)
	if errors.Is(err, targeting.ErrTooFewExamples) {
		return nil // keep the current model until there is enough to learn from
	}
	if err != nil {
		return fmt.Errorf("evaluate: refit on %d labels: %w", len(known), err)
	}
	return nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func report(progress func(done, total int), i, total int) {
	if progress != nil && i > 0 && i%10000 == 0 {
		progress(i, total)
	}
}
