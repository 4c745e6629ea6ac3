// Package synth generates realistic synthetic import declarations and manifests with hidden
// ground truth, deterministic by seed, for development, demos, benchmarks and the evaluation of
// targeting (issue 7's `portguard gen`).
//
// The world is a population of importers with Zipf-distributed volumes, each trading a few goods
// lines from a catalogue of HS6 subheadings with their own log-normal price and weight
// distributions, seasonality and natural origins, through declarant agents, overseas suppliers,
// liner services with transshipment hubs, and the customs offices of Config.Ports. Declarations
// arrive as a Poisson process modulated by hour, weekday, Chinese New Year and season.
//
// Non-compliance is planted, never uniform: risky importers and complicit declarants, HS×origin
// hot spots, undervaluation against the HS6 price distribution, origin laundering through
// transshipment or re-export via FTA partners, weights under-declared against the manifest,
// classification into cheaper subheadings and quarantine pests. After Config.DriftAt new patterns
// appear (a ring of new importers, new hot spots, newly risky traders) and some old ones fade.
// Every finding leaves the traces a real one would, and only those: a model has to learn them.
//
// Every generated message passes ingest's validation: 18-digit declaration numbers, unified
// social credit codes and ISO 6346 container numbers with correct check characters, valid IMO
// numbers, ISO country and currency codes.
package synth

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Truth is the hidden outcome a perfect inspection of a consignment would find.
type Truth struct {
	// Hit is true when the consignment carries at least one finding.
	Hit bool
	// Severity grades the worst finding as clearance's catalogue does: 1 minor, 2 major,
	// 3 severe; 0 without findings.
	Severity int
	// Revenue is the duty and tax at stake in the base currency (CNY), 0 for quarantine findings.
	Revenue float64
	// Findings are clearance catalogue codes: UNDERVALUATION, ORIGIN_MISDECLARED,
	// QUANTITY_WEIGHT, QUARANTINE_PEST, HS_MISDECLARED.
	Findings []string
}

// Sample is one generated declaration with its manifest (nil for air cargo and for the few sea
// consignments whose manifest never arrives) and its hidden truth.
type Sample struct {
	Decl     *ingest.Declaration
	Manifest *ingest.Manifest
	Truth    Truth
}

// Generator produces samples in declaration-time order. It is not safe for concurrent use; run
// one generator per goroutine (with different seeds) to generate in parallel.
type Generator struct {
	cfg   Config
	r     *rand.Rand
	zipf  *rand.Zipf
	start int64 // unix seconds of Config.Start
	span  float64

	ports           []portInfo
	sectors         [][]int
	ents            []enterprise
	declarants      []declarant
	riskyDeclarants []int32
	cons            []consignor
	shells          []int32
	vessels         [][]vessel
	hot             []hotspot
	b0              float64 // intercept calibrated to Config.BaseHitRate

	t       float64 // seconds since start of the current sample
	lamMax  float64 // per-second rate bound of the thinning process
	day     int64   // local day number whose factor is cached
	dayF    float64
	year    int
	seq     []int64 // declaration sequence per port in the current year
	blSeq   int64
	sc      scenario
	cumTM   []float64
	cumPay  []float64
	monthOf int
}

// scenario is everything drawn about a consignment before any non-compliance is planted.
type scenario struct {
	frac     float64
	month    int // 0–11
	ent      int
	decl     int
	port     int
	air      bool
	trade    int
	n        int
	cons     int32
	prod     [50]int
	origin   [50]string
	kg       [50]float64
	usdPerKg [50]float64
}

