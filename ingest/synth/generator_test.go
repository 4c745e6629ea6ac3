package synth

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portguard/portguard/ingest"
)

// generate returns n samples of a generator for cfg.
func generate(tb testing.TB, cfg Config, n int) (*Generator, []Sample) {
	tb.Helper()
	g := New(cfg)
	out := make([]Sample, n)
	for i := range out {
		out[i] = g.Next()
	}
	return g, out
}

func TestEveryGeneratedMessagePassesIngestValidation(t *testing.T) {
	v := ingest.NewValidator(ingest.Config{Rates: ingest.DefaultRates()})
	cfg := DefaultConfig()
	cfg.Seed = 7
	_, samples := generate(t, cfg, 15000)
	numbers := map[string]bool{}
	bills := map[string]bool{}
	var manifests int
	for i, s := range samples {
		raw := AppendJSON(nil, s.Decl)
		d, err := v.Declaration(raw)
		if err != nil {
			t.Fatalf("sample %d: declaration rejected: %v\n%s", i, err, raw)
		}
		if numbers[d.Number] {
			t.Fatalf("sample %d: declaration number %s repeated", i, d.Number)
		}
		numbers[d.Number] = true
		if y := d.DeclaredAt.In(cst).Format("2006"); d.Number[4:8] != y || d.Number[8] != '1' || d.Number[:4] != d.Port {
			t.Fatalf("sample %d: number %s does not encode port %s, year %s and import", i, d.Number, d.Port, y)
		}
		if n := len(d.Items); n < 1 || n > cfg.MaxItems {
			t.Fatalf("sample %d: %d items", i, n)
		}
		// ingest checks the USCC check character; the organization code inside it has its own.
		if u := d.Consignee.USCC; orgCodeCheck([]byte(u[8:16])) != u[16] {
			t.Fatalf("sample %d: USCC %s has a wrong GB 11714 organization-code check character", i, u)
		}
		if s.Manifest == nil {
			continue
		}
		manifests++
		if bills[s.Manifest.BillOfLading] {
			t.Fatalf("sample %d: bill of lading %s repeated", i, s.Manifest.BillOfLading)
		}
		bills[s.Manifest.BillOfLading] = true
		mraw := AppendManifestJSON(nil, s.Manifest)
		if _, err := v.Manifest(mraw); err != nil {
			t.Fatalf("sample %d: manifest rejected: %v\n%s", i, err, mraw)
		}
		if s.Manifest.BillOfLading != s.Decl.BillOfLading {
			t.Fatalf("sample %d: manifest and declaration bills differ", i)
		}
	}
	if manifests < len(samples)*7/10 {
		t.Errorf("only %d of %d samples have a manifest", manifests, len(samples))
	}
}

func TestCheckCharactersAgreeWithIngest(t *testing.T) {
	_, samples := generate(t, DefaultConfig(), 3000)
	for _, s := range samples {
		if p := ingest.USCCProblem(s.Decl.Consignee.USCC); p != "" {
			t.Fatalf("USCC %s: %s", s.Decl.Consignee.USCC, p)
		}
		for _, c := range s.Decl.Containers {
			if p := ingest.ContainerProblem(c); p != "" {
				t.Fatalf("container %s: %s", c, p)
			}
		}
		if m := s.Manifest; m != nil {
			if p := ingest.IMOProblem(m.VesselIMO); p != "" {
				t.Fatalf("IMO %s: %s", m.VesselIMO, p)
			}
		}
	}
	// Published examples: container CSQU3054383 (ISO 6346 annex), IMO 9074729 (IMO resolution
	// A.1117(30) example), organization code D2143569-X (GB 11714 example).
	if got := makeContainer("CSQU", 305438); got != "CSQU3054383" {
		t.Errorf("makeContainer = %s, want CSQU3054383", got)
	}
	if got := makeIMO(907472); got != "9074729" {
		t.Errorf("makeIMO = %s, want 9074729", got)
	}
	if got := orgCodeCheck([]byte("D2143569")); got != 'X' {
		t.Errorf("orgCodeCheck(D2143569) = %c, want X", got)
	}
}

