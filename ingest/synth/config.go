package synth

import (
	"errors"
	"fmt"
	"time"
)

// Config describes the synthetic world and its stream. The same Config (Seed included) always
// yields the same sequence of samples.
type Config struct {
	// Seed makes the world and the stream reproducible. Default 1.
	Seed int64
	// Start is the declaration time of the first sample. Default 2024-01-01 00:00 UTC.
	Start time.Time
	// Days is the length of the simulated period; DriftAt and the seasonal calendar refer to it.
	// The stream goes on after it, with the late patterns in force. Default 365.
	Days int
	// PerDay is the mean number of declarations per day; weekdays, holidays and hours modulate
	// it. Default 2,000.
	PerDay float64
	// Enterprises is the number of importers (consignees). Their volumes are Zipf distributed.
	// Default 5,000.
	Enterprises int
	// Declarants is the number of declarant agents (报关企业). Default 300.
	Declarants int
	// Ports are the 4-digit customs offices declarations are lodged at. Known codes carry their
	// city and kind (sea or airport); others are treated as handling both. Default: seven
	// offices in Shanghai, Shenzhen, Guangzhou, Qingdao, Ningbo and Tianjin.
	Ports []string
	// BaseHitRate is the overall share of declarations with at least one finding. Default 0.05.
	BaseHitRate float64
	// DriftAt is the fraction of the period at which new non-compliance patterns appear and old
	// ones begin to fade. 1 disables drift. Default 0.6.
	DriftAt float64
	// RiskyImporters is the share of importers that are systematically non-compliant (in their
	// active window). Default 0.03.
	RiskyImporters float64
	// RiskyDeclarants is the share of declarant agents that facilitate non-compliance. Default 0.05.
	RiskyDeclarants float64
	// NewEntrants is the share of importers that start trading during the period rather than
	// before it. Default 0.15.
	NewEntrants float64
	// ZipfExponent shapes the heavy tail of importer volumes (> 1). Default 1.2.
	ZipfExponent float64
	// MaxItems bounds the goods items per declaration (1–50). Default 5.
	MaxItems int
}

// DefaultConfig returns the documented defaults: a mid-sized port region over one year.
func DefaultConfig() Config {
	return Config{
		Seed:            1,
		Start:           time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		Days:            365,
		PerDay:          2000,
		Enterprises:     5000,
		Declarants:      300,
		Ports:           []string{"2248", "2225", "2233", "5316", "4218", "3104", "0202"},
		BaseHitRate:     0.05,
		DriftAt:         0.6,
		RiskyImporters:  0.03,
		RiskyDeclarants: 0.05,
		NewEntrants:     0.15,
		ZipfExponent:    1.2,
		MaxItems:        5,
	}
}

// Validate reports the first configuration problem.
func (c Config) Validate() error {
	switch {
	case c.Start.IsZero():
		return errors.New("synth: Start is required")
	case c.Days < 1:
		return fmt.Errorf("synth: Days %d must be at least 1", c.Days)
	case !(c.PerDay > 0):
		return fmt.Errorf("synth: PerDay %v must be positive", c.PerDay)
	case c.Enterprises < 10:
		return fmt.Errorf("synth: Enterprises %d must be at least 10", c.Enterprises)
	case c.Declarants < 2:
		return fmt.Errorf("synth: Declarants %d must be at least 2", c.Declarants)
	case len(c.Ports) == 0:
		return errors.New("synth: at least one port is required")
	case !(c.BaseHitRate > 0 && c.BaseHitRate < 0.9):
		return fmt.Errorf("synth: BaseHitRate %v must be in (0, 0.9)", c.BaseHitRate)
	case !(c.DriftAt >= 0 && c.DriftAt <= 1):
		return fmt.Errorf("synth: DriftAt %v must be in [0, 1]", c.DriftAt)
	case !(c.RiskyImporters >= 0 && c.RiskyImporters <= 0.5):
		return fmt.Errorf("synth: RiskyImporters %v must be in [0, 0.5]", c.RiskyImporters)
	case !(c.RiskyDeclarants >= 0 && c.RiskyDeclarants <= 0.5):
		return fmt.Errorf("synth: RiskyDeclarants %v must be in [0, 0.5]", c.RiskyDeclarants)
	case !(c.NewEntrants >= 0 && c.NewEntrants <= 0.9):
		return fmt.Errorf("synth: NewEntrants %v must be in [0, 0.9]", c.NewEntrants)
	case !(c.ZipfExponent > 1):
		return fmt.Errorf("synth: ZipfExponent %v must be greater than 1", c.ZipfExponent)
	case c.MaxItems < 1 || c.MaxItems > 50:
		return fmt.Errorf("synth: MaxItems %d must be 1 to 50", c.MaxItems)
	}
	for _, p := range c.Ports {
		if len(p) != 4 || !digits(p) {
			return fmt.Errorf("synth: port %q must be 4 digits", p)
		}
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// withDefaults fills zero fields so that a partly filled Config works.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Start.IsZero() {
		c.Start = d.Start
	}
	if c.Days == 0 {
		c.Days = d.Days
	}
	if c.PerDay == 0 {
		c.PerDay = d.PerDay
	}
	if c.Enterprises == 0 {
		c.Enterprises = d.Enterprises
	}
	if c.Declarants == 0 {
		c.Declarants = d.Declarants
	}
	if len(c.Ports) == 0 {
		c.Ports = d.Ports
	}
	if c.BaseHitRate == 0 {
		c.BaseHitRate = d.BaseHitRate
	}
	if c.ZipfExponent == 0 {
		c.ZipfExponent = d.ZipfExponent
	}
	if c.MaxItems == 0 {
		c.MaxItems = d.MaxItems
	}
	return c
}
