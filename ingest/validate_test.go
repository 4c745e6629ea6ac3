package ingest

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustRead(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// goldenMap returns a golden message as a generic map, to be mutated by a test case.
func goldenMap(tb testing.TB, name string) map[string]any {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(mustRead(tb, name), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func item0(m map[string]any) map[string]any { return m["items"].([]any)[0].(map[string]any) }

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func fieldErrors(tb testing.TB, err error) []FieldError {
	tb.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		tb.Fatalf("want *ValidationError, got %T %v", err, err)
	}
	if len(ve.Fields) == 0 {
		tb.Fatal("a ValidationError without fields")
	}
	for _, f := range ve.Fields {
		if f.ZH == "" || f.EN == "" || f.Code == "" {
			tb.Errorf("field error without code or messages: %+v", f)
		}
	}
	return ve.Fields
}

func hasError(fs []FieldError, path, code string) bool {
	for _, f := range fs {
		if f.Path == path && f.Code == code {
			return true
		}
	}
	return false
}

func TestGoldenDeclarationsAreValidAndNormalized(t *testing.T) {
	v := NewValidator(DefaultConfig())
	d, err := v.Declaration(mustRead(t, "golden/declaration_import.json"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"alpha-3 trading country becomes alpha-2", d.TradingCountry, "VN"},
		{"alpha-3 item origin becomes alpha-2", d.Items[0].OriginCountry, "VN"},
		{"HS code loses its dots", d.Items[1].HSCode, "0810909090"},
		{"currency is upper-cased", d.Items[1].Currency, "USD"},
		{"container with spaces and dash is normalized", d.Containers[1], "TGHU8765436"},
		{"USD converts at the 2026-01-01 rate", d.Items[0].ValueBase, 69776.0},
		{"base currency value is unchanged", d.Items[2].ValueBase, 12000.0},
		{"string attribute kept", d.Attributes["payment_type"], "TT"},
		{"numeric attribute becomes a measure", d.Measures["tax_rate"], 0.09},
		{"HS4 derived", d.Items[0].HS(4), "0803"},
		{"importer is the consignee", d.Importer().Key(), "3122260001"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if d.ReceivedAt.IsZero() || d.Schema != SchemaDeclarationV1 {
		t.Errorf("received_at or schema not set: %+v", d)
	}

	e, err := v.Declaration(mustRead(t, "golden/declaration_export.json"))
	if err != nil {
		t.Fatal(err)
	}
	if e.LoadingPort != "CNSZX" || e.BillOfLading != "OOLU5301998877" || e.Importer().USCC != "91440300MA5F3N8B2C" {
		t.Errorf("export not normalized: %+v", e)
	}
}

func TestDeclarationRules(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		path   string
		code   string
	}{
		{"a missing declaration number is required", func(m map[string]any) { delete(m, "declaration_no") }, "declaration_no", "required"},
		{"a 17-digit declaration number is badly formed", func(m map[string]any) { m["declaration_no"] = "22292026000001234" }, "declaration_no", "format"},
		{"a declaration number with a letter is badly formed", func(m map[string]any) { m["declaration_no"] = "22292026000001234X" }, "declaration_no", "format"},
		{"version zero is out of range", func(m map[string]any) { m["version"] = 0 }, "version", "range"},
		{"a fractional version is a type error", func(m map[string]any) { m["version"] = 1.5 }, "version", "type"},
		{"direction X is not I or E", func(m map[string]any) { m["direction"] = "X" }, "direction", "enum"},
		{"a missing declaration time is required", func(m map[string]any) { delete(m, "declared_at") }, "declared_at", "required"},
		{"a declaration time that is not RFC 3339 is a type error", func(m map[string]any) { m["declared_at"] = "2026-03-02" }, "declared_at", "type"},
		{"a 3-digit port is badly formed", func(m map[string]any) { m["port"] = "222" }, "port", "format"},
		{"a numeric port is a type error", func(m map[string]any) { m["port"] = 2229 }, "port", "type"},
		{"a trade mode with letters is badly formed", func(m map[string]any) { m["trade_mode"] = "01A0" }, "trade_mode", "format"},
		{"a missing transport mode is required", func(m map[string]any) { delete(m, "transport_mode") }, "transport_mode", "required"},
		{"a two-character transport mode is badly formed", func(m map[string]any) { m["transport_mode"] = "22" }, "transport_mode", "format"},
		{"an import without any consignee code is rejected", func(m map[string]any) { m["consignee"] = map[string]any{"name": "x"} }, "consignee", "required"},
		{"a USCC with a wrong check character is rejected", func(m map[string]any) {
			m["consignee"].(map[string]any)["uscc"] = "91310115MA1H7QXK0A"
		}, "consignee.uscc", "check_digit"},
		{"a USCC containing the letter O is badly formed", func(m map[string]any) {
			m["consignee"].(map[string]any)["uscc"] = "91310115MA1H7QXO0R"
		}, "consignee.uscc", "format"},
		{"a USCC with letters in the division code is badly formed", func(m map[string]any) {
			m["consignee"].(map[string]any)["uscc"] = "91A10115MA1H7QXK0R"
		}, "consignee.uscc", "format"},
		{"a 9-character customs code is badly formed", func(m map[string]any) {
			m["consignee"].(map[string]any)["customs_code"] = "312226000"
		}, "consignee.customs_code", "format"},
		{"a wrong USCC on the overseas party is still rejected", func(m map[string]any) {
			m["consignor"].(map[string]any)["uscc"] = "91310115MA1H7QXK0A"
		}, "consignor.uscc", "check_digit"},
		{"an unknown consignee field is reported", func(m map[string]any) {
			m["consignee"].(map[string]any)["ucc"] = "1"
		}, "consignee.ucc", "unknown_field"},
		{"a missing declarant is required", func(m map[string]any) { delete(m, "declarant") }, "declarant", "required"},
		{"a 12-character declarant is badly formed", func(m map[string]any) { m["declarant"] = "312298001234" }, "declarant", "format"},
		{"an 18-character declarant must pass the USCC check", func(m map[string]any) { m["declarant"] = "91310115MA1H7QXK0A" }, "declarant", "check_digit"},
		{"an unknown trading country is rejected", func(m map[string]any) { m["trading_country"] = "ZZ" }, "trading_country", "unknown"},
		{"an unknown alpha-3 departure country is rejected", func(m map[string]any) { m["departure_country"] = "ZZZ" }, "departure_country", "unknown"},
		{"a loading port of 4 characters is badly formed", func(m map[string]any) { m["loading_port"] = "VNSG" }, "loading_port", "format"},
		{"a loading port in an unknown country is rejected", func(m map[string]any) { m["loading_port"] = "QQSGN" }, "loading_port", "unknown"},
		{"a bill of lading with a space is badly formed", func(m map[string]any) { m["bill_of_lading"] = "MSKU 1" }, "bill_of_lading", "format"},
		{"a container with a wrong check digit is rejected", func(m map[string]any) { m["containers"] = []any{"MSKU9070324"} }, "containers[0]", "check_digit"},
		{"a container with category letter X is badly formed", func(m map[string]any) { m["containers"] = []any{"MSKX9070323"} }, "containers[0]", "format"},
		{"a container listed twice is a duplicate", func(m map[string]any) { m["containers"] = []any{"MSKU9070323", "MSKU9070323"} }, "containers[1]", "duplicate"},
		{"containers as a string are a type error", func(m map[string]any) { m["containers"] = "MSKU9070323" }, "containers", "type"},
		{"a declaration without items is rejected", func(m map[string]any) { m["items"] = []any{} }, "items", "required"},
		{"a declaration with 51 items is rejected", func(m map[string]any) {
			its := make([]any, 51)
			for i := range its {
				it := map[string]any{}
				for k, v := range item0(m) {
					it[k] = v
				}
				it["seq"] = i + 1
				its[i] = it
			}
			m["items"] = its
		}, "items", "too_many"},
		{"two items with the same sequence number are duplicates", func(m map[string]any) { m["items"].([]any)[1].(map[string]any)["seq"] = 1 }, "items[1].seq", "duplicate"},
		{"a missing HS code is required", func(m map[string]any) { delete(item0(m), "hs_code") }, "items[0].hs_code", "required"},
		{"an 8-digit HS code is badly formed", func(m map[string]any) { item0(m)["hs_code"] = "08039010" }, "items[0].hs_code", "format"},
		{"HS chapter 77 does not exist", func(m map[string]any) { item0(m)["hs_code"] = "7701000000" }, "items[0].hs_code", "unknown"},
		{"a CIQ code of 2 digits is badly formed", func(m map[string]any) { item0(m)["ciq_code"] = "10" }, "items[0].ciq_code", "format"},
		{"a zero quantity is out of range", func(m map[string]any) { item0(m)["quantity"] = 0 }, "items[0].quantity", "range"},
		{"a negative net weight is out of range", func(m map[string]any) { item0(m)["net_weight_kg"] = -1 }, "items[0].net_weight_kg", "range"},
		{"a gross weight below the net weight is inconsistent", func(m map[string]any) { item0(m)["gross_weight_kg"] = 10 }, "items[0].gross_weight_kg", "inconsistent"},
		{"a zero declared value is out of range", func(m map[string]any) { item0(m)["declared_value"] = 0 }, "items[0].declared_value", "range"},
		{"a declared value given as text is a type error", func(m map[string]any) { item0(m)["declared_value"] = "9800" }, "items[0].declared_value", "type"},
		{"a missing currency is required", func(m map[string]any) { delete(item0(m), "currency") }, "items[0].currency", "required"},
		{"currency XYZ is not ISO 4217", func(m map[string]any) { item0(m)["currency"] = "XYZ" }, "items[0].currency", "unknown"},
		{"a currency without a rate on that day is rejected", func(m map[string]any) { item0(m)["currency"] = "ISK" }, "items[0].currency", "no_rate"},
		{"a date before the first rate has no rate", func(m map[string]any) { m["declared_at"] = "1999-06-01T00:00:00Z" }, "items[0].currency", "no_rate"},
		{"a missing item origin is required", func(m map[string]any) { delete(item0(m), "origin_country") }, "items[0].origin_country", "required"},
		{"an unknown item origin is rejected", func(m map[string]any) { item0(m)["origin_country"] = "XX" }, "items[0].origin_country", "unknown"},
		{"an unknown item field is reported", func(m map[string]any) { item0(m)["hs"] = "1" }, "items[0].hs", "unknown_field"},
		{"an attribute that is a list is a type error", func(m map[string]any) { m["attributes"].(map[string]any)["x"] = []any{1} }, "attributes.x", "type"},
		{"an attribute that is a boolean is a type error", func(m map[string]any) { m["attributes"].(map[string]any)["x"] = true }, "attributes.x", "type"},
		{"attributes that are not an object are a type error", func(m map[string]any) { m["attributes"] = "x" }, "attributes", "type"},
		{"an attribute with a 65-byte name is badly formed", func(m map[string]any) { m["attributes"].(map[string]any)[strings.Repeat("k", 65)] = "v" }, "attributes." + strings.Repeat("k", 65), "format"},
		{"an unknown top-level field is reported", func(m map[string]any) { m["hs_cod"] = "1" }, "hs_cod", "unknown_field"},
		{"schema v2 is unknown", func(m map[string]any) { m["schema"] = "portguard.declaration/v2" }, "schema", "unknown_schema"},
		{"a missing schema is unknown", func(m map[string]any) { delete(m, "schema") }, "schema", "unknown_schema"},
		{"a manifest schema on the declarations path is unknown", func(m map[string]any) { m["schema"] = SchemaManifestV1 }, "schema", "unknown_schema"},
	}
	v := NewValidator(DefaultConfig())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := goldenMap(t, "golden/declaration_import.json")
			c.mutate(m)
			d, err := v.Declaration(mustJSON(t, m))
			if err == nil {
				t.Fatalf("accepted: %+v", d)
			}
			fs := fieldErrors(t, err)
			if !hasError(fs, c.path, c.code) {
				t.Fatalf("want %s %s, got %+v", c.path, c.code, fs)
			}
		})
	}
}

