package targeting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// Policy is the part of Config a port administration sets: how much to inspect, at which
// port, how random control weighs enterprise grades, and what the model ranks by. It is read
// from a JSON file (`portguard serve --policy`) and applied over DefaultConfig; absent fields
// keep the defaults. The scenario suite uses the same type for its per-scenario settings.
type Policy struct {
	// RandomRate is the base random-control rate; PortRandomRate overrides it per port.
	RandomRate     *float64           `json:"random_rate,omitempty"`
	PortRandomRate map[string]float64 `json:"port_random_rate,omitempty"`
	// GradeMultiplier multiplies the random rate per enterprise grade (advanced, general,
	// dishonest; green, yellow, red, black); MaxRandomRate caps the product.
	GradeMultiplier map[string]float64 `json:"grade_multiplier,omitempty"`
	MaxRandomRate   *float64           `json:"max_random_rate,omitempty"`
	// TargetInspectRate is the share of declarations to inspect physically; PortTargetRate
	// overrides it per port, and PortDailyCapacity replaces it per port by a number of
	// inspections per day.
	TargetInspectRate *float64           `json:"target_inspect_rate,omitempty"`
	PortTargetRate    map[string]float64 `json:"port_target_rate,omitempty"`
	PortDailyCapacity map[string]float64 `json:"port_daily_capacity,omitempty"`
	ExploreShare      *float64           `json:"explore_share,omitempty"`
	YellowShare       *float64           `json:"yellow_share,omitempty"`
	// Objective is "probability", "severity" or "revenue"; SeverityWeights maps HS prefixes
	// to weights (replacing the default table when given).
	Objective       string             `json:"objective,omitempty"`
	SeverityWeights map[string]float64 `json:"severity_weights,omitempty"`
	// VolumeHalfTime is the memory of the volume estimate behind a daily capacity, a Go
	// duration such as "168h".
	VolumeHalfTime string `json:"volume_half_time,omitempty"`
}

// Apply sets the policy's settings on c. It fails only for an unreadable duration; the
// result must still pass Config.Validate.
func (p Policy) Apply(c *Config) error {
	set := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.RandomRate, p.RandomRate)
	set(&c.MaxRandomRate, p.MaxRandomRate)
	set(&c.TargetInspectRate, p.TargetInspectRate)
	set(&c.ExploreShare, p.ExploreShare)
	set(&c.YellowShare, p.YellowShare)
	if p.PortRandomRate != nil {
		c.PortRandomRate = p.PortRandomRate
	}
	if p.GradeMultiplier != nil {
		c.GradeMultiplier = p.GradeMultiplier
	}
	if p.PortTargetRate != nil {
		c.PortTargetRate = p.PortTargetRate
	}
	if p.PortDailyCapacity != nil {
		c.PortDailyCapacity = p.PortDailyCapacity
	}
	if p.Objective != "" {
		c.Objective = p.Objective
	}
	if p.SeverityWeights != nil {
		c.SeverityWeights = p.SeverityWeights
	}
	if p.VolumeHalfTime != "" {
		d, err := time.ParseDuration(p.VolumeHalfTime)
		if err != nil {
			return fmt.Errorf("targeting: policy: volume_half_time %q is not a duration such as \"168h\"", p.VolumeHalfTime)
		}
		c.VolumeHalfTime = d
	}
	return nil
}

// LoadPolicy reads a policy file and checks it against the defaults: unknown fields, ports
// that are not 4-digit customs codes and values Config.Validate refuses are errors, all
// reported at once.
func LoadPolicy(path string) (Policy, error) {
	var p Policy
	b, err := os.ReadFile(path)
	if err != nil {
		return p, fmt.Errorf("targeting: policy: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("targeting: policy %s: %w", path, err)
	}
	var errs []error
	for name, m := range map[string]map[string]float64{"port_random_rate": p.PortRandomRate,
		"port_target_rate": p.PortTargetRate, "port_daily_capacity": p.PortDailyCapacity} {
		for port := range m {
			if !isPortCode(port) {
				errs = append(errs, fmt.Errorf("%s: %q is not a 4-digit port code", name, port))
			}
		}
	}
	c := DefaultConfig()
	if err := p.Apply(&c); err != nil {
		errs = append(errs, err)
	} else if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return p, fmt.Errorf("targeting: policy %s: %w", path, err)
	}
	return p, nil
}

func isPortCode(s string) bool {
	if len(s) != 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
