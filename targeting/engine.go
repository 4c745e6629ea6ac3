package targeting

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Engine decides. It holds everything in memory — active rules, risk profiles, unit-value norms,
// the combiner and the per-port capacity controllers — and does no I/O, so the service, replay
// and evaluate all run this exact code. All methods are safe for concurrent use.
type Engine struct {
	cfg     Config
	state   atomic.Pointer[state]
	rules   atomic.Pointer[ruleIndex]
	book    *RuleBook
	grades  grades
	clock   atomic.Int64 // latest decision or label time seen, unix seconds
	seq     atomic.Int64 // model version counter
	lastFit atomic.Int64 // examples given to the last Fit; 0 before any
	shadow  atomic.Pointer[shadowModel]
	sevLens []int // distinct prefix lengths of cfg.SeverityWeights, longest first

	ctrlMu sync.Mutex
	ctrls  map[string]*controller // under ctrlMu
	// ctrlView is a copy of ctrls for lock-free reads on the decision path (a shared read
	// lock would bounce its cache line between cores on every decision).
	ctrlView atomic.Pointer[map[string]*controller]

	pool sync.Pool
}

// priorVersion is the version of the model an engine starts with, before any Fit.
const priorVersion = "v0-prior"

// state is everything Fit replaces at once.
type state struct {
	prof   *profiles
	norms  *norms
	model  *model
	labels *labelMemory
}

// NewEngine validates cfg and returns an engine with no rules, empty profiles and the prior
// combiner (model version "v0-prior").
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.RandomKey = slices.Clone(cfg.RandomKey)
	e := &Engine{cfg: cfg, ctrls: map[string]*controller{}}
	e.grades.init()
	for p := range cfg.SeverityWeights {
		if !slices.Contains(e.sevLens, len(p)) {
			e.sevLens = append(e.sevLens, len(p))
		}
	}
	slices.Sort(e.sevLens)
	slices.Reverse(e.sevLens)
	e.state.Store(e.newState(&model{version: priorVersion, comb: priorCombiner()}))
	e.rules.Store(buildIndex(nil))
	e.book = newRuleBook(e)
	e.pool.New = func() any { return &scratch{draw: newDrawer(e.cfg.RandomKey)} }
	return e, nil
}

func (e *Engine) newState(m *model) *state {
	return &state{
		prof:   newProfiles(e.cfg.HalfLife.Seconds()),
		norms:  newNorms(),
		model:  m,
		labels: newLabelMemory(e.cfg.RememberLabels),
	}
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }

// Rules returns the rule book whose active rules the engine matches.
func (e *Engine) Rules() *RuleBook { return e.book }

// ModelVersion returns the version of the combiner in use.
func (e *Engine) ModelVersion() string { return e.state.Load().model.version }

// RetrainDue reports whether a periodic retrain on labelled history of the given size is worth
// a Fit: always before the first, afterwards once the history has grown by
// Config.RetrainGrowth since the last.
func (e *Engine) RetrainDue(labelled int) bool {
	last := e.lastFit.Load()
	return last == 0 || float64(labelled) >= float64(last)*(1+e.cfg.RetrainGrowth)
}

// SetGrade records an enterprise's grade (e.g. "advanced", "general", "dishonest", or the
// analytics grades "green" … "black"); it multiplies the random rate and is visible to rules as
// importer_grade. An empty grade forgets it.
func (e *Engine) SetGrade(enterprise, grade string) { e.grades.set(enterprise, grade) }

// Grade returns an enterprise's grade, "" when unknown.
func (e *Engine) Grade(enterprise string) string { return e.grades.get(enterprise) }

// scratch is per-call working memory, pooled so the hot path does not allocate it.
type scratch struct {
	x, contrib [maxX]float64
	mean, n    [maxX]float64 // posterior mean and evidence behind each profile slot
	val        [maxX]string  // the value behind each profile slot
	val2       [maxX]string  // second part of a cross value
	ratios     []float64
	match      matcher
	matched    []*compiledRule
	txt        text
	reasons    []reasonRef
	feats      []featureRef
	draw       *drawer
	lastEnc    encoded  // what the champion's encode returned, for the shadow
	hks        []uint64 // encode's profile key hashes
}