func TestValidationReportsEveryProblemAtOnce(t *testing.T) {
	v := NewValidator(DefaultConfig())
	_, err := v.Declaration(mustRead(t, "malformed/every_rule.json"))
	fs := fieldErrors(t, err)
	want := []struct{ path, code string }{
		{"declaration_no", "format"}, {"version", "range"}, {"direction", "enum"}, {"port", "format"},
		{"trade_mode", "format"}, {"transport_mode", "format"}, {"consignee.uscc", "check_digit"},
		{"consignee.customs_code", "format"}, {"declarant", "format"}, {"trading_country", "unknown"},
		{"containers[0]", "check_digit"}, {"containers[1]", "format"}, {"items[0].hs_code", "format"},
		{"items[0].quantity", "range"}, {"items[0].declared_value", "range"}, {"items[0].currency", "unknown"},
		{"items[0].origin_country", "unknown"}, {"attributes.a", "type"}, {"attributes.b", "type"},
	}
	for _, w := range want {
		if !hasError(fs, w.path, w.code) {
			t.Errorf("missing %s %s", w.path, w.code)
		}
	}
	if len(fs) != len(want) {
		t.Errorf("got %d problems, want %d: %+v", len(fs), len(want), fs)
	}

	_, err = v.Declaration(mustRead(t, "malformed/wrong_types.json"))
	fs = fieldErrors(t, err)
	for _, w := range []struct{ path, code string }{
		{"version", "type"}, {"items", "type"}, {"declared_at", "type"}, {"port", "type"},
		{"consignee", "type"}, {"hs_cod", "unknown_field"}, {"declaration_no", "required"},
	} {
		if !hasError(fs, w.path, w.code) {
			t.Errorf("wrong_types: missing %s %s in %+v", w.path, w.code, fs)
		}
	}
	for _, f := range fs {
		if f.Path == "version" && f.Code == "range" || f.Path == "port" && f.Code == "required" {
			t.Errorf("a field with a type error is reported twice: %+v", f)
		}
	}
}

