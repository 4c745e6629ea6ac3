package ingest

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// A hand-written decoder for the declaration wire form: the common case, decoded in one pass
// over the bytes without reflection. It takes on only what it can decode exactly as the strict
// encoding/json path does (decodeStrict followed by splitAttributes) and gives up on anything
// else — an unknown, repeated or differently cased key, a null, a value of another type, a
// number encoding/json would refuse for its field, a syntax error, trailing data. Giving up
// costs nothing but time: the caller then runs the encoding/json paths, which find and report
// every problem as before. TestFastDecoderAgreesWithEncodingJSON holds the two to the same
// results.

// fastDeclaration decodes raw into d (a zero Declaration) and reports whether it could. When it
// returns false, d holds partial results and must be discarded.
func fastDeclaration(raw []byte, d *Declaration) bool {
	p := fastParser{b: raw}
	p.ws()
	if !p.declaration(d) {
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

type fastParser struct {
	b []byte
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c.
func (p *fastParser) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// peek skips whitespace and returns the next byte (0 at the end).
func (p *fastParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// object runs field for each member of an object; field returns false to give up. A key is
// returned raw (no escapes allowed); callers use it to find their field and reject repeats.
func (p *fastParser) object(field func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.rawString()
		if !ok || !p.next(':') {
			return false
		}
		p.ws()
		if !field(key) {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next('}')
	}
}

// rawString consumes a string without escapes and returns its bytes between the quotes. Escapes,
// control characters and invalid UTF-8 make it give up (encoding/json would unescape or replace
// them; str handles that case).
func (p *fastParser) rawString() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			p.i = j + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// literal consumes a string literal, escapes allowed, and returns it with its quotes.
func (p *fastParser) literal() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	for j := p.i + 1; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			lit := p.b[p.i : j+1]
			p.i = j + 1
			return lit, true
		case c == '\\':
			j++
		case c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str decodes a string value as encoding/json does.
func (p *fastParser) str(dst *string) bool {
	save := p.i
	if s, ok := p.rawString(); ok {
		*dst = string(s)
		return true
	}
	// Escapes or invalid UTF-8: rare; let encoding/json unquote this one literal.
	p.i = save
	lit, ok := p.literal()
	if !ok {
		return false
	}
	return json.Unmarshal(lit, dst) == nil
}

// number consumes a JSON number and returns its text.
func (p *fastParser) number() ([]byte, bool) {
	b, i := p.b, p.i
	start := i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	p.i = i
	return b[start:i], true
}

// int decodes an integer field: encoding/json parses the literal with ParseInt, so "1.0" or
// "1e2" are type errors there and a give-up here.
func (p *fastParser) int(dst *int) bool {
	lit, ok := p.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return false
	}
	*dst = int(n)
	return true
}

func (p *fastParser) float(dst *float64) bool {
	lit, ok := p.number()
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil {
		return false
	}
	*dst = f
	return true
}

func (p *fastParser) bool(dst *bool) bool {
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		*dst, p.i = true, p.i+4
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		*dst, p.i = false, p.i+5
	default:
		return false
	}
	return true
}

// time hands the literal to time.Time's UnmarshalJSON, as encoding/json does.
func (p *fastParser) time(dst *time.Time) bool {
	lit, ok := p.literal()
	return ok && dst.UnmarshalJSON(lit) == nil
}

// array runs elem for each element; an empty array leaves the slice empty but not nil, as
// encoding/json does, through start.
func (p *fastParser) array(start func(), elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	start()
	if p.next(']') {
		return true
	}
	for {
		p.ws()
		if !elem() {
			return false
		}
		if p.next(',') {
			continue
		}
		return p.next(']')
	}
}

// seen marks bit in *mask and reports whether it was already set (a repeated key).
func seen(mask *uint64, bit uint) bool {
	if *mask&(1<<bit) != 0 {
		return true
	}
	*mask |= 1 << bit
	return false
}

func (p *fastParser) declaration(d *Declaration) bool {
	var keys uint64
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "schema":
			return !seen(&keys, 0) && p.str(&d.Schema)
		case "declaration_no":
			return !seen(&keys, 1) && p.str(&d.Number)
		case "version":
			return !seen(&keys, 2) && p.int(&d.Version)
		case "direction":
			return !seen(&keys, 3) && p.str((*string)(&d.Direction))
		case "declared_at":
			return !seen(&keys, 4) && p.time(&d.DeclaredAt)
		case "port":
			return !seen(&keys, 5) && p.str(&d.Port)
		case "trade_mode":
			return !seen(&keys, 6) && p.str(&d.TradeMode)
		case "transport_mode":
			return !seen(&keys, 7) && p.str(&d.TransportMode)
		case "consignee":
			return !seen(&keys, 8) && p.enterprise(&d.Consignee)
		case "consignor":
			return !seen(&keys, 9) && p.enterprise(&d.Consignor)
		case "declarant":
			return !seen(&keys, 10) && p.str(&d.Declarant)
		case "trading_country":
			return !seen(&keys, 11) && p.str(&d.TradingCountry)
		case "departure_country":
			return !seen(&keys, 12) && p.str(&d.DepartureCountry)
		case "loading_port":
			return !seen(&keys, 13) && p.str(&d.LoadingPort)
		case "bill_of_lading":
			return !seen(&keys, 14) && p.str(&d.BillOfLading)
		case "vessel_voyage":
			return !seen(&keys, 15) && p.str(&d.VesselVoyage)
		case "containers":
			return !seen(&keys, 16) && p.array(func() { d.Containers = make([]string, 0, 4) }, func() bool {
				var s string
				if !p.str(&s) {
					return false
				}
				d.Containers = append(d.Containers, s)
				return true
			})
		case "items":
			return !seen(&keys, 17) && p.array(func() { d.Items = make([]Item, 0, 4) }, func() bool {
				d.Items = append(d.Items, Item{})
				return p.item(&d.Items[len(d.Items)-1])
			})
		case "attributes":
			return !seen(&keys, 18) && p.attributes(d)
		case "cross_check":
			return !seen(&keys, 19) && p.crossCheck(&d.Check)
		case "received_at":
			return !seen(&keys, 20) && p.time(&d.ReceivedAt)
		}
		return false
	})
}

