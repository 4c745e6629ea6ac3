package clearance

import (
	"errors"
	"testing"

	"github.com/portguard/portguard/ingest"
)

func TestResultValidationListsEveryProblem(t *testing.T) {
	ok := ResultInput{TaskID: "t", ExpectedVersion: 1, Outcome: NonConforming,
		Findings: []Finding{{Code: FindUndervaluation, Severity: 2}}, Adjustment: 1200, Disposition: DispRelease}
	cases := []struct {
		name  string
		mut   func(*ResultInput)
		paths []string
	}{
		{"a complete non-conforming result is valid", func(*ResultInput) {}, nil},
		{"an unknown finding code is refused", func(in *ResultInput) { in.Findings[0].Code = "SMELLS" }, []string{"findings[0].code"}},
		{"a severity above 3 is refused", func(in *ResultInput) { in.Findings[0].Severity = 4 }, []string{"findings[0].severity"}},
		{"a negative severity is refused", func(in *ResultInput) { in.Findings[0].Severity = -1 }, []string{"findings[0].severity"}},
		{"non-conforming without findings is refused", func(in *ResultInput) { in.Findings = nil }, []string{"findings"}},
		{"conforming with findings is refused", func(in *ResultInput) { in.Outcome = Conforming }, []string{"findings"}},
		{"conforming goods cannot be destroyed", func(in *ResultInput) { in.Outcome, in.Findings, in.Disposition = Conforming, nil, DispDestroy }, []string{"disposition"}},
		{"a sample at the laboratory cannot be disposed of", func(in *ResultInput) { in.Outcome = PendingLab }, []string{"disposition"}},
		{"an unknown outcome is refused", func(in *ResultInput) { in.Outcome = "MAYBE" }, []string{"outcome"}},
		{"a negative adjustment is refused", func(in *ResultInput) { in.Adjustment = -1 }, []string{"adjustment"}},
		{"an unknown disposition is refused", func(in *ResultInput) { in.Disposition = "BURN" }, []string{"disposition"}},
		{"every missing field is reported at once", func(in *ResultInput) { *in = ResultInput{} }, []string{"task_id", "expected_version", "outcome"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := ok
			in.Findings = append([]Finding(nil), ok.Findings...)
			tc.mut(&in)
			err := in.Validate()
			if tc.paths == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ingest.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want *ingest.ValidationError", err)
			}
			got := map[string]bool{}
			for _, f := range ve.Fields {
				got[f.Path] = true
				if f.ZH == "" || f.EN == "" || f.Code == "" {
					t.Errorf("field error %+v lacks code or a language", f)
				}
			}
			for _, p := range tc.paths {
				if !got[p] {
					t.Errorf("no error at %s; got %+v", p, ve.Fields)
				}
			}
			if len(ve.Fields) != len(tc.paths) {
				t.Errorf("got %d errors, want %d: %+v", len(ve.Fields), len(tc.paths), ve.Fields)
			}
		})
	}
}

func TestSeverityZeroTakesTheCatalogueDefault(t *testing.T) {
	in := ResultInput{TaskID: "t", ExpectedVersion: 1, Outcome: NonConforming, Findings: []Finding{{Code: FindQuarantinePest}}}
	if err := in.Validate(); err != nil {
		t.Fatal(err)
	}
	if in.Findings[0].Severity != SeveritySevere {
		t.Fatalf("severity %d, want the catalogue's %d", in.Findings[0].Severity, SeveritySevere)
	}
}

func TestCatalogueHasBothLanguagesAndTheIssuesFindings(t *testing.T) {
	cat := Catalogue()
	if len(cat) != 11 {
		t.Fatalf("%d finding types, want the 11 of the issue", len(cat))
	}
	for _, f := range cat {
		if f.Code == "" || f.ZH == "" || f.EN == "" || f.DefaultSeverity < 1 || f.DefaultSeverity > 3 {
			t.Errorf("incomplete finding type %+v", f)
		}
	}
	cat[0].Code = "CHANGED"
	if Catalogue()[0].Code == "CHANGED" {
		t.Fatal("Catalogue returns the package's own slice")
	}
}

func TestConfigValidation(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	cases := map[string]func(*Config){
		"a duplicated officer is refused":             func(c *Config) { c.Officers = []Officer{{ID: "a"}, {ID: "a"}} },
		"an HS range with prefixes of unequal length": func(c *Config) { c.Qualifications = []HSQualification{{From: "01", To: "051", Qualification: "x"}} },
		"a lab policy for an unknown finding":         func(c *Config) { c.LabPolicy = map[string]LabHold{"NOPE": LabHeld} },
		"a lab default that is neither":               func(c *Config) { c.LabDefault = "MAYBE" },
		"an empty draw key":                           func(c *Config) { c.DrawKey = "" },
		"a zero due time":                             func(c *Config) { c.DueRed = 0 },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			mut(&c)
			if c.Validate() == nil {
				t.Fatal("accepted")
			}
		})
	}
}