// headerKeys and itemKeys are how many profile keys encode reads for the header and for each
// goods item.
const headerKeys, itemKeys = 9, 6

// Decide targets one declaration at time now. It never fails: with no rules and no labels it
// still applies random control and the prior model.
func (e *Engine) Decide(d *ingest.Declaration, now time.Time) Decision {
	sc := e.pool.Get().(*scratch)
	defer e.pool.Put(sc)
	st := e.state.Load()
	m := st.model
	cfg := &e.cfg
	nowU := now.Unix()
	e.advance(nowU)

	imp := importerOf(d).Key()
	cp := counterpartOf(d).Key()
	grade := e.grades.get(imp)
	dec := Decision{
		Schema:        SchemaDecisionV1,
		DeclarationNo: d.Number,
		Version:       d.Version,
		Port:          d.Port,
		Importer:      imp,
		ModelVersion:  m.version,
		DecidedAt:     now,
	}

	ec := e.encode(st.prof, st.norms, true, d, imp, cp, nowU, m, sc)
	sc.lastEnc = ec
	x := sc.x[:m.width()]
	p0, ratios := ec.p0, ec.ratios
	me := cfg.EntityPriorStrength
	p := m.comb.Predict(x)
	dec.Probability = p
	dec.Score = objective(cfg, m, p, ec.sev, ec.totalValue, ec.hs2)

	// Rules.
	in := ruleInput{d: d, grade: grade, ratios: ratios}
	sc.matched = e.rules.Load().match(&in, now, &sc.match, sc.matched[:0])
	ruleNot := 1.0 // probability that no matching rule selects
	var best *compiledRule
	if len(sc.matched) > 0 {
		dec.RulesFired = make([]RuleHit, len(sc.matched))
	}
	txt := &sc.txt
	txt.reset()
	sc.reasons = sc.reasons[:0]
	for i, c := range sc.matched {
		pct := c.r.Percent / 100
		sel := pct >= 1 || sc.draw.draw(c.r.ID, d.Number) < pct
		dec.RulesFired[i] = RuleHit{ID: c.r.ID, Version: c.r.Version, Title: c.r.Title, Action: c.r.Action, Selected: sel}
		if c.stats != nil {
			c.stats.matches.Add(1)
			c.stats.lastMatch.Store(nowU)
			if sel {
				c.stats.selected.Add(1)
			}
		}
		if c.inspect {
			ruleNot *= 1 - pct
		}
		if sel && (best == nil || c.rank > best.rank || (c.rank == best.rank && c.r.Priority > best.r.Priority)) {
			best = c
		}
		sc.reasons = append(sc.reasons, txt.ruleReason(c.r, sel))
	}

	// Random control and exploration, each from its own keyed draw.
	uR := sc.draw.draw(saltRandom, d.Number)
	rate := cfg.randomRate(d.Port, grade)
	dec.Random = uR < rate
	ctrl := e.controller(d.Port)
	target := e.targetRate(d.Port, ctrl)
	uncertain := me / (me + max(ec.impEvidence, 0))
	eRate := min(target*cfg.ExploreShare*(0.5+1.5*uncertain), 1)
	explore := sc.draw.draw(saltExplore, d.Number) < eRate

	// Capacity: the model selects what scores above the port's current thresholds.
	redT, yellowT := ctrl.thresholds()
	tb := uR * (1 << 20)
	ts := tieBreak(dec.Score, tb-math.Floor(tb))
	modelRed := ts >= redT
	modelYellow := !modelRed && ts >= yellowT
	ruleInspects := best != nil && best.inspect
	ctrl.observe(ts, nowU, !modelRed && (ruleInspects || dec.Random || explore), target, cfg.ExploreShare, rate, cfg.YellowShare)

	// The most severe ground wins; ties go to the earlier source (rule, model, random, explore).
	dec.Channel, dec.Action, dec.Selection = Green, ActionRelease, NotSelected
	consider := func(a Action, s Selection) {
		if actionRank(a) > actionRank(dec.Action) {
			dec.Channel, dec.Action, dec.Selection = channelOf(a), a, s
		}
	}
	if best != nil {
		consider(best.r.Action, SelectedByRule)
	}
	if modelRed {
		consider(ActionPhysical, SelectedByModel)
	}
	if dec.Random {
		consider(ActionPhysical, SelectedByRandom)
	}
	if explore {
		consider(ActionPhysical, SelectedByExplore)
	}
	if modelYellow {
		consider(ActionDocuments, SelectedByModel)
	}
	modelSel := 0.0
	if modelRed || modelYellow {
		modelSel = 1
	}
	dec.Propensity = 1 - ruleNot*(1-modelSel)*(1-rate)*(1-eRate)

	// Reasons: rules (above), random, exploration, then the model's top contributions.
	if dec.Random {
		sc.reasons = append(sc.reasons, txt.randomReason(rate))
	}
	if explore && dec.Selection == SelectedByExplore {
		sc.reasons = append(sc.reasons, reasonExplore)
	}
	nRule := len(sc.reasons)
	e.modelReasons(sc, m, x, p0, ec.underRatio, -ec.under, ec.overRatio, ec.over, d.Check.WeightDeviation)
	if len(sc.reasons) == nRule && (modelRed || modelYellow) {
		sc.reasons = append(sc.reasons, reasonModel)
	}
	if len(sc.reasons) == 0 {
		sc.reasons = append(sc.reasons, reasonLowRisk)
	}

	// The challenger in shadow, if any, scores last: it may re-encode into the scratch.
	var shadow *Shadow
	if sh := e.shadow.Load(); sh != nil {
		shadow = e.shadowDecide(sh, st, d, imp, cp, nowU, m, sc, ruleInspects || dec.Random || explore, modelRed, uR)
	}

	e.features(sc, d, imp, cp)

	all2 := string(txt.b)
	dec.Reasons = make([]Reason, len(sc.reasons))
	for i, r := range sc.reasons {
		dec.Reasons[i] = Reason{Code: resolve(all2, txt, r.code), ZH: resolve(all2, txt, r.zh), EN: resolve(all2, txt, r.en), Weight: r.weight}
	}
	dec.Features = make([]Feature, len(sc.feats))
	for i, f := range sc.feats {
		dec.Features[i] = Feature{Name: resolve(all2, txt, f.name), Value: resolve(all2, txt, f.value)}
	}
	dec.Shadow = shadow
	return dec
}