func TestMessageLevelRejections(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxMessageBytes = 2048
	v := NewValidator(cfg)
	cases := []struct {
		name string
		raw  []byte
		path string
		code string
	}{
		{"a message over the size limit is too large", append([]byte(`{"schema":"portguard.declaration/v1","x":"`), make([]byte, 3000)...), "", "too_large"},
		{"truncated JSON is malformed", mustRead(t, "malformed/truncated.json"), "", "malformed"},
		{"text that is not JSON is malformed", mustRead(t, "malformed/garbage.json"), "", "malformed"},
		{"data after the object is malformed", mustRead(t, "malformed/trailing.json"), "", "malformed"},
		{"an empty message is malformed", nil, "", "malformed"},
		{"a JSON array is the wrong type", mustRead(t, "malformed/array.json"), "", "type"},
		{"an unknown schema version goes nowhere", mustRead(t, "malformed/unknown_schema.json"), "schema", "unknown_schema"},
		{"a message without a schema goes nowhere", mustRead(t, "malformed/missing_schema.json"), "schema", "unknown_schema"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := v.Declaration(c.raw)
			fs := fieldErrors(t, err)
			if len(fs) != 1 || fs[0].Path != c.path || fs[0].Code != c.code {
				t.Fatalf("want exactly %q %s, got %+v", c.path, c.code, fs)
			}
			if c.code == "malformed" && !strings.Contains(fs[0].EN, "malformed JSON: ") {
				t.Errorf("the decoder's message is missing: %q", fs[0].EN)
			}
		})
	}
}

