package ingest

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// This file writes the declaration's wire form without reflection. The bytes are exactly those
// encoding/json produced for the same value before (field order, omitempty, HTML escaping,
// float formatting, sorted attribute keys): the stored raw JSON, the spool and every consumer
// see no difference. TestAppendJSONMatchesEncodingJSON holds it to that.

// AppendJSON appends the declaration's wire form (what MarshalJSON returns) to b. It fails, like
// encoding/json, on a NaN or infinite number and on a time outside RFC 3339.
func (d *Declaration) AppendJSON(b []byte) ([]byte, error) {
	e := jsonEnc{b: b}
	e.raw(`{"schema":`)
	e.str(d.Schema)
	e.raw(`,"declaration_no":`)
	e.str(d.Number)
	e.raw(`,"version":`)
	e.int(d.Version)
	e.raw(`,"direction":`)
	e.str(string(d.Direction))
	e.raw(`,"declared_at":`)
	e.time(d.DeclaredAt)
	e.raw(`,"port":`)
	e.str(d.Port)
	e.raw(`,"trade_mode":`)
	e.str(d.TradeMode)
	e.raw(`,"transport_mode":`)
	e.str(d.TransportMode)
	e.raw(`,"consignee":`)
	e.enterprise(&d.Consignee)
	e.raw(`,"consignor":`)
	e.enterprise(&d.Consignor)
	e.raw(`,"declarant":`)
	e.str(d.Declarant)
	e.optStr(`,"trading_country":`, d.TradingCountry)
	e.optStr(`,"departure_country":`, d.DepartureCountry)
	e.optStr(`,"loading_port":`, d.LoadingPort)
	e.optStr(`,"bill_of_lading":`, d.BillOfLading)
	e.optStr(`,"vessel_voyage":`, d.VesselVoyage)
	if len(d.Containers) > 0 {
		e.raw(`,"containers":[`)
		for i, c := range d.Containers {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.str(c)
		}
		e.b = append(e.b, ']')
	}
	e.raw(`,"items":`)
	if d.Items == nil {
		e.raw("null")
	} else {
		e.b = append(e.b, '[')
		for i := range d.Items {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.item(&d.Items[i])
		}
		e.b = append(e.b, ']')
	}
	e.raw(`,"cross_check":{"joined":`)
	e.bool(d.Check.Joined)
	e.raw(`,"weight_deviation":`)
	e.float(d.Check.WeightDeviation)
	e.raw(`,"origin_route_mismatch":`)
	e.bool(d.Check.OriginRouteMismatch)
	e.raw(`,"undeclared_containers":`)
	e.int(d.Check.UndeclaredContainers)
	// omitempty never omits a struct: the zero time is written too.
	e.raw(`},"received_at":`)
	e.time(d.ReceivedAt)
	if len(d.Attributes)+len(d.Measures) > 0 {
		e.attributes(d.Attributes, d.Measures)
	}
	e.b = append(e.b, '}')
	if e.err != nil {
		return b, e.err
	}
	return e.b, nil
}

// jsonEnc appends JSON to b, remembering the first error.
type jsonEnc struct {
	b   []byte
	err error
}

func (e *jsonEnc) raw(s string) { e.b = append(e.b, s...) }

func (e *jsonEnc) str(s string) { e.b = appendJSONString(e.b, s) }

// optStr writes a string field tagged omitempty; key carries its leading comma.
func (e *jsonEnc) optStr(key, s string) {
	if s != "" {
		e.b = append(e.b, key...)
		e.b = appendJSONString(e.b, s)
	}
}

func (e *jsonEnc) int(v int) { e.b = strconv.AppendInt(e.b, int64(v), 10) }

func (e *jsonEnc) bool(v bool) { e.b = strconv.AppendBool(e.b, v) }

func (e *jsonEnc) float(f float64) {
	var err error
	if e.b, err = appendJSONFloat(e.b, f); err != nil && e.err == nil {
		e.err = err
	}
}