// New returns a generator for cfg; zero fields take their defaults. It panics when the
// configuration is invalid: check it with Validate first when it comes from a user.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	seed := uint64(cfg.Seed)
	g := &Generator{
		cfg:   cfg,
		r:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		start: cfg.Start.Unix(),
		span:  float64(cfg.Days) * 86400,
		day:   math.MinInt64,
	}
	g.build(rand.New(rand.NewPCG(seed^0x5eed, 0xc0ffee)))
	g.zipf = rand.NewZipf(g.r, cfg.ZipfExponent, 10, uint64(cfg.Enterprises-1))
	g.seq = make([]int64, len(g.ports))
	g.cumTM = cumulative(wcWeights(tradeModes))
	g.cumPay = cumulative(wcWeights(paymentTypes))
	g.lamMax = cfg.PerDay / 86400 * maxDayFactor * maxHourFactor
	g.calibrate()
	return g
}

func cumulative(w []float64) []float64 {
	c := make([]float64, len(w))
	var s float64
	for i, x := range w {
		s += x
		c[i] = s
	}
	return c
}

// Config returns the effective configuration.
func (g *Generator) Config() Config { return g.cfg }

// calibrate sets the intercept so that the mean hit probability over the period is
// Config.BaseHitRate, by bisection over a Monte-Carlo sample of scenarios drawn from a separate
// stream (the main stream is untouched, so samples do not depend on the sample size here).
func (g *Generator) calibrate() {
	seed := uint64(g.cfg.Seed)
	r := rand.New(rand.NewPCG(seed^0xca1, 0xb0a7))
	z := rand.NewZipf(r, g.cfg.ZipfExponent, 10, uint64(g.cfg.Enterprises-1))
	const n = 20000
	logits := make([]float64, n)
	var sc scenario
	for i := range logits {
		frac := r.Float64()
		g.draw(r, z, frac, int(frac*12)%12, &sc)
		logits[i] = g.logit(&sc)
	}
	lo, hi := -20.0, 10.0
	for it := 0; it < 60; it++ {
		mid := (lo + hi) / 2
		var s float64
		for _, l := range logits {
			s += sigmoid(mid + l)
		}
		if s/n > g.cfg.BaseHitRate {
			hi = mid
		} else {
			lo = mid
		}
	}
	g.b0 = (lo + hi) / 2
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// Next returns the next declaration in time order, with its manifest and truth.
func (g *Generator) Next() Sample {
	g.advance()
	unix := g.start + int64(g.t)
	at := time.Unix(unix, 0).UTC()
	frac := g.t / g.span
	sc := &g.sc
	g.draw(g.r, g.zipf, frac, g.monthOf, sc)
	p := sigmoid(g.b0 + g.logit(sc))
	var tr Truth
	var kinds [nKinds]bool
	if g.r.Float64() < p {
		tr.Hit = true
		g.chooseFindings(sc, &kinds)
	}
	return g.materialize(sc, at, &tr, &kinds)
}

// Hour-of-day factors in China Standard Time (mean 1) and their bound.
var hourFactor = func() [24]float64 {
	raw := [24]float64{0.15, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.4, 1.9, 2.0, 1.9, 1.1, 1.3, 1.9, 2.0, 1.9, 1.6, 1.0, 0.7, 0.6, 0.5, 0.4, 0.25}
	var s float64
	for _, x := range raw {
		s += x
	}
	for i := range raw {
		raw[i] *= 24 / s
	}
	return raw
}()

var maxHourFactor = func() float64 {
	m := 0.0
	for _, x := range hourFactor {
		m = math.Max(m, x)
	}
	return m
}()

const maxDayFactor = 1.6

// chineseNewYear holds the first day of the Spring Festival, when declarations all but stop.
var chineseNewYear = map[int]time.Time{}

func init() {
	for _, s := range []string{"2018-02-16", "2019-02-05", "2020-01-25", "2021-02-12", "2022-02-01", "2023-01-22",
		"2024-02-10", "2025-01-29", "2026-02-17", "2027-02-06", "2028-01-26", "2029-02-13", "2030-02-03"} {
		t, _ := time.Parse("2006-01-02", s)
		chineseNewYear[t.Year()] = t
	}
}

// dayFactor is the relative declaration volume of a local calendar day: weekday, the Spring
// Festival lull and the rush before it, and the autumn peak season.
func dayFactor(day time.Time) float64 {
	f := [7]float64{0.42, 1.12, 1.17, 1.17, 1.17, 1.15, 0.58}[day.Weekday()] / 0.968
	cny, ok := chineseNewYear[day.Year()]
	if !ok {
		cny = time.Date(day.Year(), 2, 5, 0, 0, 0, 0, time.UTC)
	}
	switch d := int(day.Sub(cny).Hours() / 24); {
	case d >= -2 && d <= 6:
		f *= 0.3
	case d >= 7 && d <= 13:
		f *= 0.75
	case d >= -16 && d <= -3:
		f *= 1.12
	}
	f *= 1 + 0.1*math.Sin(2*math.Pi*(float64(day.YearDay())-200)/365)
	return math.Min(f, maxDayFactor)
}

// advance moves the clock to the next arrival of a Poisson process with rate
// PerDay·dayFactor·hourFactor, by thinning a homogeneous process at the bound.
func (g *Generator) advance() {
	for {
		g.t += g.r.ExpFloat64() / g.lamMax
		local := g.start + int64(g.t) + 8*3600
		day := local / 86400
		if day != g.day {
			g.day = day
			d := time.Unix(day*86400, 0).UTC()
			g.dayF = dayFactor(d)
			g.monthOf = int(d.Month()) - 1
			g.year = time.Unix(local-8*3600, 0).UTC().Year()
		}
		lam := g.cfg.PerDay / 86400 * g.dayF * hourFactor[(local%86400)/3600]
		if g.r.Float64()*g.lamMax < lam {
			return
		}
	}
}

// seasonal is the relative share of a product's goods items in a month (0–11).
func seasonal(x *product, month int) float64 {
	if x.peak == 0 {
		return 1
	}
	return math.Max(0.05, 1+x.amp*math.Cos(2*math.Pi*float64(month-(x.peak-1))/12))
}

// draw fills sc with a consignment as it would be without any planted non-compliance.
func (g *Generator) draw(r *rand.Rand, z *rand.Zipf, frac float64, month int, sc *scenario) {
	sc.frac, sc.month = frac, month
	ei := int(z.Uint64())
	for try := 0; g.ents[ei].from > frac && try < 20; try++ {
		ei = int(z.Uint64())
	}
	for g.ents[ei].from > frac {
		ei = (ei + 1) % len(g.ents) // a trader that started before now (index 0 is rarely new)
		if ei == 0 {
			break
		}
	}
	sc.ent = ei
	e := &g.ents[ei]

	// Goods: the main line weighted by season, then further lines of the same importer.
	var w [16]float64
	nl := min(len(e.lines), len(w))
	for i := 0; i < nl; i++ {
		x := &catalogue[e.lines[i].prod]
		w[i] = x.weight * seasonal(x, month)
	}
	li := choose(r, w[:nl], 0)
	ln := &e.lines[li]
	sc.cons = ln.sup[r.IntN(len(ln.sup))]
	n := 1
	for n < g.cfg.MaxItems && r.Float64() < 0.45 {
		n++
	}
	sc.n = n
	for i := 0; i < n; i++ {
		l := ln
		if i > 0 && r.Float64() < 0.5 {
			l = &e.lines[r.IntN(len(e.lines))]
		}
		x := &catalogue[l.prod]
		sc.prod[i] = l.prod
		sc.origin[i] = g.cons[sc.cons].country
		if l != ln && r.Float64() < 0.15 {
			sc.origin[i] = g.cons[l.sup[0]].country // consolidated goods of another origin
		}
		kg := x.shipKg * math.Exp(x.shipSigma*r.NormFloat64())
		if i > 0 {
			kg *= 0.1 + 0.4*r.Float64()
		}
		if x.kgPerUnit > 0 {
			kg = math.Max(kg, x.kgPerUnit)
		}
		sc.kg[i] = math.Round(kg*100) / 100
		sc.usdPerKg[i] = x.usdPerKg * math.Exp(x.sigma*r.NormFloat64())
	}

	// Port and transport: flown goods go to the importer's airport when there is one.
	x0 := &catalogue[sc.prod[0]]
	sc.air = e.port < 0 || (x0.air && e.airPort >= 0 && r.Float64() < 0.85)
	sc.port = e.port
	if sc.air {
		sc.port = e.airPort
	}
	sc.decl = int(e.declarants[r.IntN(len(e.declarants))])
	if r.Float64() < 0.05 {
		sc.decl = r.IntN(len(g.declarants))
	}
	sc.trade = pickCum(r, g.cumTM)
}

// logit is the log-odds of non-compliance of a scenario, without the calibrated intercept.
func (g *Generator) logit(sc *scenario) float64 {
	e := &g.ents[sc.ent]
	d := &g.declarants[sc.decl]
	l := e.base + e.boost*e.risky.level(sc.frac) + d.base + d.boost*d.risky.level(sc.frac)
	maxDuty := 0.0
	for i := 0; i < sc.n; i++ {
		x := &catalogue[sc.prod[i]]
		maxDuty = math.Max(maxDuty, x.duty)
		for h := range g.hot {
			hs := &g.hot[h]
			if hs.prod == sc.prod[i] && hs.origin == sc.origin[i] {
				b := hs.boost * hs.when.level(sc.frac)
				if hs.kind == kQP {
					b *= seasonal(&catalogue[hs.prod], sc.month) // pests follow the harvest
				}
				if i > 0 {
					b /= 2
				}
				l += b
			}
		}
	}
	l += 3 * maxDuty
	x0 := &catalogue[sc.prod[0]]
	for _, o := range x0.remedy {
		if o == sc.origin[0] {
			l += 0.8 // trade-remedy duties make evasion pay
		}
	}
	if sc.frac-e.from < 60/float64(g.cfg.Days) && e.from > 0 {
		l += 0.7 // new traders are less known and less careful
	}
	switch tradeModes[sc.trade].code {
	case "1210":
		l += 0.3
	case "2225":
		l -= 0.4
	case "0615", "0214":
		l -= 0.2
	}
	v := sc.kg[0] * sc.usdPerKg[0]
	l += 0.15 * (math.Log10(v+1) - 4)
	return l
}

// chooseFindings picks what a non-compliant consignment is guilty of: the importer's favourite
// scheme, what the goods and route make possible, and the hot spots it falls in.
func (g *Generator) chooseFindings(sc *scenario, kinds *[nKinds]bool) {
	e := &g.ents[sc.ent]
	x := &catalogue[sc.prod[0]]
	origin := sc.origin[0]
	var w [nKinds]float64
	for k := range w {
		w[k] = e.style[k]
	}
	w[kUV] *= 0.5 + 5*x.duty
	if x.cheaperIdx < 0 {
		w[kHS] = 0
	} else {
		w[kHS] *= 2
	}
	if sc.air {
		w[kWT] *= 0.1
		w[kOR] = 0
	}
	remedy := false
	for _, o := range x.remedy {
		remedy = remedy || o == origin
	}
	switch {
	case remedy:
		w[kOR] *= 2
	case countries[origin].fta:
		w[kOR] = 0
	default:
		w[kOR] *= 0.25
	}
	if x.quarantine {
		w[kQP] = 1.2 * seasonal(x, sc.month)
	} else {
		w[kQP] = 0
	}
	for h := range g.hot {
		hs := &g.hot[h]
		if hs.prod == sc.prod[0] && hs.origin == origin && w[hs.kind] > 0 {
			w[hs.kind] *= 1 + 5*hs.when.level(sc.frac)
		}
	}
	k := choose(g.r, w[:], kUV)
	kinds[k] = true
	w[k] = 0
	if g.r.Float64() < 0.12 {
		if k2 := choose(g.r, w[:], -1); k2 >= 0 {
			kinds[k2] = true
		}
	}
}
