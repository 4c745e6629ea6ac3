package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// Kinds of planted non-compliance, in the order of their finding codes.
const (
	kUV = iota // undervaluation against the HS6 price distribution
	kOR        // origin laundering through transshipment or re-export
	kWT        // declared weight below the manifest
	kQP        // quarantine pest on plant or animal products
	kHS        // classification into a lower-duty subheading
	nKinds
)

var findingCode = [nKinds]string{FindingUndervaluation, FindingOriginMisdeclared, FindingWeight, FindingQuarantinePest, FindingHSMisdeclared}

// prevalence is how often each kind is an importer's favourite scheme.
var prevalence = [nKinds]float64{0.45, 0.1, 0.15, 0.1, 0.2}

// window is a span of the period (as fractions) in which a pattern is in force. After end it
// fades linearly to nothing over fadeLen, so models trained on old data slowly go stale.
type window struct{ from, to float64 }

const fadeLen = 0.1

func (w window) level(frac float64) float64 {
	switch {
	case frac < w.from:
		return 0
	case frac <= w.to:
		return 1
	case frac < w.to+fadeLen:
		return 1 - (frac-w.to)/fadeLen
	}
	return 0
}

var always = window{0, math.Inf(1)}

// line is one kind of goods an importer buys and the suppliers it buys it from.
type line struct {
	prod int
	sup  []int32 // consignor indices
}

type enterprise struct {
	uscc, customs, name string
	port, airPort       int // indices into Generator.ports; -1 when none of that kind
	lines               []line
	declarants          []int32
	from                float64 // fraction of the period when it starts trading
	base                float64 // persistent log-odds of non-compliance
	risky               window
	boost               float64
	style               [nKinds]float64
	payment             int
}

type declarant struct {
	code, name string
	base       float64
	risky      window
	boost      float64
}

type consignor struct {
	code, name string
	country    string
	port       string // UN/LOCODE its goods load at
	hub        string // transshipment port of its usual service ("" = direct)
	carrier    int
}

type hotspot struct {
	prod   int
	origin string
	when   window
	boost  float64
	kind   int
}

type vessel struct{ imo string }

// portInfo is a configured customs office with what the generator knows about it.
type portInfo struct {
	chinaPort
}