// modelReasons appends the largest positive contributions to the score, in plain language.
func (e *Engine) modelReasons(sc *scratch, m *model, x []float64, p0, underRatio, underZ, overRatio, overZ, weightDev float64) {
	c := sc.contrib[:len(x)]
	if ex, ok := m.comb.(Explainer); ok {
		ex.Contributions(x, c)
	} else {
		// A combiner that cannot explain itself: the prior model's weights give the direction
		// and scale.
		pc := priorCombinerWeights
		for i := range c {
			if i < len(pc) {
				c[i] = pc[i] * x[i]
			} else {
				c[i] = 0
			}
		}
	}
	c[xGlobal], c[xLogValue], c[xLogKg], c[xLogUV], c[xItems], c[xHS2Num], c[xHS4Num], c[xSeverity] = 0, 0, 0, 0, 0, 0, 0, 0
	for j := numFixedSlots + len(m.attrs); j < len(c); j++ {
		c[j] = 0 // raw measures have no plain-language reading
	}
	txt := &sc.txt
	for r := 0; r < e.cfg.MaxReasons; r++ {
		bi, bw := -1, 0.1 // contributions below 0.1 log-odds are not worth an officer's attention
		for i, w := range c {
			if w > bw {
				bi, bw = i, w
			}
		}
		if bi < 0 {
			return
		}
		c[bi] = 0
		switch {
		case bi < numProfileSlots:
			k := kind(bi + 1)
			v := sc.val[bi]
			if sc.val2[bi] != "" {
				v = ""
				lo := txt.begin()
				txt.str(sc.val[bi]).str(" × ").str(sc.val2[bi])
				sp := txt.end(lo)
				// The display value lives in the buffer; profileReason copies it again, which is
				// cheap and keeps one code path.
				s := txt.spans[sp.idx]
				v = string(txt.b[s.lo:s.hi])
			}
			sc.reasons = append(sc.reasons, txt.profileReason(k, "", v, sc.mean[bi], sc.n[bi], p0, bw))
		case bi == xUnder:
			sc.reasons = append(sc.reasons, txt.undervaluationReason(underRatio, underZ, bw))
		case bi == xOver:
			sc.reasons = append(sc.reasons, txt.overvaluationReason(overRatio, overZ, bw))
		case bi == xWeightDev:
			sc.reasons = append(sc.reasons, txt.weightReason(weightDev, bw))
		case bi == xRoute:
			r := reasonRoute
			r.weight = bw
			sc.reasons = append(sc.reasons, r)
		case bi == xUndeclared:
			r := reasonUndeclared
			r.weight = bw
			sc.reasons = append(sc.reasons, r)
		case bi == xNewImporter:
			r := reasonNewImporter
			r.weight = bw
			sc.reasons = append(sc.reasons, r)
		case bi == xNewDeclarant:
			r := reasonNewDeclarant
			r.weight = bw
			sc.reasons = append(sc.reasons, r)
		case bi >= numFixedSlots && bi < numFixedSlots+len(m.attrs):
			name := m.attrs[bi-numFixedSlots]
			lgo := x[bi] + logit(p0)
			sc.reasons = append(sc.reasons, txt.profileReason(kAttr, name, "", sigmoid(lgo), 0, p0, bw))
		}
	}
}

