package synth

import (
	"math"
	"time"

	"github.com/portguard/portguard/ingest"
)

// materialize turns a scenario into a declaration and its manifest, planting the traces of the
// chosen findings, and completes the truth with severity and revenue at stake.
func (g *Generator) materialize(sc *scenario, at time.Time, tr *Truth, kinds *[nKinds]bool) Sample {
	r := g.r
	e := &g.ents[sc.ent]
	cons := &g.cons[sc.cons]
	port := &g.ports[sc.port]
	x0 := &catalogue[sc.prod[0]]

	// Route as the bill of lading shows it.
	var load, hub string
	if sc.air {
		load = countries[cons.country].airport
	} else {
		load, hub = cons.port, cons.hub
		if x0.bulk {
			hub = "" // bulk carriers sail direct
		}
	}
	trueOrigin := sc.origin[0]
	declOrigin := trueOrigin
	trading := cons.country
	consCode, consName := cons.code, cons.name
	if kinds[kOR] {
		shell := &g.cons[g.shells[r.IntN(len(g.shells))]]
		declOrigin, trading = shell.country, shell.country
		consCode, consName = shell.code, shell.name
		if r.Float64() < 0.6 {
			// Shipped from the true origin, transshipped, relabelled on paper only.
			for hub = hubs[r.IntN(len(hubs))]; hub[:2] == declOrigin || hub[:2] == load[:2]; hub = hubs[r.IntN(len(hubs))] {
			}
		} else {
			// Re-exported: a new bill of lading from the hub, so the route looks clean.
			load, hub = shell.port, ""
		}
	}

	cur := "USD"
	if c := countries[trading].currency; c != "USD" && usdRate[c] > 0 && r.Float64() < 0.35 {
		cur = c
	}
	perUSD := 1 / usdRate[cur]

	d := &ingest.Declaration{
		Schema:           ingest.SchemaDeclarationV1,
		Number:           g.number(sc.port, at),
		Version:          1,
		Direction:        ingest.Import,
		DeclaredAt:       at,
		Port:             port.code,
		TradeMode:        tradeModes[sc.trade].code,
		TransportMode:    "2",
		Consignee:        ingest.Enterprise{USCC: e.uscc, CustomsCode: e.customs, Name: e.name},
		Consignor:        ingest.Enterprise{CustomsCode: consCode, Name: consName},
		Declarant:        g.declarants[sc.decl].code,
		TradingCountry:   trading,
		DepartureCountry: load[:2],
		LoadingPort:      load,
		Attributes:       map[string]string{"payment_type": paymentTypes[e.payment].code},
	}
	if sc.air {
		d.TransportMode = "5"
	}

	var revenue float64
	severity := 0
	items := make([]ingest.Item, sc.n)
	var gross, valueUSD0 float64
	for i := 0; i < sc.n; i++ {
		x := &catalogue[sc.prod[i]]
		it := &items[i]
		it.Seq = i + 1
		kg := sc.kg[i]
		usd := kg * sc.usdPerKg[i]
		dx := x
		if i == 0 && kinds[kHS] {
			dx = &catalogue[x.cheaperIdx]
			rev := usd * cnyPerUSD * (x.duty - dx.duty) * (1 + x.vat)
			revenue += rev
			severity = max(severity, 2+b2i(rev > 50000))
		}
		it.HSCode = dx.hs6 + dx.nat[r.IntN(len(dx.nat))]
		it.CIQCode = "999"
		it.Description = dx.zh
		it.Unit = dx.unit
		if dx.kgPerUnit > 0 {
			it.Quantity = math.Max(1, math.Round(kg/dx.kgPerUnit*math.Exp(0.08*r.NormFloat64())))
		} else {
			it.Quantity = kg
		}
		it.NetWeightKg = kg
		it.GrossWeightKg = math.Round(kg*(1.02+0.1*r.Float64())*100) / 100
		gross += it.GrossWeightKg
		declUSD := usd
		if i == 0 {
			valueUSD0 = usd
			if kinds[kUV] {
				f := 0.25 + 0.45*r.Float64()
				if r.Float64() < 0.2 {
					f = 0.7 + 0.2*r.Float64() // subtle: hides within the price spread
				}
				declUSD = usd * f
				rev := (usd - declUSD) * cnyPerUSD * (x.duty + x.vat*(1+x.duty))
				revenue += rev
				severity = max(severity, 1+b2i(rev > 10000)+b2i(rev > 100000))
			}
		}
		it.DeclaredValue = math.Max(0.01, math.Round(declUSD*perUSD*100)/100)
		it.Currency = cur
		it.ValueBase = math.Round(it.DeclaredValue*usdRate[cur]*cnyPerUSD*100) / 100
		it.OriginCountry = sc.origin[i]
		if sc.origin[i] == trueOrigin {
			it.OriginCountry = declOrigin
		}
		it.Purpose = "01"
		if tradeModes[sc.trade].code == "2225" {
			it.Purpose = "04"
		}
	}
	d.Items = items
	if kinds[kOR] {
		rate := x0.duty
		for _, o := range x0.remedy {
			if o == trueOrigin {
				rate += x0.remedyRate
			}
		}
		revenue += valueUSD0 * cnyPerUSD * rate * (1 + x0.vat)
		severity = max(severity, 2+b2i(rate > x0.duty))
	}
	if kinds[kQP] {
		severity = max(severity, 3)
	}

	// Containers, bill of lading, vessel.
	ca := &carriers[cons.carrier]
	g.blSeq++
	if sc.air {
		al := &airlines[int(g.blSeq)%len(airlines)]
		serial := int((g.blSeq*7919 + int64(g.cfg.Seed)) % 10000000)
		var b [11]byte
		copy(b[:3], al.prefix)
		putDigits(b[3:10], serial)
		b[10] = byte('0' + serial%7)
		d.BillOfLading = string(b[:])
		var f [6]byte
		copy(f[:2], al.code)
		putDigits(f[2:], 100+r.IntN(9800))
		d.VesselVoyage = string(f[:])
	} else {
		var b [14]byte
		copy(b[:4], ca.scac)
		putDigits(b[4:], int(g.blSeq+int64(g.cfg.Seed%1000)*1e7))
		d.BillOfLading = string(b[:])
		week := at.Unix() / (7 * 86400)
		vs := g.vessels[cons.carrier]
		v := vs[int(week+int64(len(load)*int(load[2])))%len(vs)]
		var vv [13]byte
		copy(vv[:2], "UN")
		copy(vv[2:9], v.imo)
		vv[9] = '/'
		putDigits(vv[10:12], int(week%100))
		d.VesselVoyage = string(vv[:12]) + dirLetter(load)
		if !x0.bulk {
			nc := min(60, max(1, int(math.Ceil(gross/(16000+8000*r.Float64())))))
			d.Containers = make([]string, 0, nc)
			for len(d.Containers) < nc {
				c := makeContainer(ca.owners[r.IntN(len(ca.owners))], r.IntN(1000000))
				if !contains(d.Containers, c) {
					d.Containers = append(d.Containers, c)
				}
			}
		}
	}

	// The manifest agrees with the declaration unless weight fraud says otherwise; a few
	// clerical deviations keep the indicator honest.
	var m *ingest.Manifest
	if !sc.air && r.Float64() >= 0.01 {
		mg := gross * (1 + 0.004*r.NormFloat64())
		if r.Float64() < 0.03 {
			mg = gross * (0.9 + 0.22*r.Float64())
		}
		containers := append([]string(nil), d.Containers...)
		if kinds[kWT] {
			f := 1.12 + 0.68*r.Float64()
			if r.Float64() < 0.25 {
				f = 1.04 + 0.06*r.Float64() // subtle: near the clerical noise
			}
			if len(containers) > 0 && r.Float64() < 0.4 {
				// A whole container the declaration does not mention.
				containers = append(containers, makeContainer(ca.owners[0], r.IntN(1000000)))
				f = 1 + 1/float64(len(containers)-1)*(0.8+0.4*r.Float64())
				severity = max(severity, 3)
			}
			mg = gross * f
			rev := (f - 1) * valueUSD0 * cnyPerUSD * (x0.duty + x0.vat*(1+x0.duty))
			revenue += rev
			severity = max(severity, 2)
		}
		m = &ingest.Manifest{
			Schema:        ingest.SchemaManifestV1,
			BillOfLading:  d.BillOfLading,
			Carrier:       ca.name,
			VesselIMO:     d.VesselVoyage[2:9],
			Voyage:        d.VesselVoyage[10:],
			LoadingPort:   load,
			Containers:    containers,
			GrossWeightKg: math.Round(mg*100) / 100,
			Packages:      packages(gross, x0, r.Float64()),
			ArrivalAt:     at.Add(-time.Duration((6 + 90*r.Float64()) * float64(time.Hour))).Truncate(time.Minute),
		}
		if hub != "" {
			m.TransshipmentPorts = []string{hub}
		}
		if r.Float64() < 0.1 {
			m.ArrivalAt = at.Add(time.Duration((2 + 46*r.Float64()) * float64(time.Hour))).Truncate(time.Minute) // 提前申报
		}
	} else if kinds[kWT] {
		// Without a manifest to contradict it, the under-declaration is found on the scale.
		revenue += 0.3 * valueUSD0 * cnyPerUSD * (x0.duty + x0.vat*(1+x0.duty))
		severity = max(severity, 2)
	}

	if tr.Hit {
		for k := 0; k < nKinds; k++ {
			if kinds[k] {
				tr.Findings = append(tr.Findings, findingCode[k])
			}
		}
		tr.Severity = max(1, severity)
		tr.Revenue = math.Round(revenue*100) / 100
	}
	return Sample{Decl: d, Manifest: m, Truth: *tr}
}

// number returns the next 18-digit declaration number of a customs office: the 4-digit office,
// the year, 1 for import and a 9-digit sequence restarting every year.
func (g *Generator) number(pi int, at time.Time) string {
	port := g.ports[pi].code
	y := at.In(cst).Year()
	if g.seq[pi]/1e9 != int64(y) {
		g.seq[pi] = int64(y)*1e9 + int64(1+g.r.IntN(5000))
	}
	g.seq[pi]++
	var b [18]byte
	copy(b[:4], port)
	putDigits(b[4:8], y)
	b[8] = '1'
	putDigits(b[9:], int(g.seq[pi]%1e9))
	return string(b[:])
}

var cst = time.FixedZone("CST", 8*3600)

func dirLetter(load string) string {
	if c := countries[load[:2]]; c != nil && !c.far {
		return "N"
	}
	return "W"
}

func packages(gross float64, x *product, u float64) int {
	switch {
	case x.bulk:
		return 1
	case x.air:
		return max(1, int(gross/(10+40*u)))
	}
	return max(1, int(gross/(300+700*u)))
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
