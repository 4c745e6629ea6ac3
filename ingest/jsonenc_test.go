package ingest

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// declarationOut is how MarshalJSON used to build the wire form through encoding/json: every
// field plus one "attributes" object. It is the reference AppendJSON must match byte for byte.
type declarationOut struct {
	*declarationFields
	Attributes map[string]any `json:"attributes,omitempty"`
}

func reflectMarshal(d *Declaration) ([]byte, error) {
	c := *d
	out := declarationOut{declarationFields: (*declarationFields)(&c)}
	if n := len(d.Attributes) + len(d.Measures); n > 0 {
		out.Attributes = make(map[string]any, n)
		for k, v := range d.Measures {
			out.Attributes[k] = v
		}
		for k, v := range d.Attributes {
			out.Attributes[k] = v
		}
	}
	return json.Marshal(out)
}

var trickyStrings = []string{
	"", "5301", "上海浦东某进出口有限公司", `a"quote`, `back\slash`, "<script>&amp;</script>", "tab\there",
	"nl\ncr\rbs\bff\f", "\x00\x01\x1f", "del\x7f", "bad\xffutf8", "\xe4\xb8", "line\u2028para\u2029", "emoji 🚢",
	"MSKU9070323", "  spaced  ", "é", "\\u0041",
}

var trickyFloats = []float64{0, math.Copysign(0, -1), 1, -1.5, 0.09, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789.125,
	5e-324, math.MaxFloat64, 35000, 0.1 + 0.2, 1e-9, -2.5e-10}

func randomDeclaration(r *rand.Rand) *Declaration {
	str := func() string { return trickyStrings[r.IntN(len(trickyStrings))] }
	flt := func() float64 { return trickyFloats[r.IntN(len(trickyFloats))] }
	tm := func() time.Time {
		switch r.IntN(5) {
		case 0:
			return time.Time{}
		case 1:
			return time.Date(2026, 3, 2, 9, 30, 0, 0, time.FixedZone("", 8*3600))
		case 2:
			return time.Date(2026, 3, 2, 1, 30, 0, 123456789, time.UTC)
		case 3:
			return time.Date(1999, 12, 31, 23, 59, 59, 1000, time.FixedZone("", -(5*3600+30*60)))
		}
		return time.Unix(r.Int64N(4e9), r.Int64N(1e9)).In(RateZone)
	}
	strs := func() []string {
		switch r.IntN(3) {
		case 0:
			return nil
		case 1:
			return []string{}
		}
		s := make([]string, 1+r.IntN(3))
		for i := range s {
			s[i] = str()
		}
		return s
	}
	d := &Declaration{
		Schema: str(), Number: str(), Version: r.IntN(5) - 1, Direction: Direction(str()), DeclaredAt: tm(),
		Port: str(), TradeMode: str(), TransportMode: str(),
		Consignee: Enterprise{USCC: str(), CustomsCode: str(), Name: str()},
		Consignor: Enterprise{Name: str()},
		Declarant: str(), TradingCountry: str(), DepartureCountry: str(), LoadingPort: str(),
		BillOfLading: str(), VesselVoyage: str(), Containers: strs(),
		Check:      CrossCheck{Joined: r.IntN(2) == 0, WeightDeviation: flt(), OriginRouteMismatch: r.IntN(2) == 0, UndeclaredContainers: r.IntN(3)},
		ReceivedAt: tm(),
	}
	if r.IntN(4) == 0 {
		d.Consignor = Enterprise{}
	}
	switch r.IntN(4) {
	case 0:
	case 1:
		d.Items = []Item{}
	default:
		for i := range 1 + r.IntN(4) {
			d.Items = append(d.Items, Item{Seq: i + 1, HSCode: str(), CIQCode: str(), Description: str(), Quantity: flt(),
				Unit: str(), NetWeightKg: flt(), GrossWeightKg: flt(), DeclaredValue: flt(), Currency: str(),
				OriginCountry: str(), Purpose: str(), ValueBase: flt()})
		}
	}
	if r.IntN(3) > 0 {
		d.Attributes = map[string]string{}
		for range r.IntN(4) {
			d.Attributes[str()] = str()
		}
	}
	if r.IntN(3) > 0 {
		d.Measures = map[string]float64{}
		for range r.IntN(4) {
			d.Measures[str()] = flt()
		}
	}
	return d
}

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes exactly the bytes the
// reflective encoding/json path wrote, for ordinary and hostile values alike, and fails where
// it failed.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		d := randomDeclaration(r)
		want, werr := reflectMarshal(d)
		got, gerr := d.AppendJSON(nil)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("case %d: errors differ: encoding/json %v, AppendJSON %v", i, werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
		viaMarshal, err := json.Marshal(d)
		if werr == nil && (err != nil || !bytes.Equal(viaMarshal, want)) {
			t.Fatalf("case %d: json.Marshal(d) = %s, %v", i, viaMarshal, err)
		}
	}
}

// TestAppendJSONRefusesWhatJSONCannotHold: NaN, infinities and years beyond 9999 are errors,
// not corrupt JSON.
func TestAppendJSONRefusesWhatJSONCannotHold(t *testing.T) {
	cases := []struct {
		name string
		mod  func(d *Declaration)
		want string
	}{
		{"a NaN weight deviation is refused", func(d *Declaration) { d.Check.WeightDeviation = math.NaN() }, "NaN"},
		{"an infinite measure is refused", func(d *Declaration) { d.Measures = map[string]float64{"x": math.Inf(1)} }, "+Inf"},
		{"a year beyond 9999 is refused", func(d *Declaration) { d.ReceivedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "year"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := benchDeclaration(1)
			c.mod(d)
			if _, err := d.AppendJSON(nil); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
			if _, err := json.Marshal(d); err == nil {
				t.Fatal("json.Marshal accepted it")
			}
		})
	}
}

func BenchmarkDeclarationAppendJSON(b *testing.B) {
	d := benchDeclaration(7)
	d.ReceivedAt = time.Now()
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = d.AppendJSON(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