// build creates the world from the configuration and its own random stream.
func (g *Generator) build(r *rand.Rand) {
	cfg := g.cfg
	for _, code := range cfg.Ports {
		cp, ok := knownPorts[code]
		if !ok {
			cp = chinaPort{code: code, division: fallbackDivisions[len(g.ports)%len(fallbackDivisions)], sea: true, air: true, weight: 2}
		}
		g.ports = append(g.ports, portInfo{cp})
	}
	var seaW, airW []float64
	for _, p := range g.ports {
		seaW = append(seaW, b2f(p.sea)*p.weight)
		airW = append(airW, b2f(p.air)*p.weight)
	}

	// Sectors and the products in each.
	sectorOf := map[string]int{}
	var sectorW []float64
	for i, x := range catalogue {
		s, ok := sectorOf[x.sector]
		if !ok {
			s = len(g.sectors)
			sectorOf[x.sector] = s
			g.sectors = append(g.sectors, nil)
			sectorW = append(sectorW, 0)
		}
		g.sectors[s] = append(g.sectors[s], i)
		sectorW[s] += x.weight
	}
	prodW := make([]float64, len(catalogue))
	for i, x := range catalogue {
		prodW[i] = x.weight
	}

	// Declarant agents: a few large brokerages and a long tail, some of them complicit.
	used := map[string]bool{}
	for i := 0; i < cfg.Declarants; i++ {
		p := g.ports[i%len(g.ports)]
		d := declarant{code: g.customsCode(r, p.division, '8', used), name: cityName(p.division) + pick(r, nameA) + pick(r, nameB) + "报关有限公司"}
		d.base = 0.3 * r.NormFloat64()
		if r.Float64() < cfg.RiskyDeclarants {
			d.risky, d.boost = always, 1.0+0.8*r.Float64()
			if cfg.DriftAt < 1 && r.Float64() < 0.5 {
				d.risky.to = cfg.DriftAt + 0.15*r.Float64()
			}
			g.riskyDeclarants = append(g.riskyDeclarants, int32(i))
		}
		g.declarants = append(g.declarants, d)
	}
	declZipf := rand.NewZipf(r, 1.3, 5, uint64(cfg.Declarants-1))

	// Importers, in Zipf rank order (index 0 trades most).
	n := cfg.Enterprises
	g.ents = make([]enterprise, n)
	consBy := map[string][]int32{}
	for i := 0; i < n; i++ {
		e := &g.ents[i]
		rankFrac := float64(i) / float64(n)
		e.port = choose(r, seaW, -1)
		e.airPort = choose(r, airW, -1)
		home := e.port
		if home < 0 {
			home = e.airPort
		}
		div := g.ports[home].division
		e.customs = g.customsCode(r, div, byte('1'+r.IntN(6)), used)
		var body [8]byte
		for j := range body {
			body[j] = usccAlphabet[r.IntN(len(usccAlphabet))]
		}
		if r.Float64() < 0.6 {
			body[0], body[1] = 'M', 'A' // post-2015 registrations start their organization code with MA
		}
		e.uscc = makeUSCC("91", div, body)
		e.name = cityName(div) + pick(r, nameA) + pick(r, nameB) + pick(r, nameC)
		if i >= n/100 && r.Float64() < cfg.NewEntrants {
			e.from = r.Float64() // the largest traders are all established
		}
		e.base = 0.5 * r.NormFloat64()
		e.payment = choose(r, wcWeights(paymentTypes), 0)

		// Small importers are more often non-compliant than large ones.
		if r.Float64() < cfg.RiskyImporters*(0.3+1.4*rankFrac) {
			e.risky, e.boost = always, 2.0+r.Float64()
			if cfg.DriftAt < 1 && r.Float64() < 0.5 {
				e.risky.to = cfg.DriftAt + 0.15*r.Float64() // reformed or struck off after the drift
			}
		} else if cfg.DriftAt < 1 && r.Float64() < cfg.RiskyImporters*0.5 {
			e.risky, e.boost = window{cfg.DriftAt + 0.1*r.Float64(), math.Inf(1)}, 2.0+r.Float64()
		}
		for k := range e.style {
			e.style[k] = 1
		}
		e.style[choose(r, prevalence[:], 0)] += 4

		// Goods lines: one main sector, larger importers trade more lines.
		sector := choose(r, sectorW, 0)
		nl := 1 + r.IntN(3)
		if i < n/20 {
			nl += r.IntN(5)
		}
		for l := 0; l < nl; l++ {
			var prod int
			if r.Float64() < 0.85 {
				prods := g.sectors[sector]
				w := make([]float64, len(prods))
				for j, pi := range prods {
					w[j] = prodW[pi]
				}
				prod = prods[choose(r, w, 0)]
			} else {
				prod = choose(r, prodW, 0)
			}
			ln := line{prod: prod}
			for s := 1 + r.IntN(2); s > 0; s-- {
				x := &catalogue[prod]
				oc := x.origins[pickCum(r, x.cumOrigin)].code
				key := oc + "/" + x.sector
				pool := consBy[key]
				var ci int32
				if len(pool) > 0 && r.Float64() < 0.7 {
					ci = pool[r.IntN(len(pool))] // popular suppliers serve many importers
				} else {
					ci = g.newConsignor(r, oc)
					consBy[key] = append(pool, ci)
				}
				ln.sup = append(ln.sup, ci)
			}
			e.lines = append(e.lines, ln)
		}

		// Declarant agents: risky importers seek out complicit ones.
		for k := 1 + r.IntN(2); k > 0; k-- {
			var d int32
			if e.boost > 0 && len(g.riskyDeclarants) > 0 && r.Float64() < 0.6 {
				d = g.riskyDeclarants[r.IntN(len(g.riskyDeclarants))]
			} else {
				d = int32(declZipf.Uint64())
			}
			e.declarants = append(e.declarants, d)
		}
	}

	// After the drift a ring of new importers appears at one port, all lodging through one
	// newly complicit declarant and under-declaring weights and values.
	if cfg.DriftAt < 1 {
		ringDecl := int32(r.IntN(cfg.Declarants))
		dd := &g.declarants[ringDecl]
		dd.risky, dd.boost = window{cfg.DriftAt, math.Inf(1)}, 1.5
		ring := max(3, n/500)
		for k := 0; k < ring; k++ {
			i := n/100 + r.IntN(max(1, n/20-n/100)) // mid-sized: a ring needs volume to pay
			e := &g.ents[i]
			e.from = cfg.DriftAt + 0.05*r.Float64()
			e.risky, e.boost = window{e.from, math.Inf(1)}, 2.5
			e.style = [nKinds]float64{kUV: 3, kOR: 0.5, kWT: 6, kQP: 0.2, kHS: 1}
			e.declarants = []int32{ringDecl}
			if g.ports[0].sea {
				e.port = 0
			}
		}
	}

	// Shell traders in FTA countries that laundered goods are invoiced through.
	for _, lv := range launderVia {
		for k := 0; k < 6; k++ {
			ci := g.newConsignor(r, lv.origin)
			g.cons[ci].port, g.cons[ci].hub = lv.hub, ""
			g.shells = append(g.shells, ci)
		}
	}

	// Vessels per carrier.
	for range carriers {
		var vs []vessel
		for k := 0; k < 12; k++ {
			vs = append(vs, vessel{imo: makeIMO(900000 + r.IntN(99999))})
		}
		g.vessels = append(g.vessels, vs)
	}

	g.hot = g.hotspots(r)
}

