package targeting

import (
	"math"
	"sync"

	"github.com/portguard/portguard/ingest"
)

// Candidate is a model trained by Engine.Train and not yet deciding: it can be scored in
// shadow beside the champion (Engine.Shadow) and promoted, or installed at once
// (Engine.Install).
type Candidate struct {
	// Report is what training measured.
	Report FitReport

	m        *model
	prof     *profiles // profiles rebuilt from the examples; only Fit installs them
	norms    *norms
	primers  map[string]*primer // per port: honest scores of recent examples, oldest first
	now      int64
	examples int
}

// Version is the candidate's model version.
func (c *Candidate) Version() string { return c.m.version }

func (c *Candidate) report() FitReport {
	if c == nil {
		return FitReport{}
	}
	return c.Report
}

// primer is what a controller is primed with after a model swap.
type primer struct {
	scores, weights []float64
	times           []int64
	n               float64
}

// objective turns a probability into the score the engine ranks by.
func objective(cfg *Config, m *model, p, sev, value float64, hs2 string) float64 {
	switch cfg.Objective {
	case ObjectiveSeverity:
		return p * sev
	case ObjectiveRevenue:
		return p * sev * max(value, 1) * m.revenueRate(hs2)
	}
	return p
}

// revenueRates learns, from the hits among the examples, the revenue recovered per unit of
// declared value, overall and per HS chapter (shrunk toward the overall rate by 10 hits' worth
// of value): the revenue objective then ranks by expected revenue, P(hit) × value × rate,
// instead of by value alone. Without revenue labels it returns 0 and nil, and the revenue
// objective falls back to the declared value.
func revenueRates(ex []Labelled, ipw func(float64) float64) (float64, map[string]float64) {
	type sum struct{ rev, val, n float64 }
	var all sum
	by := map[string]*sum{}
	for i := range ex {
		x := &ex[i]
		if !x.Hit || !(x.Revenue > 0) {
			continue
		}
		var v float64
		for _, it := range x.Decl.Items {
			v += it.ValueBase
		}
		if !(v > 0) {
			continue
		}
		w := ipw(x.Propensity)
		hs2 := ""
		if len(x.Decl.Items) > 0 {
			hs2 = prefix(x.Decl.Items[0].HSCode, 2)
		}
		s := by[hs2]
		if s == nil {
			s = &sum{}
			by[hs2] = s
		}
		s.rev, s.val, s.n = s.rev+w*x.Revenue, s.val+w*v, s.n+w
		all.rev, all.val, all.n = all.rev+w*x.Revenue, all.val+w*v, all.n+w
	}
	if all.val == 0 {
		return 0, nil
	}
	rAll := all.rev / all.val
	prior := 10 * all.val / all.n
	rates := make(map[string]float64, len(by))
	for h, s := range by {
		rates[h] = (s.rev + rAll*prior) / (s.val + prior)
	}
	return rAll, rates
}

// revenueRate is the learnt revenue per unit of declared value for an HS chapter, 1 when the
// model learnt none.
func (m *model) revenueRate(hs2 string) float64 {
	if m.revAll == 0 {
		return 1
	}
	if r, ok := m.revRate[hs2]; ok {
		return r
	}
	return m.revAll
}

// install makes c the champion. With profiles, the candidate's rebuilt profiles and norms
// replace the live ones (Fit: the examples are the whole truth); without, the live profiles,
// which learnt every label online, stay and only the model changes (Install, promotion). The
// controllers are primed with the candidate's honest scores.
func (e *Engine) install(c *Candidate, profiles bool) {
	cfg := &e.cfg
	e.ctrlMu.Lock()
	cur := e.state.Load()
	st := &state{prof: cur.prof, norms: cur.norms, model: c.m, labels: cur.labels}
	if profiles {
		st = &state{prof: c.prof, norms: c.norms, model: c.m, labels: newLabelMemory(cfg.RememberLabels)}
	}
	e.state.Store(st)
	for port, pr := range c.primers {
		ctl := e.ctrls[port]
		if ctl == nil {
			ctl = newController(cfg.ControllerHalfLife, cfg.ControllerHalfTime, cfg.VolumeHalfTime)
			e.ctrls[port] = ctl
		}
		ctl.prime(pr.scores, pr.weights, pr.times, e.targetRate(port, ctl), cfg.ExploreShare, cfg.randomRate(port, ""), cfg.YellowShare)
	}
	e.publishCtrls()
	e.ctrlMu.Unlock()
	e.advance(c.now)
	e.lastFit.Store(int64(c.examples))
	c.prof, c.norms = nil, nil
}

