package evaluate

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portguard/portguard/ingest/synth"
)

const issueMapping = `id: DECL_NO                 # unique declaration id column
date: DECL_DATE             # declaration date column
date_format: "2006-01-02"   # Go time layout
fields:                     # portguard field: CSV column (any subset)
  port: OFFICE
  trade_mode: TRADE_MODE
  transport_mode: TRANSPORT
  declarant: AGENT_ID
  importer: IMPORTER_ID
  consignor: SELLER_ID
  hs_code: HS_CODE          # 6 to 10 digits
  departure_country: DEPARTURE
  origin_country: ORIGIN
  net_weight_kg: NET_KG
  quantity: QTY
  declared_value: VALUE
  currency: CURRENCY
attributes: [PAYMENT_TYPE, COURIER_ID]   # extra categorical columns, used by the models as-is
numeric: [TAX_RATE]                      # extra numeric columns
label: FRAUD                # 1/true/yes = hit; 0/false/no = no hit
revenue: RECOVERED          # optional: value recovered when hit
`

const header = "DECL_NO,DECL_DATE,OFFICE,TRADE_MODE,TRANSPORT,AGENT_ID,IMPORTER_ID,SELLER_ID,HS_CODE,DEPARTURE,ORIGIN,NET_KG,QTY,VALUE,CURRENCY,PAYMENT_TYPE,COURIER_ID,TAX_RATE,FRAUD,RECOVERED\n"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustMapping(t *testing.T) *Mapping {
	t.Helper()
	m, err := LoadMapping(writeFile(t, "m.yaml", issueMapping))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTheIssueMappingReadsAGoodRowIntoADeclaration(t *testing.T) {
	m := mustMapping(t)
	csv := header + "D0001,2023-03-05,2248,0110,2,AG1,IMP9,SEL3,851762,USA,us,120.5,10,30000,USD,TT,C7,0.13,yes,4200.5\n" +
		"224820230000000123,2023-03-06,2248,0110,2,AG1,IMP9,SEL3,8517.62.90,DE,DE,5,1,100,CNY,,,,0,\n"
	rows, err := ReadLabelled(strings.NewReader(csv), m, func(line int, reason string) { t.Errorf("line %d reported: %s", line, reason) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	d := r.Decl
	it := d.Items[0]
	checks := []struct {
		name string
		ok   bool
	}{
		{"the label yes is a hit", r.Hit},
		{"revenue is read", r.Revenue == 4200.5},
		{"the line number counts the header", r.Line == 2 && rows[1].Line == 3},
		{"the date is parsed in UTC", r.At.Format("2006-01-02T15:04Z07:00") == "2023-03-05T00:00Z" && d.DeclaredAt.Equal(r.At)},
		{"a non-18-digit id gets a synthetic 18-digit number", len(d.Number) == 18 && isDigits(d.Number) && d.Number == syntheticNumber("D0001")},
		{"the original id is kept as source_id", d.Attributes[SourceIDAttribute] == "D0001"},
		{"an 18-digit id is the number", rows[1].Decl.Number == "224820230000000123" && rows[1].Decl.Attributes[SourceIDAttribute] == ""},
		{"a 6-digit HS code is padded to 10", it.HSCode == "8517620000"},
		{"an HS code with dots is cleaned and padded", rows[1].Decl.Items[0].HSCode == "8517629000"},
		{"alpha-3 and lower-case countries become alpha-2", d.DepartureCountry == "US" && it.OriginCountry == "US"},
		{"the importer and seller are the enterprises' keys", d.Importer().Key() == "IMP9" && d.Consignor.Key() == "SEL3"},
		{"the declarant, port and modes are set", d.Declarant == "AG1" && d.Port == "2248" && d.TradeMode == "0110" && d.TransportMode == "2"},
		{"numbers are read", it.NetWeightKg == 120.5 && it.Quantity == 10 && it.DeclaredValue == 30000 && it.Currency == "USD"},
		{"a foreign value is converted to the base currency", it.ValueBase > 100000},
		{"a CNY value is its own base value", rows[1].Decl.Items[0].ValueBase == 100},
		{"attributes and numeric columns are kept", d.Attributes["PAYMENT_TYPE"] == "TT" && d.Attributes["COURIER_ID"] == "C7" && d.Measures["TAX_RATE"] == 0.13},
		{"empty attribute and numeric cells are absent, not empty or zero", rows[1].Decl.Attributes["PAYMENT_TYPE"] == "" && len(rows[1].Decl.Measures) == 0},
		{"label 0 is no hit and an empty revenue is 0", !rows[1].Hit && rows[1].Revenue == 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not so (row %+v, decl %+v)", c.name, r, *d)
		}
	}
}

func TestBadRowsAreReportedWithLineAndReasonAndSkipped(t *testing.T) {
	m := mustMapping(t)
	good := ",2248,0110,2,AG1,IMP9,SEL3,851762,US,US,1,1,1,USD,TT,C7,0.1,0,\n"
	csv := header +
		"A1,2023-01-01" + good + // line 2: good
		"A2,01/02/2023" + good + // line 3: bad date
		"A3,2023-01-03,2248,0110,2,AG1,IMP9,SEL3,851762,US,US,1,1,1,USD,TT,C7,0.1,maybe,\n" + // line 4: bad label
		"A4,2023-01-04,2248,0110,2,AG1,IMP9,SEL3,8517,US,US,1,1,1,USD,TT,C7,0.1,0,\n" + // line 5: short HS code
		"A5,2023-01-05,2248,0110,2,AG1,IMP9,SEL3,851762,US,US,heavy,1,1,USD,TT,C7,0.1,0,\n" + // line 6: bad number
		"A6,2023-01-06,2248\n" + // line 7: too few fields
		"A1,2023-01-07" + good + // line 8: duplicate id
		",2023-01-08" + good + // line 9: empty id
		"A9,2023-01-09,2248,0110,2,AG1,IMP9,SEL3,851762,US,US,1,1,1,USD,TT,C7,high,0,\n" + // line 10: bad numeric column
		"A10,2023-01-10,2248,0110,2,AG1,IMP9,SEL3,851762,US,US,-4,1,1,USD,TT,C7,0.1,0,\n" + // line 11: negative weight
		"A11,2023-01-11" + good // line 12: good
	var got []string
	var lines []int
	rows, err := ReadLabelled(strings.NewReader(csv), m, func(line int, reason string) {
		lines = append(lines, line)
		got = append(got, reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Line != 2 || rows[1].Line != 12 {
		t.Fatalf("kept %d rows %+v, want lines 2 and 12", len(rows), rows)
	}
	want := []struct {
		line int
		text string
	}{
		{3, "date"}, {4, "label"}, {5, "hs_code"}, {6, "net_weight_kg"}, {7, "fields"},
		{8, "duplicate id \"A1\" (first on line 2)"}, {9, "empty id"}, {10, "TAX_RATE"}, {11, "net_weight_kg"},
	}
	if len(got) != len(want) {
		t.Fatalf("reports %v at lines %v", got, lines)
	}
	for i, w := range want {
		if lines[i] != w.line || !strings.Contains(got[i], w.text) {
			t.Errorf("report %d: line %d %q, want line %d mentioning %q", i, lines[i], got[i], w.line, w.text)
		}
	}
}

func TestAWrongMappingFailsFast(t *testing.T) {
	m := mustMapping(t)
	noCourier := strings.Replace(header, ",COURIER_ID", "", 1)
	noHS := strings.Replace(noCourier, ",HS_CODE", ",HSCODE", 1)
	_, err := ReadLabelled(strings.NewReader(noHS+"x\n"), m, nil)
	if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), `"COURIER_ID" (attributes)`) || !strings.Contains(err.Error(), `"HS_CODE" (fields.hs_code)`) {
		t.Errorf("error %v, want ErrMapping naming COURIER_ID and HS_CODE", err)
	}
	if _, err := ReadLabelled(strings.NewReader(""), m, nil); !errors.Is(err, ErrMapping) {
		t.Errorf("empty CSV: %v", err)
	}

	tests := []struct {
		name, file, content, want string
	}{
		{"a missing label key is an error", "m.yaml", "id: A\ndate: B\n", "label"},
		{"an unknown field is an error", "m.yaml", "id: A\ndate: B\nlabel: C\nfields: {hs: H}\n", "unknown field(s) hs"},
		{"an unknown top-level key is an error", "m.yaml", "id: A\ndate: B\nlabel: C\nlabels: D\n", "labels"},
		{"JSON with an unknown key is an error", "m.json", `{"id":"A","date":"B","label":"C","extra":1}`, "extra"},
		{"malformed YAML is an error", "m.yaml", "id: [\n", "bad mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadMapping(writeFile(t, tt.file, tt.content))
			if !errors.Is(err, ErrMapping) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrMapping mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := LoadMapping(filepath.Join(t.TempDir(), "absent.yaml")); err == nil || errors.Is(err, ErrMapping) {
		t.Errorf("absent file: %v", err)
	}
	m2, err := LoadMapping(writeFile(t, "m.json", `{"id":"A","date":"B","label":"C","fields":{"hs_code":"H"}}`))
	if err != nil || m2.DateFormat != "2006-01-02" || m2.Fields["hs_code"] != "H" {
		t.Errorf("JSON mapping: %+v %v", m2, err)
	}
}

func TestTheGeneratorsCSVReadsBackThroughItsMapping(t *testing.T) {
	g := synth.New(synth.DefaultConfig())
	samples := make([]synth.Sample, 3000)
	for i := range samples {
		samples[i] = g.Next()
	}
	var buf bytes.Buffer
	if err := synth.WriteCSV(&buf, samples...); err != nil {
		t.Fatal(err)
	}
	m, err := ParseMapping(synth.Mapping(), false)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadLabelled(&buf, m, func(line int, reason string) { t.Errorf("line %d: %s", line, reason) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(samples) {
		t.Fatalf("%d rows for %d samples", len(rows), len(samples))
	}
	for i, r := range rows {
		s := samples[i]
		if r.Decl.Number != s.Decl.Number || r.Hit != s.Truth.Hit || r.Revenue != s.Truth.Revenue || !r.At.Equal(s.Decl.DeclaredAt) ||
			r.Decl.Items[0].HSCode != s.Decl.Items[0].HSCode || r.Decl.Importer().Key() != s.Decl.Importer().Key() ||
			r.Decl.Attributes["PAYMENT_TYPE"] != s.Decl.Attributes["payment_type"] {
			t.Fatalf("row %d: %+v does not match sample %+v", i, r, s)
		}
	}
}
