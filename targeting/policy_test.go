package targeting

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAPolicyFileSetsTheConfigurationAPortAdministrationOwns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.json")
	os.WriteFile(path, []byte(`{
  "random_rate": 0.03,
  "port_random_rate": {"2200": 0.05},
  "grade_multiplier": {"advanced": 0.1, "general": 1, "dishonest": 8},
  "target_inspect_rate": 0.08,
  "port_target_rate": {"3101": 0.12},
  "port_daily_capacity": {"5300": 400},
  "objective": "severity",
  "severity_weights": {"0201": 3},
  "volume_half_time": "72h"
}`), 0o644)
	p, err := LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	if err := p.Apply(&c); err != nil {
		t.Fatal(err)
	}
	if c.RandomRate != 0.03 || c.PortRandomRate["2200"] != 0.05 || c.GradeMultiplier["dishonest"] != 8 ||
		c.TargetInspectRate != 0.08 || c.PortTargetRate["3101"] != 0.12 || c.PortDailyCapacity["5300"] != 400 ||
		c.Objective != ObjectiveSeverity || c.SeverityWeights["0201"] != 3 || c.VolumeHalfTime != 72*time.Hour {
		t.Errorf("policy not applied: %+v", c)
	}
	if c.ExploreShare != DefaultConfig().ExploreShare {
		t.Errorf("an absent field changed the default: explore share %v", c.ExploreShare)
	}
	if got := c.randomRate("2200", "dishonest"); got != 0.4 {
		t.Errorf("random rate at 2200 for a dishonest enterprise %v, want 0.05×8", got)
	}
}

func TestABadPolicyFileIsRefusedWithEveryProblemNamed(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"unknown field", `{"target_rate": 0.1}`, []string{`unknown field "target_rate"`}},
		{"not JSON", `{"random_rate": }`, []string{"invalid character"}},
		{"bad values", `{"random_rate": 1.5, "port_target_rate": {"SHA": 0.1, "2200": 0.1},
			"port_daily_capacity": {"2200": 50}, "objective": "profit"}`,
			[]string{"RandomRate 1.5", `"SHA" is not a 4-digit port code`, "port 2200 has both", `unknown Objective "profit"`}},
		{"bad duration", `{"volume_half_time": "a week"}`, []string{`volume_half_time "a week"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "policy.json")
			os.WriteFile(path, []byte(tc.body), 0o644)
			_, err := LoadPolicy(path)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	if _, err := LoadPolicy(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}