func (p *fastParser) enterprise(e *Enterprise) bool {
	var keys uint64
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "uscc":
			return !seen(&keys, 0) && p.str(&e.USCC)
		case "customs_code":
			return !seen(&keys, 1) && p.str(&e.CustomsCode)
		case "name":
			return !seen(&keys, 2) && p.str(&e.Name)
		}
		return false
	})
}

func (p *fastParser) item(it *Item) bool {
	var keys uint64
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "seq":
			return !seen(&keys, 0) && p.int(&it.Seq)
		case "hs_code":
			return !seen(&keys, 1) && p.str(&it.HSCode)
		case "ciq_code":
			return !seen(&keys, 2) && p.str(&it.CIQCode)
		case "description":
			return !seen(&keys, 3) && p.str(&it.Description)
		case "quantity":
			return !seen(&keys, 4) && p.float(&it.Quantity)
		case "unit":
			return !seen(&keys, 5) && p.str(&it.Unit)
		case "net_weight_kg":
			return !seen(&keys, 6) && p.float(&it.NetWeightKg)
		case "gross_weight_kg":
			return !seen(&keys, 7) && p.float(&it.GrossWeightKg)
		case "declared_value":
			return !seen(&keys, 8) && p.float(&it.DeclaredValue)
		case "currency":
			return !seen(&keys, 9) && p.str(&it.Currency)
		case "origin_country":
			return !seen(&keys, 10) && p.str(&it.OriginCountry)
		case "purpose":
			return !seen(&keys, 11) && p.str(&it.Purpose)
		case "value_base":
			return !seen(&keys, 12) && p.float(&it.ValueBase)
		}
		return false
	})
}

func (p *fastParser) crossCheck(c *CrossCheck) bool {
	var keys uint64
	return p.object(func(k []byte) bool {
		switch string(k) {
		case "joined":
			return !seen(&keys, 0) && p.bool(&c.Joined)
		case "weight_deviation":
			return !seen(&keys, 1) && p.float(&c.WeightDeviation)
		case "origin_route_mismatch":
			return !seen(&keys, 2) && p.bool(&c.OriginRouteMismatch)
		case "undeclared_containers":
			return !seen(&keys, 3) && p.int(&c.UndeclaredContainers)
		}
		return false
	})
}

// attributes decodes the "attributes" object as splitAttributes sorts it: strings to
// Attributes, numbers to Measures. Any other value, a repeated key or a number ParseFloat
// refuses makes it give up (the slow path reports those).
func (p *fastParser) attributes(d *Declaration) bool {
	return p.object(func(k []byte) bool {
		key := string(k)
		if _, dup := d.Attributes[key]; dup {
			return false
		}
		if _, dup := d.Measures[key]; dup {
			return false
		}
		switch c := p.peek(); {
		case c == '"':
			var s string
			if !p.str(&s) {
				return false
			}
			if d.Attributes == nil {
				d.Attributes = make(map[string]string, 4)
			}
			d.Attributes[key] = s
		case c == '-' || c >= '0' && c <= '9':
			var f float64
			if !p.float(&f) {
				return false
			}
			if d.Measures == nil {
				d.Measures = make(map[string]float64, 2)
			}
			d.Measures[key] = f
		default:
			return false
		}
		return true
	})
}
