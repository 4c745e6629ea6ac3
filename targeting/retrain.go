package targeting

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// LabelledHistory reads labelled declarations for periodic retraining. Analytics implements it
// over ClickHouse.
type LabelledHistory interface {
	// Labelled calls fn for every inspected declaration decided at or after since that has a
	// result, oldest first (by decision time), with: Decl the declaration as decided (its items,
	// parties, countries, attributes and measures — what Decide was given), Hit the latest result
	// version's verdict, Revenue the duty or value recovered (0 if none), Propensity the one the
	// decision recorded (1 for history that was fully labelled), At the decision time. It
	// returns ctx.Err() if cancelled and a wrapped error if the store cannot be read.
	Labelled(ctx context.Context, since time.Time, fn func(Labelled) error) error
}

// Retrain outcomes, as RetrainReport.Action and the retrains metric's label.
const (
	RetrainInstalled = "installed" // first learnt model, in use at once (the champion was the prior)
	RetrainShadowed  = "shadowed"  // a challenger was trained and is scored in shadow
	RetrainWaiting   = "waiting"   // a challenger is still in shadow, collecting labels
	RetrainSkipped   = "skipped"   // too few new labels since the last fit
	RetrainExpired   = "expired"   // a challenger got too few labels in ShadowMaxAge and was dropped
)

// RetrainReport says what one Retrain did.
type RetrainReport struct {
	Action string     `json:"action"`
	Labels int        `json:"labels"` // labelled declarations read
	Fit    *FitReport `json:"fit,omitempty"`
}

// lifecycle is the service's champion/challenger bookkeeping.
type lifecycle struct {
	mu      sync.Mutex
	tally   ShadowTally
	since   time.Time // when the challenger went into shadow
	decided bool      // the tally reached MinShadowLabels and the challenger was judged
	running sync.Mutex
}

// Retrain runs one step of the model lifecycle: with a challenger in shadow it waits for its
// labels (and drops it after ShadowMaxAge); otherwise it reads RetrainWindow of labelled
// history and, when Engine.RetrainDue, trains a new model — installed at once if the champion
// is still the prior, else put in shadow, to be promoted by the labels of the decisions it
// shadows (see Feedback). Concurrent calls run one at a time.
func (s *Service) Retrain(ctx context.Context) (RetrainReport, error) {
	if s.d.Labelled == nil {
		return RetrainReport{}, errors.New("targeting: retrain needs ServiceDeps.Labelled")
	}
	s.lc.running.Lock()
	defer s.lc.running.Unlock()
	now := s.d.Now()
	if v := s.e.ShadowVersion(); v != "" {
		s.lc.mu.Lock()
		age := now.Sub(s.lc.since)
		s.lc.mu.Unlock()
		if age < s.d.ShadowMaxAge {
			s.m.retrains.WithLabelValues(RetrainWaiting).Inc()
			return RetrainReport{Action: RetrainWaiting}, nil
		}
		s.e.Shadow(nil)
		s.m.retrains.WithLabelValues(RetrainExpired).Inc()
		s.log.Warn("challenger dropped: too few labels in shadow", "model", v, "age", age.Round(time.Minute))
	}
	var ex []Labelled
	start := time.Now()
	err := s.d.Labelled.Labelled(ctx, now.Add(-s.d.RetrainWindow), func(l Labelled) error {
		ex = append(ex, l)
		return ctx.Err()
	})
	if err != nil {
		s.m.retrains.WithLabelValues("failed").Inc()
		return RetrainReport{Labels: len(ex)}, fmt.Errorf("targeting: retrain: read labelled history: %w", err)
	}
	rep := RetrainReport{Labels: len(ex)}
	prior := s.e.state.Load().model.version == priorVersion
	if !prior && !s.e.RetrainDue(len(ex)) {
		rep.Action = RetrainSkipped
		s.m.retrains.WithLabelValues(RetrainSkipped).Inc()
		return rep, nil
	}
	c, err := s.e.Train(ctx, ex)
	if errors.Is(err, ErrTooFewExamples) {
		rep.Action = RetrainSkipped
		s.m.retrains.WithLabelValues(RetrainSkipped).Inc()
		return rep, nil
	}
	if err != nil {
		s.m.retrains.WithLabelValues("failed").Inc()
		return rep, err
	}
	rep.Fit = &c.Report
	if prior {
		s.e.Install(c)
		rep.Action = RetrainInstalled
		s.log.Info("first model installed", "model", c.Version(), "labels", len(ex), "elapsed", time.Since(start).Round(time.Millisecond))
	} else {
		s.lc.mu.Lock()
		s.lc.tally = ShadowTally{ModelVersion: c.Version()}
		s.lc.since, s.lc.decided = now, false
		s.lc.mu.Unlock()
		s.e.Shadow(c)
		rep.Action = RetrainShadowed
		s.log.Info("challenger in shadow", "model", c.Version(), "champion", s.e.ModelVersion(), "labels", len(ex),
			"elapsed", time.Since(start).Round(time.Millisecond))
	}
	s.m.retrains.WithLabelValues(rep.Action).Inc()
	return rep, nil
}