func TestManifestRules(t *testing.T) {
	v := NewValidator(DefaultConfig())
	m, err := v.Manifest(mustRead(t, "golden/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.VesselIMO != "9307229" || m.ReceivedAt.IsZero() {
		t.Errorf("manifest not normalized: %+v", m)
	}
	cases := []struct {
		name   string
		mutate func(m map[string]any)
		path   string
		code   string
	}{
		{"a missing bill of lading is required", func(m map[string]any) { delete(m, "bill_of_lading") }, "bill_of_lading", "required"},
		{"a missing carrier is required", func(m map[string]any) { m["carrier"] = " " }, "carrier", "required"},
		{"an IMO number with a wrong check digit is rejected", func(m map[string]any) { m["vessel_imo"] = "9307228" }, "vessel_imo", "check_digit"},
		{"a 6-digit IMO number is badly formed", func(m map[string]any) { m["vessel_imo"] = "930722" }, "vessel_imo", "format"},
		{"a missing voyage is required", func(m map[string]any) { delete(m, "voyage") }, "voyage", "required"},
		{"a missing loading port is required", func(m map[string]any) { delete(m, "loading_port") }, "loading_port", "required"},
		{"a transshipment port in an unknown country is rejected", func(m map[string]any) { m["transshipment_ports"] = []any{"QQSIN"} }, "transshipment_ports[0]", "unknown"},
		{"a container with a wrong check digit is rejected", func(m map[string]any) { m["containers"] = []any{"CSQU3054384"} }, "containers[0]", "check_digit"},
		{"a zero gross weight is out of range", func(m map[string]any) { m["gross_weight_kg"] = 0 }, "gross_weight_kg", "range"},
		{"zero packages are out of range", func(m map[string]any) { m["packages"] = 0 }, "packages", "range"},
		{"fractional packages are a type error", func(m map[string]any) { m["packages"] = 1.5 }, "packages", "type"},
		{"a missing arrival time is required", func(m map[string]any) { delete(m, "arrival_at") }, "arrival_at", "required"},
		{"a declaration schema on a manifest is unknown", func(m map[string]any) { m["schema"] = SchemaDeclarationV1 }, "schema", "unknown_schema"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := goldenMap(t, "golden/manifest.json")
			c.mutate(m)
			_, err := v.Manifest(mustJSON(t, m))
			if fs := fieldErrors(t, err); !hasError(fs, c.path, c.code) {
				t.Fatalf("want %s %s, got %+v", c.path, c.code, fs)
			}
		})
	}
	_, err = v.Manifest(mustRead(t, "malformed/manifest_bad.json"))
	if fs := fieldErrors(t, err); len(fs) < 7 {
		t.Errorf("every problem of a bad manifest should be listed, got %+v", fs)
	}
}

