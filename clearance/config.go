package clearance

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Roles a user can hold. Web authenticates users and hands clearance an Actor carrying these
// strings; clearance checks them per action.
const (
	RoleOfficer     = "officer"      // 现场查验关员: records results on own tasks
	RoleSupervisor  = "supervisor"   // 科长/班长: all tasks of the port, reassignment, override review
	RoleRiskAnalyst = "risk_analyst" // 风险分析: rules; reads overrides and rates
	RoleHQAnalyst   = "hq_analyst"   // 总署分析: reads everything, changes nothing
	RoleAdmin       = "admin"        // everything
)

// Qualifications an officer may hold and a task may need. Administrations may use any other
// strings; these are the defaults of DefaultConfig.
const (
	QualAnimal     = "animal_quarantine" // live animals and animal products
	QualPlant      = "plant_quarantine"  // plants, plant products, wood
	QualFood       = "food"              // food safety
	QualIndustrial = "industrial"        // industrial goods, chemicals, machinery
)

// LabHold says what happens to a consignment while its laboratory sample is being tested.
type LabHold string

// Lab-hold policies.
const (
	LabBond LabHold = "BOND" // release under bond (担保放行) now; the lab result comes later
	LabHeld LabHold = "HOLD" // hold the goods until the lab result arrives
)

// Dispositions an officer records. They end a task; each has its final TaskState.
const (
	DispRelease      = "RELEASE"       // 放行
	DispTreatRelease = "TREAT_RELEASE" // 检疫处理后放行 (treated, then released)
	DispReturn       = "RETURN"        // 退运
	DispDestroy      = "DESTROY"       // 销毁
	DispDetain       = "DETAIN"        // 移交缉私/扣留 (transferred to enforcement)
	// DispReleaseBond is the disposition on the receipt of a consignment released under bond
	// while its laboratory sample is tested. It is not a disposition an officer records.
	DispReleaseBond = "RELEASE_UNDER_BOND"
)

// Officer is one member of the roster that assignment draws from.
type Officer struct {
	ID             string   `json:"id" yaml:"id"` // the user name officers log in with
	Name           string   `json:"name" yaml:"name"`
	Ports          []string `json:"ports" yaml:"ports"`                   // on duty at these ports; empty = any port
	Qualifications []string `json:"qualifications" yaml:"qualifications"` // e.g. plant_quarantine
	// Conflicts lists enterprise codes (importer, consignor, declarant) the officer must never
	// inspect: relatives, former employers (回避).
	Conflicts []string `json:"conflicts,omitempty" yaml:"conflicts"`
	OnDuty    bool     `json:"on_duty" yaml:"on_duty"`
}

// HSQualification says that goods whose HS code lies in [From, To] need Qualification. From and
// To are HS prefixes of the same length (a chapter "06", a heading "4403", …); an HS code matches
// when its prefix of that length lies between them.
type HSQualification struct {
	From          string `json:"from" yaml:"from"`
	To            string `json:"to" yaml:"to"`
	Qualification string `json:"qualification" yaml:"qualification"`
}

func (q HSQualification) matches(hs string) bool {
	n := len(q.From)
	if len(hs) < n {
		return false
	}
	p := hs[:n]
	return p >= q.From && p <= q.To
}

// Config configures clearance. DefaultConfig runs on one laptop; a port supplies its own roster.
type Config struct {
	// DueRed and DueYellow are how long an officer has for a task of that channel before it is
	// overdue (alerts and the overdue metric). Defaults 4 h and 8 h.
	DueRed    time.Duration `json:"due_red" yaml:"due_red"`
	DueYellow time.Duration `json:"due_yellow" yaml:"due_yellow"`
	// Officers is the duty roster assignment draws from. Empty: tasks stay PENDING until a
	// supervisor assigns them or an officer of the port takes one.
	Officers []Officer `json:"officers" yaml:"officers"`
	// Qualifications maps HS ranges to the qualification a task needs; the longest matching
	// range wins. Goods matching none need DefaultQualification ("" = any officer).
	Qualifications       []HSQualification `json:"qualifications" yaml:"qualifications"`
	DefaultQualification string            `json:"default_qualification" yaml:"default_qualification"`
	// ConflictFeatures names the decision features whose values are matched against an
	// officer's Conflicts, besides the decision's Importer. Default importer, consignor, declarant.
	ConflictFeatures []string `json:"conflict_features" yaml:"conflict_features"`
	// WorkloadSlack: officers whose open task count is at most the least loaded one's plus this
	// take part in the draw. 0 = only the least loaded; default 1 keeps the draw random while
	// bounding the spread of workloads.
	WorkloadSlack int `json:"workload_slack" yaml:"workload_slack"`
	// MaxOpenPerOfficer caps an officer's open tasks (0 = no cap).
	MaxOpenPerOfficer int `json:"max_open_per_officer" yaml:"max_open_per_officer"`
	// DrawKey keys the HMAC from which each assignment draw is seeded, so that draws are
	// reproducible by an auditor who holds the key and unpredictable to anyone else.
	DrawKey string `json:"-" yaml:"draw_key"`
	// LabPolicy says, per finding code, whether a consignment sampled for the laboratory is
	// released under bond or held; the strictest of the result's findings wins (HOLD over
	// BOND). LabDefault applies to samples without findings (routine sampling).
	LabPolicy  map[string]LabHold `json:"lab_policy" yaml:"lab_policy"`
	LabDefault LabHold            `json:"lab_default" yaml:"lab_default"`
	// LabResultsTopic is the Kafka topic laboratories report on (LabResultsHandler).
	LabResultsTopic string `json:"lab_results_topic" yaml:"lab_results_topic"`
	// Retention is how long released declaration IDs, withdrawn numbers and final tasks are
	// remembered in memory to make redelivered messages harmless. Default 7 days.
	Retention time.Duration `json:"retention" yaml:"retention"`
	// CheckEvery is how often Run looks for overdue tasks and retries pending assignments.
	CheckEvery time.Duration `json:"check_every" yaml:"check_every"`
	// ManifestWindow is how long a GREEN decision that awaits its manifest (awaiting_manifest)
	// is held before it is released anyway; use ingest's join window. Zero releases GREEN at
	// once, as if nothing were awaited.
	ManifestWindow time.Duration `json:"manifest_window" yaml:"manifest_window"`
}