// hotspots plants HS×origin concentrations of one kind of finding: some from the start, some
// appearing after the drift while older ones fade.
func (g *Generator) hotspots(r *rand.Rand) []hotspot {
	var agri, dutiable, remedy, cheaper []int
	for i, x := range catalogue {
		if x.quarantine {
			agri = append(agri, i)
		}
		if x.duty >= 0.1 {
			dutiable = append(dutiable, i)
		}
		if len(x.remedy) > 0 {
			remedy = append(remedy, i)
		}
		if x.cheaperIdx >= 0 {
			cheaper = append(cheaper, i)
		}
	}
	natural := func(prod int) string {
		x := &catalogue[prod]
		return x.origins[pickCum(r, x.cumOrigin)].code
	}
	var hs []hotspot
	add := func(from []int, kind int, n int, when window) {
		for k := 0; k < n; k++ {
			prod := from[r.IntN(len(from))]
			origin := natural(prod)
			if kind == kOR {
				origin = catalogue[prod].remedy[r.IntN(len(catalogue[prod].remedy))]
			}
			hs = append(hs, hotspot{prod: prod, origin: origin, when: when, boost: 1.5 + r.Float64(), kind: kind})
		}
	}
	drift := g.cfg.DriftAt
	early := always
	if drift < 1 {
		early.to = drift + 0.15*r.Float64()
	}
	add(agri, kQP, 2, always)
	add(agri, kQP, 1, early)
	add(dutiable, kUV, 1, always)
	add(dutiable, kUV, 1, early)
	add(remedy, kOR, 1, always)
	add(remedy, kOR, 1, early)
	add(cheaper, kHS, 1, early)
	if drift < 1 {
		late := window{drift + 0.05*r.Float64(), math.Inf(1)}
		add(agri, kQP, 2, late)
		add(dutiable, kUV, 1, late)
		add(remedy, kOR, 1, late)
		add(cheaper, kHS, 1, late)
	}
	return hs
}