func TestWithdrawalRules(t *testing.T) {
	v := NewValidator(DefaultConfig())
	w, err := v.Withdrawal(mustRead(t, "golden/withdrawal.json"))
	if err != nil {
		t.Fatal(err)
	}
	if w.Number != "222920260000012345" {
		t.Errorf("got %+v", w)
	}
	_, err = v.Withdrawal(mustRead(t, "malformed/withdrawal_bad.json"))
	fs := fieldErrors(t, err)
	for _, want := range []string{"declaration_no", "reason", "at"} {
		found := false
		for _, f := range fs {
			found = found || f.Path == want
		}
		if !found {
			t.Errorf("withdrawal: no problem reported for %s: %+v", want, fs)
		}
	}
}

func TestDeclarationJSONRoundTrip(t *testing.T) {
	v := NewValidator(DefaultConfig())
	d, err := v.Declaration(mustRead(t, "golden/declaration_import.json"))
	if err != nil {
		t.Fatal(err)
	}
	d.Check = CrossCheck{Joined: true, WeightDeviation: 0.1, UndeclaredContainers: 1}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back Declaration
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(back)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed the declaration:\n%s\n%s", b, b2)
	}
	if back.Attributes["courier_id"] != "C-0042" || back.Measures["tax_rate"] != 0.09 || !back.Check.Joined || !back.DeclaredAt.Equal(d.DeclaredAt) {
		t.Errorf("lost fields: %+v", back)
	}
	var wire map[string]any
	_ = json.Unmarshal(b, &wire)
	if a, ok := wire["attributes"].(map[string]any); !ok || a["tax_rate"] != 0.09 || a["payment_type"] != "TT" {
		t.Errorf("attributes not one object on the wire: %s", b)
	}
	// A marshalled declaration is itself a valid message: the round trip through the validator
	// keeps it.
	again, err := v.Declaration(b)
	if err != nil {
		t.Fatalf("a marshalled declaration does not validate: %v", err)
	}
	if again.Items[0].ValueBase != d.Items[0].ValueBase || len(again.Measures) != 1 {
		t.Errorf("revalidated declaration differs: %+v", again)
	}
	if err := json.Unmarshal([]byte(`{"attributes":{"x":[1]}}`), &back); err == nil {
		t.Error("a list attribute was accepted by UnmarshalJSON")
	}
}

func TestRatesPickTheLatestDateOnOrBeforeTheDeclaration(t *testing.T) {
	r, err := ParseRates("CNY", strings.NewReader("date,currency,rate_to_base\n2026-01-01,USD,7.0\n2026-02-01,USD,7.2\n"))
	if err != nil {
		t.Fatal(err)
	}
	cst := RateZone
	cases := []struct {
		name string
		at   time.Time
		want float64
		ok   bool
	}{
		{"the day before the first rate has none", time.Date(2025, 12, 31, 23, 0, 0, 0, cst), 0, false},
		{"the first day takes the first rate", time.Date(2026, 1, 1, 0, 0, 0, 0, cst), 7.0, true},
		{"the last day of January takes the first rate", time.Date(2026, 1, 31, 23, 59, 0, 0, cst), 7.0, true},
		{"UTC evening of Jan 31 is already Feb 1 in China", time.Date(2026, 1, 31, 17, 0, 0, 0, time.UTC), 7.2, true},
		{"a later date takes the latest rate", time.Date(2027, 1, 1, 0, 0, 0, 0, cst), 7.2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := r.Rate("USD", c.at)
			if got != c.want || ok != c.ok {
				t.Fatalf("got %v %v, want %v %v", got, ok, c.want, c.ok)
			}
		})
	}
	if got, ok := r.Rate("CNY", time.Time{}); got != 1 || !ok {
		t.Error("the base currency must always convert at 1")
	}
	for _, bad := range []string{"2026-01-01,XYZ,1\n", "2026-01-01,USD,-1\n", "2026-13-01,USD,1\n", "2026-01-01,CNY,2\n", "2026-01-01,USD,1\n2026-01-01,USD,2\n"} {
		if _, err := ParseRates("CNY", strings.NewReader(bad)); err == nil {
			t.Errorf("accepted a bad rates table %q", bad)
		}
	}
}

func TestRatesReloadFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rates.csv")
	if err := os.WriteFile(path, []byte("date,currency,rate_to_base\n2026-01-01,USD,7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRates("CNY", path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	if got, _ := r.Rate("USD", at); got != 7 {
		t.Fatalf("got %v", got)
	}
	if err := os.WriteFile(path, []byte("date,currency,rate_to_base\n2026-01-01,USD,7\n2026-02-01,USD,7.5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Rate("USD", at); got != 7.5 {
		t.Fatalf("after reload got %v", got)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("a broken file was accepted")
	}
	if got, _ := r.Rate("USD", at); got != 7.5 {
		t.Fatalf("a failed reload lost the table: %v", got)
	}
}

func TestCheckDigits(t *testing.T) {
	cases := []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"a published USCC is valid", USCCProblem, "9144030071526726XG", ""},
		{"a USCC ending in a digit is valid", USCCProblem, "914403001922038216", ""},
		{"a USCC with one changed digit fails its check", USCCProblem, "914403001922038217", "check_digit"},
		{"a lower-case USCC is badly formed", USCCProblem, "9144030071526726xg", "format"},
		{"a 17-character USCC is badly formed", USCCProblem, "9144030071526726X", "format"},
		{"the ISO 6346 example container is valid", ContainerProblem, "CSQU3054383", ""},
		{"a container with check digit 10→0 is handled", ContainerProblem, "TGHU8765436", ""},
		{"a container with a wrong check digit fails", ContainerProblem, "CSQU3054384", "check_digit"},
		{"a container with digits in the owner code is badly formed", ContainerProblem, "C5QU3054383", "format"},
		{"a published IMO number is valid", IMOProblem, "9074729", ""},
		{"an IMO number with a wrong check digit fails", IMOProblem, "9074728", "check_digit"},
		{"an IMO number with a letter is badly formed", IMOProblem, "907472A", "format"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.fn(c.in); got != c.want {
				t.Fatalf("%s: got %q, want %q", c.in, got, c.want)
			}
		})
	}
	if USCCCheckChar("91310115MA1H7QXK0") != 'R' || ContainerCheckDigit("CSQU305438") != '3' || IMOCheckDigit("907472") != '9' {
		t.Error("check character generators disagree with the validators")
	}
}

func TestCountryTableIsComplete(t *testing.T) {
	if len(countryByA2) != 249 || len(a3ToA2) != 249 {
		t.Fatalf("ISO 3166-1 has 249 entries, table has %d/%d", len(countryByA2), len(a3ToA2))
	}
	for in, want := range map[string]string{"chn": "CN", "DEU": "DE", "us": "US", "HKG": "HK", "SGP": "SG"} {
		if got, ok := NormalizeCountry(in); !ok || got != want {
			t.Errorf("%s → %s %v, want %s", in, got, ok, want)
		}
	}
	if _, ok := NormalizeCountry("UK"); ok {
		t.Error("UK is not an ISO 3166-1 code (GB is)")
	}
	if !KnownCurrency("CNY") || !KnownCurrency("EUR") || KnownCurrency("XTS") || KnownCurrency("RMB") {
		t.Error("currency table is wrong")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cfg := DefaultConfig()
	cfg.BaseCurrency = "USD"
	if err := cfg.Validate(); err == nil {
		t.Error("a USD base without a USD rates table was accepted")
	}
	cfg = DefaultConfig()
	cfg.MaxMessageBytes = 10
	if err := cfg.Validate(); err == nil {
		t.Error("a 10-byte message limit was accepted")
	}
}