var priorCombinerWeights = priorCombiner().Weights

// features lists the categorical values a label for this decision must update.
func (e *Engine) features(sc *scratch, d *ingest.Declaration, imp, cp string) {
	txt := &sc.txt
	sc.feats = sc.feats[:0]
	add := func(k kind, v ref) {
		sc.feats = append(sc.feats, featureRef{name: staticRef(kindNames[k]), value: v})
	}
	addS := func(k kind, v string) {
		if v != "" {
			add(k, staticRef(v))
		}
	}
	addS(kImporter, imp)
	addS(kConsignor, cp)
	addS(kDeclarant, d.Declarant)
	addS(kDeparture, d.DepartureCountry)
	addS(kPort, d.Port)
	addS(kTradeMode, d.TradeMode)
	addS(kTransport, d.TransportMode)
	if d.Declarant != "" && imp != "" {
		add(kDeclarantImporter, txt.concat(d.Declarant, crossSep, imp))
	}
	for i := range d.Items {
		it := &d.Items[i]
		dup := false
		for j := 0; j < i; j++ {
			o := &d.Items[j]
			if prefix(o.HSCode, 6) == prefix(it.HSCode, 6) && o.OriginCountry == it.OriginCountry {
				dup = true
				break
			}
		}
		if dup {
			continue
		}
		hs4, hs6 := prefix(it.HSCode, 4), prefix(it.HSCode, 6)
		addS(kHS2, prefix(it.HSCode, 2))
		addS(kHS4, hs4)
		addS(kHS6, hs6)
		addS(kOrigin, it.OriginCountry)
		if imp != "" && hs4 != "" {
			add(kImporterHS4, txt.concat(imp, crossSep, hs4))
		}
		if hs6 != "" && it.OriginCountry != "" {
			add(kHS6Origin, txt.concat(hs6, crossSep, it.OriginCountry))
		}
	}
	for name, v := range d.Attributes {
		if v == "" {
			continue
		}
		lo := txt.begin()
		txt.str(attrPrefix).str(name)
		sc.feats = append(sc.feats, featureRef{name: txt.end(lo), value: staticRef(v)})
	}
}

func prefix(s string, n int) string {
	if len(s) < n {
		return s
	}
	return s[:n]
}

// codeNum reads a numeric code such as an HS chapter as a number, for trees to split on.
func codeNum(s string) float64 {
	v := 0.0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		v = v*10 + float64(c-'0')
	}
	return v
}