func (g *Generator) newConsignor(r *rand.Rand, cc string) int32 {
	c := countries[cc]
	var body [8]byte
	putDigits(body[:], r.IntN(100000000))
	cs := consignor{code: cc + string(body[:]), country: cc, carrier: r.IntN(len(carriers))}
	cs.name = pick(r, enA) + " " + pick(r, enB) + " " + pick(r, enC)
	switch {
	case len(c.via) > 0:
		cs.port = c.via[r.IntN(len(c.via))]
	case len(c.ports) > 0:
		cs.port = c.ports[r.IntN(len(c.ports))]
	}
	if c.far && r.Float64() < 0.35 {
		cs.hub = hubs[r.IntN(len(hubs))]
		if cs.hub[:2] == cc {
			cs.hub = ""
		}
	}
	g.cons = append(g.cons, cs)
	return int32(len(g.cons) - 1)
}

// customsCode returns a new, unused 10-digit customs registration code: the first 4 digits of
// the administrative division, an economic-zone digit, an enterprise-type digit and a 4-digit
// sequence.
func (g *Generator) customsCode(r *rand.Rand, division string, kind byte, used map[string]bool) string {
	var b [10]byte
	copy(b[:4], division)
	b[5] = kind
	for {
		b[4] = "123469"[r.IntN(6)]
		putDigits(b[6:], 1+r.IntN(9999))
		s := string(b[:])
		if !used[s] {
			used[s] = true
			return s
		}
	}
}

// choose draws an index with probability proportional to w; def when all weights are zero.
func choose(r *rand.Rand, w []float64, def int) int {
	var s float64
	for _, x := range w {
		s += x
	}
	if !(s > 0) {
		return def
	}
	u := r.Float64() * s
	for i, x := range w {
		u -= x
		if u < 0 && x > 0 {
			return i
		}
	}
	for i := len(w) - 1; i >= 0; i-- {
		if w[i] > 0 {
			return i
		}
	}
	return def
}

// pickCum draws an index from cumulative weights.
func pickCum(r *rand.Rand, cum []float64) int {
	u := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

func wcWeights(x []wc) []float64 {
	w := make([]float64, len(x))
	for i := range x {
		w[i] = x[i].w
	}
	return w
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }

var (
	nameA = []string{"华", "中", "新", "东", "海", "远", "恒", "瑞", "金", "嘉", "宏", "盛", "联", "永", "汇", "鼎", "隆", "泰"}
	nameB = []string{"信", "达", "通", "源", "丰", "昌", "航", "运", "佳", "洋", "安", "兴", "诚", "邦", "德", "贸", "利", "发"}
	nameC = []string{"国际贸易有限公司", "进出口有限公司", "供应链管理有限公司", "食品有限公司", "实业有限公司", "贸易有限公司", "科技有限公司", "物流有限公司"}
	enA   = []string{"Atlantic", "Pacific", "Northern", "Golden", "Royal", "Green", "Blue", "Prime", "Global", "United", "Silver", "Southern", "Alpine", "Coastal", "Summit"}
	enB   = []string{"Foods", "Trading", "Metals", "Agro", "Resources", "Industries", "Export", "Commodities", "Supply", "Products", "Harvest", "Materials"}
	enC   = []string{"Ltd", "GmbH", "S.A.", "Inc.", "Pty Ltd", "B.V.", "S.p.A.", "Co., Ltd", "LLC", "Sdn Bhd"}
)

func cityName(division string) string {
	switch division[:4] {
	case "3101":
		return "上海"
	case "4403":
		return "深圳"
	case "4401":
		return "广州"
	case "3702":
		return "青岛"
	case "3302":
		return "宁波"
	case "1201":
		return "天津"
	case "3502":
		return "厦门"
	case "3205":
		return "苏州"
	}
	return "口岸" + strconv.Itoa(int(division[0]-'0'))
}
