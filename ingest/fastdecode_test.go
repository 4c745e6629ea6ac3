package ingest

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// strictDeclaration is the encoding/json path the fast decoder stands in for: decodeStrict into
// the wire form, then splitAttributes.
func strictDeclaration(raw []byte) (*Declaration, bool) {
	d := &Declaration{}
	in := declarationIn{declarationFields: (*declarationFields)(d)}
	if err := decodeStrict(raw, &in); err != nil {
		return nil, false
	}
	if errs := splitAttributes(d, in.Attributes); len(errs) > 0 {
		return nil, false
	}
	return d, true
}

// agree fails when the fast decoder accepts raw and the encoding/json path does not, or when
// both accept it with different results.
func agree(t *testing.T, raw []byte) (fast bool) {
	t.Helper()
	d := &Declaration{}
	if !fastDeclaration(raw, d) {
		return false
	}
	want, ok := strictDeclaration(raw)
	if !ok {
		t.Fatalf("fast decoder accepted what encoding/json refuses:\n%s", raw)
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("fast decoder disagrees on\n%s\n got %+v\nwant %+v", raw, d, want)
	}
	return true
}

// TestFastDecoderAgreesWithEncodingJSON: on the golden messages, on every variation below and on
// thousands of random mutations, the fast decoder either gives up or decodes exactly what the
// strict encoding/json path decodes — and it does not give up on ordinary messages.
func TestFastDecoderAgreesWithEncodingJSON(t *testing.T) {
	golden := mustRead(t, "golden/declaration_import.json")
	export := mustRead(t, "golden/declaration_export.json")
	for _, raw := range [][]byte{golden, export, BenchDeclarationJSONForTest(7)} {
		if !agree(t, raw) {
			t.Fatalf("the fast decoder gave up on an ordinary declaration:\n%s", raw)
		}
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(golden, []byte(old)) {
			t.Fatalf("golden has no %q", old)
		}
		return bytes.Replace(golden, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		raw  []byte
		fast bool // whether the fast decoder is expected to take it on
	}{
		{"escaped strings are unquoted as encoding/json does", replace(`"鲜香蕉"`, `"\u9c9c\u9999\u8549 \"x\" \/ \ud83d\udea2 \ud800"`), true},
		{"invalid UTF-8 is replaced as encoding/json does", replace(`"鲜香蕉"`, "\"bad \xff\xfe\""), true},
		{"an empty containers array stays empty, not nil", replace(`["MSKU9070323", "tghu 876543-6"]`, `[]`), true},
		{"cross check and received_at of a re-submitted declaration are read", replace(`"port":`, `"cross_check": {"joined": true, "weight_deviation": 0.5, "origin_route_mismatch": false, "undeclared_containers": 2}, "received_at": "2026-03-02T01:00:00.5Z", "port":`), true},
		{"an empty attributes object gives no maps", replace(`{"payment_type": "TT", "courier_id": "C-0042", "tax_rate": 0.09}`, `{}`), true},
		{"numbers in every JSON form are parsed alike", replace(`"quantity": 20000`, `"quantity": -0.5e+2`), true},
		{"minus zero is an integer", replace(`"version": 1`, `"version": -0`), true},
		{"a repeated key is left to encoding/json", replace(`"port": "2229"`, `"port": "2229", "port": "2230"`), false},
		{"a repeated attribute is left to encoding/json", replace(`"tax_rate": 0.09`, `"tax_rate": 0.09, "tax_rate": "x"`), false},
		{"a differently cased key is left to encoding/json", replace(`"port":`, `"Port":`), false},
		{"an escaped key is left to encoding/json", replace(`"port":`, `"p\u006frt":`), false},
		{"null is left to encoding/json", replace(`"port": "2229"`, `"port": null`), false},
		{"a fractional version is left to encoding/json", replace(`"version": 1`, `"version": 1.0`), false},
		{"an out-of-range number is left to encoding/json", replace(`"quantity": 20000`, `"quantity": 1e400`), false},
		{"a boolean attribute is left to encoding/json", replace(`"tax_rate": 0.09`, `"tax_rate": true`), false},
		{"an unknown field is left to encoding/json", replace(`"port":`, `"colour": "red", "port":`), false},
		{"a leading zero is left to encoding/json", replace(`"version": 1`, `"version": 01`), false},
		{"trailing data is left to encoding/json", append(append([]byte{}, golden...), []byte(` {}`)...), false},
		{"a bad date is left to encoding/json", replace(`"2026-03-02T09:30:00+08:00"`, `"2026-03-02 09:30"`), false},
		{"a number for a string is left to encoding/json", replace(`"port": "2229"`, `"port": 2229`), false},
		{"a raw control character is left to encoding/json", replace(`"鲜香蕉"`, "\"a\tb\""), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := agree(t, c.raw); got != c.fast {
				t.Fatalf("fast decoder took it on: %v, want %v", got, c.fast)
			}
		})
	}

	// Random mutations of every seed message: byte edits and structural splices.
	seeds := [][]byte{golden, export}
	for _, dir := range []string{"golden", "malformed"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, f := range files {
			seeds = append(seeds, mustRead(t, strings.TrimPrefix(f, "testdata/")))
		}
	}
	pieces := []string{`"`, `\`, `\u00e9`, `null`, `true`, `-`, `0`, `1e5`, `.`, `,`, `:`, `{`, `}`, `[`, `]`, ` `, "\xff", `"a":1`, `"seq":2`}
	r := rand.New(rand.NewPCG(3, 4))
	var took int
	for range 30000 {
		b := append([]byte{}, seeds[r.IntN(len(seeds))]...)
		for range 1 + r.IntN(3) {
			i := r.IntN(len(b) + 1)
			switch r.IntN(3) {
			case 0: // delete a byte
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			case 1: // insert a piece
				b = append(b[:i], append([]byte(pieces[r.IntN(len(pieces))]), b[i:]...)...)
			case 2: // replace a byte
				if i < len(b) {
					b[i] = pieces[r.IntN(len(pieces))][0]
				}
			}
		}
		if agree(t, b) {
			took++
		}
	}
	if took == 0 {
		t.Fatal("no mutation was decoded by the fast path: the test exercises nothing")
	}
	t.Logf("fast decoder took on %d of 30000 mutations", took)
}

func FuzzFastDecoder(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		agree(t, raw)
	})
}

// BenchDeclarationJSONForTest is a realistic three-item declaration as a producer sends it.
func BenchDeclarationJSONForTest(i int) []byte {
	b, err := json.Marshal(benchDeclaration(i))
	if err != nil {
		panic(err)
	}
	return b
}