func TestTheSameSeedGivesTheSameStreamAndAnotherSeedAnother(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Seed = 42
	_, a := generate(t, cfg, 3000)
	_, b := generate(t, cfg, 3000)
	cfg.Seed = 43
	_, c := generate(t, cfg, 3000)
	var same, differ int
	for i := range a {
		if !bytes.Equal(AppendJSON(nil, a[i].Decl), AppendJSON(nil, b[i].Decl)) || !reflect.DeepEqual(a[i].Truth, b[i].Truth) ||
			!reflect.DeepEqual(a[i].Manifest, b[i].Manifest) {
			t.Fatalf("sample %d differs between two generators with seed 42", i)
		}
		if bytes.Equal(AppendJSON(nil, a[i].Decl), AppendJSON(nil, c[i].Decl)) {
			same++
		} else {
			differ++
		}
	}
	if same > 0 {
		t.Errorf("%d of %d samples equal under seeds 42 and 43", same, same+differ)
	}
}

func TestWireJSONDecodesToTheSameDeclaration(t *testing.T) {
	_, samples := generate(t, DefaultConfig(), 500)
	for i, s := range samples {
		var got ingest.Declaration
		if err := json.Unmarshal(AppendJSON(nil, s.Decl), &got); err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		want := *s.Decl
		want.Items = append([]ingest.Item(nil), want.Items...)
		for j := range want.Items {
			want.Items[j].ValueBase = 0 // not on the wire: ingest converts
		}
		if !reflect.DeepEqual(&got, &want) {
			t.Fatalf("sample %d decodes to\n%+v\nwant\n%+v", i, got, want)
		}
	}
}

func TestAppendStringEscapesLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline\r", "ctl\x01\x1f", "鲜樱桃", "bad\xffutf8"} {
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want, _ := json.Marshal(s)
		var w string
		_ = json.Unmarshal(want, &w)
		if got != w {
			t.Errorf("%q round-trips to %q, want %q", s, got, w)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"the defaults are valid", func(*Config) {}, ""},
		{"a zero start time is refused", func(c *Config) { c.Start = time.Time{} }, "Start"},
		{"a hit rate of zero is refused", func(c *Config) { c.BaseHitRate = 0 }, "BaseHitRate"},
		{"a drift point beyond the period is refused", func(c *Config) { c.DriftAt = 1.5 }, "DriftAt"},
		{"a port that is not 4 digits is refused", func(c *Config) { c.Ports = []string{"22A8"} }, "port"},
		{"a Zipf exponent of 1 is refused", func(c *Config) { c.ZipfExponent = 1 }, "ZipfExponent"},
		{"more than 50 items is refused", func(c *Config) { c.MaxItems = 51 }, "MaxItems"},
		{"too few enterprises are refused", func(c *Config) { c.Enterprises = 3 }, "Enterprises"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.change(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func TestUnknownPortsAndAnAirportOnlyConfigurationWork(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Ports = []string{"2233"} // an airport only: no sea freight, no manifests
	_, samples := generate(t, cfg, 500)
	for _, s := range samples {
		if s.Decl.TransportMode != "5" || s.Manifest != nil || s.Decl.Port != "2233" {
			t.Fatalf("airport-only world produced transport %s port %s manifest %v", s.Decl.TransportMode, s.Decl.Port, s.Manifest != nil)
		}
	}
	cfg.Ports = []string{"9901", "9902"}
	_, samples = generate(t, cfg, 500)
	for _, s := range samples {
		if s.Decl.Port != "9901" && s.Decl.Port != "9902" {
			t.Fatalf("port %s not configured", s.Decl.Port)
		}
	}
}

func TestArrivalsFollowTheCalendar(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PerDay = 500
	g := New(cfg)
	var weekday, weekend, cny, feb int
	var byHour [24]int
	for {
		s := g.Next()
		at := s.Decl.DeclaredAt.In(cst)
		if at.Year() > 2024 {
			break
		}
		switch at.Weekday() {
		case time.Saturday, time.Sunday:
			weekend++
		default:
			weekday++
		}
		byHour[at.Hour()]++
		// Spring Festival 2024 began on 10 February.
		if at.Month() == 2 && at.Day() >= 10 && at.Day() <= 16 {
			cny++
		}
		if at.Month() == 3 && at.Day() >= 10 && at.Day() <= 16 {
			feb++
		}
	}
	total := weekday + weekend
	if math.Abs(float64(total)/366/cfg.PerDay-1) > 0.05 {
		t.Errorf("%d declarations in 2024, want about %v a day", total, cfg.PerDay)
	}
	if perWeekday, perWeekendDay := float64(weekday)/5, float64(weekend)/2; perWeekday < 1.5*perWeekendDay {
		t.Errorf("per weekday %v, per weekend day %v: want a marked weekly cycle", perWeekday, perWeekendDay)
	}
	if cny*2 > feb {
		t.Errorf("Spring Festival week has %d declarations, a March week %d: want a lull", cny, feb)
	}
	if byHour[3]*5 > byHour[10] {
		t.Errorf("03:00 has %d declarations, 10:00 has %d: want office hours", byHour[3], byHour[10])
	}
}

func TestCSVHasTheColumnsItsMappingNames(t *testing.T) {
	_, samples := generate(t, DefaultConfig(), 2000)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, samples...); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(samples)+1 || !reflect.DeepEqual(rows[0], CSVColumns) {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	var m struct {
		ID         string            `yaml:"id"`
		Date       string            `yaml:"date"`
		DateFormat string            `yaml:"date_format"`
		Fields     map[string]string `yaml:"fields"`
		Attributes []string          `yaml:"attributes"`
		Numeric    []string          `yaml:"numeric"`
		Label      string            `yaml:"label"`
		Revenue    string            `yaml:"revenue"`
	}
	if err := yaml.Unmarshal(Mapping(), &m); err != nil {
		t.Fatal(err)
	}
	named := append([]string{m.ID, m.Date, m.Label, m.Revenue}, m.Attributes...)
	named = append(named, m.Numeric...)
	for _, c := range m.Fields {
		named = append(named, c)
	}
	col := map[string]int{}
	for i, c := range CSVColumns {
		col[c] = i
	}
	for _, c := range named {
		if _, ok := col[c]; !ok {
			t.Errorf("mapping names column %q that the CSV lacks", c)
		}
	}
	if len(m.Fields) != 13 {
		t.Errorf("mapping maps %d portguard fields, want all 13", len(m.Fields))
	}
	for i, r := range rows[1:] {
		s := samples[i]
		at, err := time.Parse(m.DateFormat, r[col[m.Date]])
		if err != nil || !at.Equal(s.Decl.DeclaredAt) {
			t.Fatalf("row %d: date %q parses to %v (%v), want %v", i, r[col[m.Date]], at, err, s.Decl.DeclaredAt)
		}
		if r[col[m.ID]] != s.Decl.Number || (r[col[m.Label]] == "1") != s.Truth.Hit {
			t.Fatalf("row %d: id %s label %s, want %s %v", i, r[col[m.ID]], r[col[m.Label]], s.Decl.Number, s.Truth.Hit)
		}
		if got := r[col["FINDINGS"]]; got != strings.Join(s.Truth.Findings, "|") {
			t.Fatalf("row %d: findings %q", i, got)
		}
	}
}

func TestTruthUsesClearancesSeverityScaleAndFindingCodes(t *testing.T) {
	_, samples := generate(t, DefaultConfig(), 20000)
	codes := map[string]bool{FindingUndervaluation: true, FindingOriginMisdeclared: true, FindingWeight: true,
		FindingQuarantinePest: true, FindingHSMisdeclared: true}
	seen := map[string]int{}
	for _, s := range samples {
		tr := s.Truth
		if tr.Hit != (len(tr.Findings) > 0) || (tr.Hit && (tr.Severity < 1 || tr.Severity > 3)) || (!tr.Hit && (tr.Severity != 0 || tr.Revenue != 0)) {
			t.Fatalf("inconsistent truth %+v", tr)
		}
		for _, f := range tr.Findings {
			if !codes[f] {
				t.Fatalf("finding %q is not a catalogue code", f)
			}
			seen[f]++
		}
		if tr.Revenue < 0 {
			t.Fatalf("negative revenue %+v", tr)
		}
	}
	if len(seen) != len(codes) {
		t.Errorf("findings seen %v: every planted kind should occur", seen)
	}
}
