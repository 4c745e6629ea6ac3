package synth

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/portguard/portguard/ingest"
)

// The encoders append to a caller's buffer and allocate nothing else, because `portguard gen`
// writes millions of rows: encoding/json on the same structs costs several times more.

// JSON returns the declaration of s as a wire message (schema portguard.declaration/v1), the way
// an electronic port sends it: no received_at, cross_check or value_base, which ingest fills.
func (g *Generator) JSON(s Sample) []byte { return AppendJSON(make([]byte, 0, 1024), s.Decl) }

// AppendJSON appends the wire JSON of a declaration to dst.
func AppendJSON(dst []byte, d *ingest.Declaration) []byte {
	b := append(dst, `{"schema":`...)
	b = appendString(b, d.Schema)
	b = append(b, `,"declaration_no":`...)
	b = appendString(b, d.Number)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(d.Version), 10)
	b = append(b, `,"direction":`...)
	b = appendString(b, string(d.Direction))
	b = append(b, `,"declared_at":`...)
	b = appendTime(b, d.DeclaredAt)
	b = append(b, `,"port":`...)
	b = appendString(b, d.Port)
	b = append(b, `,"trade_mode":`...)
	b = appendString(b, d.TradeMode)
	b = append(b, `,"transport_mode":`...)
	b = appendString(b, d.TransportMode)
	b = append(b, `,"consignee":`...)
	b = appendEnterprise(b, &d.Consignee)
	b = append(b, `,"consignor":`...)
	b = appendEnterprise(b, &d.Consignor)
	b = append(b, `,"declarant":`...)
	b = appendString(b, d.Declarant)
	b = appendOptString(b, `,"trading_country":`, d.TradingCountry)
	b = appendOptString(b, `,"departure_country":`, d.DepartureCountry)
	b = appendOptString(b, `,"loading_port":`, d.LoadingPort)
	b = appendOptString(b, `,"bill_of_lading":`, d.BillOfLading)
	b = appendOptString(b, `,"vessel_voyage":`, d.VesselVoyage)
	if len(d.Containers) > 0 {
		b = append(b, `,"containers":`...)
		b = appendStrings(b, d.Containers)
	}
	b = append(b, `,"items":[`...)
	for i := range d.Items {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendItem(b, &d.Items[i])
	}
	b = append(b, ']')
	if len(d.Attributes)+len(d.Measures) > 0 {
		b = append(b, `,"attributes":{`...)
		b = appendAttributes(b, d)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendItem(b []byte, it *ingest.Item) []byte {
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, int64(it.Seq), 10)
	b = append(b, `,"hs_code":`...)
	b = appendString(b, it.HSCode)
	b = appendOptString(b, `,"ciq_code":`, it.CIQCode)
	b = appendOptString(b, `,"description":`, it.Description)
	b = append(b, `,"quantity":`...)
	b = appendFloat(b, it.Quantity)
	b = appendOptString(b, `,"unit":`, it.Unit)
	b = append(b, `,"net_weight_kg":`...)
	b = appendFloat(b, it.NetWeightKg)
	if it.GrossWeightKg != 0 {
		b = append(b, `,"gross_weight_kg":`...)
		b = appendFloat(b, it.GrossWeightKg)
	}
	b = append(b, `,"declared_value":`...)
	b = appendFloat(b, it.DeclaredValue)
	b = append(b, `,"currency":`...)
	b = appendString(b, it.Currency)
	b = append(b, `,"origin_country":`...)
	b = appendString(b, it.OriginCountry)
	b = appendOptString(b, `,"purpose":`, it.Purpose)
	return append(b, '}')
}

// appendAttributes writes Attributes (strings) and Measures (numbers) in key order, so that the
// output is deterministic; a key in both is written from Attributes, as ingest does.
func appendAttributes(b []byte, d *ingest.Declaration) []byte {
	var stack [16]string
	keys := stack[:0]
	for k := range d.Attributes {
		keys = append(keys, k)
	}
	for k := range d.Measures {
		if _, dup := d.Attributes[k]; !dup {
			keys = append(keys, k)
		}
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		if s, ok := d.Attributes[k]; ok {
			b = appendString(b, s)
		} else {
			b = appendFloat(b, d.Measures[k])
		}
	}
	return b
}

func appendEnterprise(b []byte, e *ingest.Enterprise) []byte {
	b = append(b, '{')
	n := len(b)
	if e.USCC != "" {
		b = append(b, `"uscc":`...)
		b = appendString(b, e.USCC)
	}
	if e.CustomsCode != "" {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, `"customs_code":`...)
		b = appendString(b, e.CustomsCode)
	}
	if e.Name != "" {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, `"name":`...)
		b = appendString(b, e.Name)
	}
	return append(b, '}')
}

// AppendManifestJSON appends the wire JSON of a manifest (schema portguard.manifest/v1) to dst.
func AppendManifestJSON(dst []byte, m *ingest.Manifest) []byte {
	b := append(dst, `{"schema":`...)
	b = appendString(b, m.Schema)
	b = append(b, `,"bill_of_lading":`...)
	b = appendString(b, m.BillOfLading)
	b = append(b, `,"carrier":`...)
	b = appendString(b, m.Carrier)
	b = append(b, `,"vessel_imo":`...)
	b = appendString(b, m.VesselIMO)
	b = append(b, `,"voyage":`...)
	b = appendString(b, m.Voyage)
	b = append(b, `,"loading_port":`...)
	b = appendString(b, m.LoadingPort)
	if len(m.TransshipmentPorts) > 0 {
		b = append(b, `,"transshipment_ports":`...)
		b = appendStrings(b, m.TransshipmentPorts)
	}
	if len(m.Containers) > 0 {
		b = append(b, `,"containers":`...)
		b = appendStrings(b, m.Containers)
	}
	b = append(b, `,"gross_weight_kg":`...)
	b = appendFloat(b, m.GrossWeightKg)
	b = append(b, `,"packages":`...)
	b = strconv.AppendInt(b, int64(m.Packages), 10)
	b = append(b, `,"arrival_at":`...)
	b = appendTime(b, m.ArrivalAt)
	return append(b, '}')
}

// AppendTruthJSON appends the hidden truth of a declaration as one JSON object:
// {"declaration_no":…,"hit":…,"severity":…,"revenue":…,"findings":[…]}.
func AppendTruthJSON(dst []byte, number string, t Truth) []byte {
	b := append(dst, `{"declaration_no":`...)
	b = appendString(b, number)
	b = append(b, `,"hit":`...)
	b = strconv.AppendBool(b, t.Hit)
	b = append(b, `,"severity":`...)
	b = strconv.AppendInt(b, int64(t.Severity), 10)
	b = append(b, `,"revenue":`...)
	b = appendFloat(b, t.Revenue)
	b = append(b, `,"findings":`...)
	b = appendStrings(b, t.Findings)
	return append(b, '}')
}

// WriteJSONLines writes each sample as wire messages, one per line: the declaration, then its
// manifest when it has one. Each line carries its schema, so one file holds both kinds.
func WriteJSONLines(w io.Writer, samples ...Sample) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 4096)
	for i := range samples {
		buf = AppendJSON(buf[:0], samples[i].Decl)
		buf = append(buf, '\n')
		if m := samples[i].Manifest; m != nil {
			buf = AppendManifestJSON(buf, m)
			buf = append(buf, '\n')
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendString writes a JSON string, escaping quotes, backslashes and control characters; valid
// UTF-8 (the Chinese descriptions) passes through.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, `\ufffd`...)
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