// RunRetrainer calls Retrain every RetrainEvery until ctx ends, logging failures (the service
// keeps deciding with the models it has).
func (s *Service) RunRetrainer(ctx context.Context) {
	if s.d.Labelled == nil || s.d.RetrainEvery <= 0 {
		return
	}
	t := time.NewTicker(s.d.RetrainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Retrain(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("retrain failed; keeping the current models", "err", err)
			}
		}
	}
}

// shadowLabel joins a label with the shadow record of its decision and, once MinShadowLabels
// have arrived, judges the challenger: promoted when its inverse-propensity-weighted precision
// at the target rate beats the champion's by PromoteMargin, dropped otherwise.
func (s *Service) shadowLabel(sh *Shadow, hit bool, propensity float64) {
	if sh == nil || sh.ModelVersion != s.e.ShadowVersion() {
		return
	}
	s.lc.mu.Lock()
	t := &s.lc.tally
	if t.ModelVersion != sh.ModelVersion || s.lc.decided {
		s.lc.mu.Unlock()
		return
	}
	t.Add(sh, hit, propensity, s.e.cfg.MinPropensity)
	champ, chal := t.Precision()
	s.m.shadowPrecision.WithLabelValues("champion").Set(champ)
	s.m.shadowPrecision.WithLabelValues("challenger").Set(chal)
	judge := t.Labels >= s.d.MinShadowLabels
	if judge {
		s.lc.decided = true
	}
	tally := *t
	s.lc.mu.Unlock()
	if !judge {
		return
	}
	if chal > champ+s.d.PromoteMargin && tally.ChallengerN > 0 {
		s.setVerdict("promoted")
		old := s.e.ModelVersion()
		if v, ok := s.e.Promote(); ok {
			s.m.retrains.WithLabelValues("promoted").Inc()
			s.log.Info("challenger promoted", "model", v, "replaces", old, "labels", tally.Labels,
				"ipw_precision", chal, "champion_ipw_precision", champ)
		}
		return
	}
	s.setVerdict("rejected")
	s.e.Shadow(nil)
	s.m.retrains.WithLabelValues("rejected").Inc()
	s.log.Info("challenger rejected", "model", tally.ModelVersion, "labels", tally.Labels,
		"ipw_precision", chal, "champion_ipw_precision", champ)
}

func (s *Service) setVerdict(v string) {
	s.lc.mu.Lock()
	s.lc.tally.Verdict = v
	s.lc.mu.Unlock()
}

// ShadowTally returns the comparison of the challenger in shadow with the champion, or of the
// last judged one (see ShadowTally.Verdict); zero before any.
func (s *Service) ShadowTally() ShadowTally {
	s.lc.mu.Lock()
	defer s.lc.mu.Unlock()
	return s.lc.tally
}