func (e *jsonEnc) time(t time.Time) {
	e.b = append(e.b, '"')
	b, err := t.AppendText(e.b)
	if err != nil {
		if e.err == nil {
			e.err = errors.New("Time.MarshalJSON: " + err.Error())
		}
		return
	}
	e.b = append(b, '"')
}

func (e *jsonEnc) enterprise(p *Enterprise) {
	e.b = append(e.b, '{')
	n := len(e.b)
	field := func(key, v string) {
		if v == "" {
			return
		}
		if len(e.b) > n {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, key...)
		e.b = appendJSONString(e.b, v)
	}
	field(`"uscc":`, p.USCC)
	field(`"customs_code":`, p.CustomsCode)
	field(`"name":`, p.Name)
	e.b = append(e.b, '}')
}

func (e *jsonEnc) item(it *Item) {
	e.raw(`{"seq":`)
	e.int(it.Seq)
	e.raw(`,"hs_code":`)
	e.str(it.HSCode)
	e.optStr(`,"ciq_code":`, it.CIQCode)
	e.optStr(`,"description":`, it.Description)
	e.raw(`,"quantity":`)
	e.float(it.Quantity)
	e.optStr(`,"unit":`, it.Unit)
	e.raw(`,"net_weight_kg":`)
	e.float(it.NetWeightKg)
	if it.GrossWeightKg != 0 {
		e.raw(`,"gross_weight_kg":`)
		e.float(it.GrossWeightKg)
	}
	e.raw(`,"declared_value":`)
	e.float(it.DeclaredValue)
	e.raw(`,"currency":`)
	e.str(it.Currency)
	e.raw(`,"origin_country":`)
	e.str(it.OriginCountry)
	e.optStr(`,"purpose":`, it.Purpose)
	if it.ValueBase != 0 {
		e.raw(`,"value_base":`)
		e.float(it.ValueBase)
	}
	e.b = append(e.b, '}')
}

// attributes writes the merged "attributes" object, keys sorted; a key in both maps is written
// from attrs (as MarshalJSON always did).
func (e *jsonEnc) attributes(attrs map[string]string, measures map[string]float64) {
	var buf [16]string
	keys := buf[:0]
	for k := range attrs {
		keys = append(keys, k)
	}
	for k := range measures {
		if _, dup := attrs[k]; !dup {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	e.raw(`,"attributes":{`)
	for i, k := range keys {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		if s, ok := attrs[k]; ok {
			e.str(s)
		} else {
			e.float(measures[k])
		}
	}
	e.b = append(e.b, '}')
}

// appendJSONFloat formats f as encoding/json does (ES6 number formatting).
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, errors.New("json: unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as encoding/json does with HTML escaping: <, > and & as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// JSONWriter appends JSON without reflection, writing exactly the bytes encoding/json writes for
// the same values (HTML-escaped strings, ES6 float formatting, RFC 3339 times): the base of
// hand-written encoders on hot paths in other packages, such as targeting's decisions. The zero
// value writes into a new buffer; Reset reuses one. It remembers the first error (a NaN or
// infinite number, a time outside RFC 3339) and returns it from Bytes.
type JSONWriter struct{ e jsonEnc }

// Reset starts writing at the end of b.
func (w *JSONWriter) Reset(b []byte) { w.e = jsonEnc{b: b} }

// Raw appends s as it is: punctuation and quoted keys.
func (w *JSONWriter) Raw(s string) { w.e.raw(s) }

// String appends s as a JSON string.
func (w *JSONWriter) String(s string) { w.e.str(s) }

// Int appends an integer.
func (w *JSONWriter) Int(v int) { w.e.int(v) }

// Bool appends true or false.
func (w *JSONWriter) Bool(v bool) { w.e.bool(v) }

// Float appends a number as encoding/json formats a float64.
func (w *JSONWriter) Float(f float64) { w.e.float(f) }

// Time appends t as encoding/json does (RFC 3339 with nanoseconds, quoted).
func (w *JSONWriter) Time(t time.Time) { w.e.time(t) }

// Bytes returns what was written and the first error.
func (w *JSONWriter) Bytes() ([]byte, error) { return w.e.b, w.e.err }