// DefaultConfig returns the defaults: 4 h for RED and 8 h for YELLOW tasks, quarantine and food
// chapters mapped to their qualifications, HOLD for pests, prohibited goods and safety failures
// and BOND otherwise, and an empty roster (see DemoOfficers).
func DefaultConfig() Config {
	return Config{
		DueRed:    4 * time.Hour,
		DueYellow: 8 * time.Hour,
		Qualifications: []HSQualification{
			{From: "01", To: "05", Qualification: QualAnimal},
			{From: "06", To: "14", Qualification: QualPlant},
			{From: "15", To: "24", Qualification: QualFood},
			{From: "25", To: "97", Qualification: QualIndustrial},
			{From: "44", To: "46", Qualification: QualPlant}, // wood, cork, straw
		},
		ConflictFeatures: []string{"importer", "consignor", "declarant"},
		WorkloadSlack:    1,
		DrawKey:          "portguard-dev-draw-key",
		LabPolicy: map[string]LabHold{
			FindQuarantinePest: LabHeld,
			FindProhibited:     LabHeld,
			FindQualitySafety:  LabHeld,
		},
		LabDefault:      LabBond,
		LabResultsTopic: "portguard.lab-results",
		Retention:       7 * 24 * time.Hour,
		CheckEvery:      time.Minute,
	}
}

// DemoOfficers is the roster `portguard dev` seeds: three officers on duty at every port, whose
// IDs match the demo console accounts. Never use it in production.
func DemoOfficers() []Officer {
	return []Officer{
		{ID: "officer1", Name: "张伟", Qualifications: []string{QualAnimal, QualPlant, QualFood}, OnDuty: true},
		{ID: "officer2", Name: "李娜", Qualifications: []string{QualIndustrial, QualFood}, OnDuty: true},
		{ID: "officer3", Name: "王芳", Qualifications: []string{QualAnimal, QualPlant, QualFood, QualIndustrial}, OnDuty: true},
	}
}

// Validate reports every configuration problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.DueRed <= 0 || c.DueYellow <= 0 {
		errs = append(errs, errors.New("due times must be positive"))
	}
	seen := map[string]bool{}
	for i, o := range c.Officers {
		if strings.TrimSpace(o.ID) == "" {
			errs = append(errs, fmt.Errorf("officers[%d]: id is required", i))
		}
		if seen[o.ID] {
			errs = append(errs, fmt.Errorf("officers[%d]: id %q appears twice", i, o.ID))
		}
		seen[o.ID] = true
	}
	for i, q := range c.Qualifications {
		if q.From == "" || len(q.From) != len(q.To) || q.From > q.To || !digits(q.From) || !digits(q.To) {
			errs = append(errs, fmt.Errorf("qualifications[%d]: from %q and to %q must be HS prefixes of equal length, from ≤ to", i, q.From, q.To))
		}
		if q.Qualification == "" {
			errs = append(errs, fmt.Errorf("qualifications[%d]: qualification is required", i))
		}
	}
	if c.WorkloadSlack < 0 || c.MaxOpenPerOfficer < 0 {
		errs = append(errs, errors.New("workload_slack and max_open_per_officer must not be negative"))
	}
	if c.DrawKey == "" {
		errs = append(errs, errors.New("draw_key is required"))
	}
	known := map[string]bool{}
	for _, f := range Catalogue() {
		known[f.Code] = true
	}
	for code, h := range c.LabPolicy {
		if !known[code] {
			errs = append(errs, fmt.Errorf("lab_policy: unknown finding code %q", code))
		}
		if h != LabBond && h != LabHeld {
			errs = append(errs, fmt.Errorf("lab_policy[%s]: %q is neither BOND nor HOLD", code, h))
		}
	}
	if c.LabDefault != LabBond && c.LabDefault != LabHeld {
		errs = append(errs, fmt.Errorf("lab_default: %q is neither BOND nor HOLD", c.LabDefault))
	}
	if c.Retention <= 0 || c.CheckEvery <= 0 {
		errs = append(errs, errors.New("retention and check_every must be positive"))
	}
	if c.ManifestWindow < 0 {
		errs = append(errs, errors.New("manifest_window must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("clearance: config: %w", errors.Join(errs...))
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// due returns the due time of a new task of channel ch created at t.
func (c Config) due(red bool, t time.Time) time.Time {
	if red {
		return t.Add(c.DueRed)
	}
	return t.Add(c.DueYellow)
}