// Install makes a trained candidate the champion at once, keeping the live profiles: for the
// first model after the prior, which has nothing to be compared with. Decisions in flight
// finish on the model they started with.
func (e *Engine) Install(c *Candidate) {
	e.install(c, false)
	if sh := e.shadow.Load(); sh != nil && sh.c == c {
		e.shadow.Store(nil)
	}
}

// shadowModel is a challenger scored beside the champion without acting: its own capacity
// controllers tell which consignments it would have sent to RED at the target rate.
type shadowModel struct {
	c     *Candidate
	ctrls sync.Map // port → *controller
	mu    sync.Mutex
}

func (s *shadowModel) controller(e *Engine, port string) *controller {
	if v, ok := s.ctrls.Load(port); ok {
		return v.(*controller)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.ctrls.Load(port); ok {
		return v.(*controller)
	}
	c := newController(e.cfg.ControllerHalfLife, e.cfg.ControllerHalfTime, e.cfg.VolumeHalfTime)
	s.ctrls.Store(port, c)
	return c
}

// Shadow scores candidate c beside the champion from now on: each decision carries the
// challenger's score and whether it would have selected the consignment (Decision.Shadow), but
// nothing it says is acted on. Nil stops shadowing. The candidate's own profiles are dropped:
// in shadow and after promotion it reads the live ones.
func (e *Engine) Shadow(c *Candidate) {
	if c == nil {
		e.shadow.Store(nil)
		return
	}
	cfg := &e.cfg
	sh := &shadowModel{c: c}
	for port, pr := range c.primers {
		ctl := newController(cfg.ControllerHalfLife, cfg.ControllerHalfTime, cfg.VolumeHalfTime)
		ctl.prime(pr.scores, pr.weights, pr.times, e.TargetRate(port), cfg.ExploreShare, cfg.randomRate(port, ""), cfg.YellowShare)
		sh.ctrls.Store(port, ctl)
	}
	c.prof, c.norms = nil, nil
	e.shadow.Store(sh)
}

// ShadowVersion is the model version in shadow, "" when none.
func (e *Engine) ShadowVersion() string {
	if sh := e.shadow.Load(); sh != nil {
		return sh.c.m.version
	}
	return ""
}

// Promote makes the challenger in shadow the champion, atomically: decisions in flight finish
// with the model they started with, the next ones use the challenger, with the capacity
// controllers that tracked its scores in shadow. It returns the promoted version, or false
// when nothing is in shadow.
func (e *Engine) Promote() (string, bool) {
	sh := e.shadow.Swap(nil)
	if sh == nil {
		return "", false
	}
	e.ctrlMu.Lock()
	cur := e.state.Load()
	e.state.Store(&state{prof: cur.prof, norms: cur.norms, model: sh.c.m, labels: cur.labels})
	sh.ctrls.Range(func(k, v any) bool {
		e.ctrls[k.(string)] = v.(*controller)
		return true
	})
	e.publishCtrls()
	e.ctrlMu.Unlock()
	e.lastFit.Store(int64(sh.c.examples))
	return sh.c.m.version, true
}

// Shadow is a challenger's view of one decision, recorded while it is in shadow and never acted
// on: what it scored and whether, at the target rate, it would have sent the consignment to
// physical inspection — and whether the champion's model did (whatever else selected it).
type Shadow struct {
	ModelVersion     string  `json:"model_version"`
	Score            float64 `json:"score"`
	Probability      float64 `json:"probability"`
	Selected         bool    `json:"selected"`
	ChampionSelected bool    `json:"champion_selected"`
}

// shadowDecide scores the challenger for d; sc.x holds the champion's input for m.
func (e *Engine) shadowDecide(sh *shadowModel, st *state, d *ingest.Declaration, imp, cp string, nowU int64, m *model, sc *scratch, otherInspected, championRed bool, uR float64) *Shadow {
	cm := sh.c.m
	x := sc.x[:m.width()]
	ec := encoded{}
	if !sameColumns(cm, m) {
		ec = e.encode(st.prof, st.norms, false, d, imp, cp, nowU, cm, sc)
		x = sc.x[:cm.width()]
	} else {
		ec = sc.lastEnc
	}
	p := cm.comb.Predict(x)
	s := objective(&e.cfg, cm, p, ec.sev, ec.totalValue, ec.hs2)
	tb := uR * (1 << 20)
	ts := tieBreak(s, tb-math.Floor(tb))
	ctl := sh.controller(e, d.Port)
	red, _ := ctl.thresholds()
	cfg := &e.cfg
	ctl.observe(ts, nowU, otherInspected && ts < red, e.TargetRate(d.Port), cfg.ExploreShare, cfg.randomRate(d.Port, ""), cfg.YellowShare)
	return &Shadow{ModelVersion: cm.version, Score: s, Probability: p, Selected: ts >= red, ChampionSelected: championRed}
}

func sameColumns(a, b *model) bool {
	if len(a.attrs) != len(b.attrs) || len(a.measures) != len(b.measures) {
		return false
	}
	for i := range a.attrs {
		if a.attrs[i] != b.attrs[i] {
			return false
		}
	}
	for i := range a.measures {
		if a.measures[i] != b.measures[i] {
			return false
		}
	}
	return true
}

// ShadowTally accumulates the off-policy comparison of a challenger with the champion on the
// labels of decisions made while it was in shadow. Each label weighs 1/propensity (bounded),
// so that the consignments the champion did not choose — inspected only by random control
// and exploration — count for all those like them that were not inspected: the weighted hit
// rate among those a model selected estimates its precision at the target rate as if it had
// been deciding (inverse-propensity weighting).
type ShadowTally struct {
	ModelVersion string `json:"model_version"`
	// Labels counts the labels joined with a shadow decision.
	Labels int `json:"labels"`
	// ChampionN and ChallengerN count the labelled consignments each model selected.
	ChampionN, ChallengerN int
	// ChampionPrecision and ChallengerPrecision are the weighted precisions (Precision).
	ChampionPrecision, ChallengerPrecision float64
	// Verdict is "promoted" or "rejected" once judged, "" while in shadow.
	Verdict          string `json:"verdict,omitempty"`
	champW, champHit float64
	chalW, chalHit   float64
}

// Add records one label of a decision made in shadow.
func (t *ShadowTally) Add(s *Shadow, hit bool, propensity, minPropensity float64) {
	if s == nil || s.ModelVersion != t.ModelVersion {
		return
	}
	w := 1 / max(propensity, minPropensity)
	if !(propensity > 0) || propensity > 1 {
		w = 1
	}
	h := 0.0
	if hit {
		h = w
	}
	t.Labels++
	if s.ChampionSelected {
		t.ChampionN++
		t.champW, t.champHit = t.champW+w, t.champHit+h
	}
	if s.Selected {
		t.ChallengerN++
		t.chalW, t.chalHit = t.chalW+w, t.chalHit+h
	}
	t.ChampionPrecision, t.ChallengerPrecision = t.Precision()
}

// Precision returns the inverse-propensity-weighted precision at the target rate of the
// champion and of the challenger (0 without labels).
func (t *ShadowTally) Precision() (champion, challenger float64) {
	if t.champW > 0 {
		champion = t.champHit / t.champW
	}
	if t.chalW > 0 {
		challenger = t.chalHit / t.chalW
	}
	return champion, challenger
}