// severity returns the weight of the longest configured HS prefix of hs (1 when none).
func (e *Engine) severity(hs string) float64 {
	for _, l := range e.sevLens {
		if l <= len(hs) {
			if w, ok := e.cfg.SeverityWeights[hs[:l]]; ok {
				return w
			}
		}
	}
	return 1
}

func (e *Engine) controller(port string) *controller {
	if v := e.ctrlView.Load(); v != nil {
		if c := (*v)[port]; c != nil {
			return c
		}
	}
	e.ctrlMu.Lock()
	defer e.ctrlMu.Unlock()
	c := e.ctrls[port]
	if c == nil {
		c = newController(e.cfg.ControllerHalfLife, e.cfg.ControllerHalfTime, e.cfg.VolumeHalfTime)
		e.ctrls[strings.Clone(port)] = c
		e.publishCtrls()
	}
	return c
}

// targetRate is the share of a port's declarations to inspect: its configured rate, or its
// daily capacity over its estimated daily volume (ctrl is the port's champion controller).
func (e *Engine) targetRate(port string, ctrl *controller) float64 {
	if capacity, ok := e.cfg.PortDailyCapacity[port]; ok {
		if perDay := ctrl.decisionsPerDay(); perDay > 0 {
			return min(capacity/perDay, 1)
		}
	}
	return e.cfg.targetRate(port)
}

// TargetRate is the share of port's declarations the engine now aims to inspect (RED).
func (e *Engine) TargetRate(port string) float64 { return e.targetRate(port, e.controller(port)) }

// publishCtrls refreshes the lock-free view of the controllers; the caller holds ctrlMu.
func (e *Engine) publishCtrls() {
	v := maps.Clone(e.ctrls)
	e.ctrlView.Store(&v)
}

// Thresholds returns a port's current RED and YELLOW score thresholds (+Inf before the
// controller has seen enough decisions).
func (e *Engine) Thresholds(port string) (red, yellow float64) {
	return e.controller(port).thresholds()
}

func (e *Engine) advance(t int64) {
	for {
		c := e.clock.Load()
		if t <= c || e.clock.CompareAndSwap(c, t) {
			return
		}
	}
}

// nextVersion names a new model version.
func (e *Engine) nextVersion(kind string) string {
	return fmt.Sprintf("v%d-%s", e.seq.Add(1), kind)
}

// grades maps enterprise keys to grade names, sharded for concurrent reads and compact for
// millions of enterprises: the grade is a one-byte index into a small name table.
type grades struct {
	seed   uint64
	namesM sync.Mutex               // serializes writers of names
	names  atomic.Pointer[[]string] // grade names by index, copied on write
	shards [32]struct {
		mu sync.RWMutex
		m  map[uint64]uint8 // keyed by hash of the enterprise key, like the profiles
	}
}

func (g *grades) init() {
	g.seed = newSeed()
	g.names.Store(&[]string{""})
	for i := range g.shards {
		g.shards[i].m = map[uint64]uint8{}
	}
}

func (g *grades) get(k string) string {
	hk := strHash(g.seed, k)
	s := &g.shards[hk%uint64(len(g.shards))]
	s.mu.RLock()
	i, ok := s.m[hk]
	s.mu.RUnlock()
	if !ok {
		return ""
	}
	return (*g.names.Load())[i]
}

func (g *grades) set(k, grade string) {
	g.namesM.Lock()
	names := *g.names.Load()
	i := slices.Index(names, grade)
	if i < 0 && len(names) < 255 {
		names = append(slices.Clip(names), strings.Clone(grade))
		g.names.Store(&names)
		i = len(names) - 1
	}
	g.namesM.Unlock()
	if i < 0 {
		return
	}
	hk := strHash(g.seed, k)
	s := &g.shards[hk%uint64(len(g.shards))]
	s.mu.Lock()
	if i == 0 {
		delete(s.m, hk)
	} else {
		s.m[hk] = uint8(i)
	}
	s.mu.Unlock()
}

// encoded is what encode derives besides the input vector, for scores and reasons.
type encoded struct {
	p0                    float64 // overall posterior hit rate
	impEvidence           float64 // labels behind the importer's profile
	totalValue, sev       float64
	under, over           float64 // undervaluation −z and overvaluation z, ≥ 0
	underRatio, overRatio float64 // unit value ÷ norm median of those items
	ratios                []float64
	hs2                   string // HS chapter of the riskiest item
}

// encode fills sc.x (and the profile slots' means, evidence and values) for declaration d at
// nowU from profile sums src and unit-value norms nm, adding d's items to nm when observe is
// set. Decide and Fit share it, so the model is trained on exactly what it is later fed.
func (e *Engine) encode(src profileSource, nm *norms, observe bool, d *ingest.Declaration, imp, cp string, nowU int64, m *model, sc *scratch) encoded {
	cfg := &e.cfg
	width := m.width()
	x := sc.x[:width]
	clear(x)
	for i := range sc.mean[:numProfileSlots] {
		sc.mean[i], sc.n[i], sc.val[i], sc.val2[i] = 0, 0, "", ""
	}
	// Every profile key the declaration reads, hashed up front so that warm can overlap
	// their cache misses: the header's, then six per item (see itemKeys).
	hks := sc.hks[:0]
	for _, k := range [...]pkey{{k: kAll}, {k: kImporter, a: imp}, {k: kDeclarant, a: d.Declarant}, {k: kConsignor, a: cp},
		{k: kDeparture, a: d.DepartureCountry}, {k: kPort, a: d.Port}, {k: kTradeMode, a: d.TradeMode},
		{k: kTransport, a: d.TransportMode}, {k: kDeclarantImporter, a: d.Declarant, b: imp}} {
		hks = append(hks, src.hashOf(k))
	}
	for i := range d.Items {
		it := &d.Items[i]
		hs2, hs4, hs6 := prefix(it.HSCode, 2), prefix(it.HSCode, 4), prefix(it.HSCode, 6)
		for _, k := range [itemKeys]pkey{{k: kHS2, a: hs2}, {k: kHS4, a: hs4}, {k: kHS6, a: hs6}, {k: kOrigin, a: it.OriginCountry},
			{k: kImporterHS4, a: imp, b: hs4}, {k: kHS6Origin, a: hs6, b: it.OriginCountry}} {
			hks = append(hks, src.hashOf(k))
		}
	}
	sc.hks = hks
	src.warm(hks)

	h0, n0 := src.getHash(hks[0], nowU)
	all := beta{a: globalPriorA + h0, b: globalPriorB + n0 - h0}
	p0 := all.mean()
	l0 := logit(p0)
	ms, me := cfg.PriorStrength, cfg.EntityPriorStrength
	put := func(k kind, a, b string, post beta, prior float64, always bool) {
		i := int(k) - 1
		lor := logit(post.mean()) - l0
		if always || sc.val[i] == "" || lor > x[i] {
			x[i] = lor
			sc.mean[i], sc.n[i], sc.val[i], sc.val2[i] = post.mean(), post.evidence(prior), a, b
		}
	}
	bImp := posteriorHash(src, hks[1], nowU, p0, me)
	put(kImporter, imp, "", bImp, me, true)
	bDecl := posteriorHash(src, hks[2], nowU, p0, me)
	put(kDeclarant, d.Declarant, "", bDecl, me, true)
	put(kConsignor, cp, "", posteriorHash(src, hks[3], nowU, p0, me), me, true)
	put(kDeparture, d.DepartureCountry, "", posteriorHash(src, hks[4], nowU, p0, ms), ms, true)
	put(kPort, d.Port, "", posteriorHash(src, hks[5], nowU, p0, ms), ms, true)
	put(kTradeMode, d.TradeMode, "", posteriorHash(src, hks[6], nowU, p0, ms), ms, true)
	put(kTransport, d.TransportMode, "", posteriorHash(src, hks[7], nowU, p0, ms), ms, true)
	put(kDeclarantImporter, d.Declarant, imp, posteriorHash(src, hks[8], nowU, bDecl.mean(), me), me, true)

	if cap(sc.ratios) < len(d.Items) {
		sc.ratios = make([]float64, len(d.Items))
	}
	ratios := sc.ratios[:len(d.Items)]
	var totalValue, totalKg, sev float64
	under, over, underRatio, overRatio := 0.0, 0.0, 1.0, 1.0
	risky, riskyLOR := 0, math.Inf(-1)
	for i := range d.Items {
		it := &d.Items[i]
		hs := it.HSCode
		hs2, hs4, hs6 := prefix(hs, 2), prefix(hs, 4), prefix(hs, 6)
		ih := hks[headerKeys+itemKeys*i:]
		b2 := posteriorHash(src, ih[0], nowU, p0, ms)
		b4 := posteriorHash(src, ih[1], nowU, b2.mean(), ms)
		b6 := posteriorHash(src, ih[2], nowU, b4.mean(), ms)
		bo := posteriorHash(src, ih[3], nowU, p0, ms)
		bih := posteriorHash(src, ih[4], nowU, bImp.mean(), me)
		bho := posteriorHash(src, ih[5], nowU, b6.mean(), ms)
		put(kHS2, hs2, "", b2, ms, false)
		put(kHS4, hs4, "", b4, ms, false)
		put(kHS6, hs6, "", b6, ms, false)
		put(kOrigin, it.OriginCountry, "", bo, ms, false)
		put(kImporterHS4, imp, hs4, bih, me, false)
		put(kHS6Origin, hs6, it.OriginCountry, bho, ms, false)
		if l := logit(bho.mean()); l > riskyLOR {
			risky, riskyLOR = i, l
		}
		ratios[i] = 1
		if lg, ok := unitValueLog(it.ValueBase, it.NetWeightKg); ok {
			if z, ratio, ok := nm.score(hs, it.OriginCountry, lg, observe); ok {
				ratios[i] = ratio
				if -z > under {
					under, underRatio = -z, ratio
				}
				if z > over {
					over, overRatio = z, ratio
				}
			}
		}
		totalValue += it.ValueBase
		totalKg += it.NetWeightKg
		sev = max(sev, e.severity(hs))
	}
	if len(d.Items) == 0 {
		sev = 1
	}
	x[xGlobal] = l0
	x[xUnder] = clampSlot(under, 0, 10)
	x[xOver] = clampSlot(over, 0, 10)
	x[xLogValue] = math.Log1p(max(totalValue, 0))
	x[xLogKg] = math.Log1p(max(totalKg, 0))
	if len(d.Items) > 0 {
		it := &d.Items[risky]
		if lg, ok := unitValueLog(it.ValueBase, it.NetWeightKg); ok {
			x[xLogUV] = lg
		}
		x[xHS2Num] = codeNum(prefix(it.HSCode, 2))
		x[xHS4Num] = codeNum(prefix(it.HSCode, 4))
		x[xItems] = math.Log(float64(len(d.Items)))
	}
	if d.Check.Joined {
		x[xWeightDev] = clampSlot(d.Check.WeightDeviation, 0, 5)
		if d.Check.OriginRouteMismatch {
			x[xRoute] = 1
		}
		x[xUndeclared] = math.Log1p(float64(max(d.Check.UndeclaredContainers, 0)))
	}
	if bImp.evidence(me) < 1 {
		x[xNewImporter] = 1
	}
	if d.Declarant != "" && bDecl.evidence(me) < 1 {
		x[xNewDeclarant] = 1
	}
	x[xSeverity] = sev
	for j, name := range m.attrs {
		if v, ok := d.Attributes[name]; ok {
			b := posteriorFrom(src, pkey{k: kAttr, a: name, b: v}, nowU, p0, ms)
			x[numFixedSlots+j] = logit(b.mean()) - l0
		}
	}
	for j, name := range m.measures {
		if v, ok := d.Measures[name]; ok && !math.IsNaN(v) && !math.IsInf(v, 0) {
			x[numFixedSlots+len(m.attrs)+j] = v
		}
	}

	var hs2 string
	if len(d.Items) > 0 {
		hs2 = prefix(d.Items[risky].HSCode, 2)
	}
	return encoded{p0: p0, impEvidence: bImp.evidence(me), totalValue: totalValue, sev: sev,
		under: under, over: over, underRatio: underRatio, overRatio: overRatio, ratios: ratios, hs2: hs2}
}
