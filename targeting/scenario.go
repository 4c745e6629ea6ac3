package targeting

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Scenario is one behavioural script of the targeting engine, plain data read from a JSON file
// (LoadScenarios) so that the same suite runs in process, through the HTTP API and through
// Kafka: the caller applies Config and Rules to a fresh engine or service, then RunScenario
// sends the steps through its decide and learn functions.
type Scenario struct {
	// Name is the file name without extension; Description says what the scenario proves.
	Name        string `json:"-"`
	Description string `json:"description"`
	// Config overrides the engine configuration the scenario needs (see Policy.Apply);
	// everything else is DefaultConfig, RandomKey included (the expected draws are those of
	// DevRandomKey).
	Config Policy `json:"config"`
	// Rules are in place before the first step.
	Rules []ScenarioRule `json:"rules,omitempty"`
	Steps []Step         `json:"steps"`
}

// ScenarioRule is a rule to put in place before the steps: created by a risk analyst and
// approved by another (the four-eyes path), or, when Emergency, activated by a supervisor
// without approval. Its validity is relative to the time the scenario runs.
type ScenarioRule struct {
	Rule Rule `json:"rule"`
	// ValidFrom and ValidTo are offsets from the run's start ("-1h", "24h"); ValidTo empty is
	// open-ended. A ValidTo in the past makes an expired rule.
	ValidFrom string `json:"valid_from"`
	ValidTo   string `json:"valid_to,omitempty"`
	Emergency bool   `json:"emergency,omitempty"`
}

// At returns the rule with its validity set relative to now.
func (r ScenarioRule) At(now time.Time) (Rule, error) {
	out := r.Rule
	off := func(s string) (time.Time, error) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return time.Time{}, fmt.Errorf("rule %s: validity offset %q: %w", r.Rule.ID, s, err)
		}
		return now.Add(d), nil
	}
	var err error
	if out.ValidFrom, err = off(cmpOr(r.ValidFrom, "-1h")); err != nil {
		return out, err
	}
	if r.ValidTo != "" {
		if out.ValidTo, err = off(r.ValidTo); err != nil {
			return out, err
		}
	}
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Step decides a declaration (Repeat copies of it) and optionally reports an outcome for each
// decision, then checks the expectations.
type Step struct {
	// Declaration is the wire message (schema portguard.declaration/v1), as the HTTP API and
	// the declarations topic take it.
	Declaration json.RawMessage `json:"declaration"`
	// Decl is Declaration decoded and normalized by ingest (LoadScenarios fills it).
	Decl *ingest.Declaration `json:"-"`
	// Repeat decides this many copies (default 1); copy i's declaration number is the
	// original's plus i in its last eight digits, so each copy is a new declaration.
	Repeat int `json:"repeat,omitempty"`
	// Outcome, when set, is the inspection result reported for each decision of the step.
	Outcome *StepOutcome `json:"outcome,omitempty"`
	// Expect is checked against every decision of the step.
	Expect *Expect `json:"expect,omitempty"`
	// Share, when set, is checked against the decisions of the step together.
	Share *ShareExpect `json:"share,omitempty"`
}

// StepOutcome is the label reported after a decision.
type StepOutcome struct {
	Hit     bool    `json:"hit"`
	Revenue float64 `json:"revenue,omitempty"`
}

// Expect are expectations about one decision; empty fields are not checked.
type Expect struct {
	Channel   Channel   `json:"channel,omitempty"`
	Selection Selection `json:"selection,omitempty"`
	// Rules must have fired and selected; NotRules must not have fired at all.
	Rules    []string `json:"rules,omitempty"`
	NotRules []string `json:"not_rules,omitempty"`
	// Reasons are codes that must be among the decision's reasons; NoReasons must not be.
	Reasons   []string `json:"reasons,omitempty"`
	NoReasons []string `json:"no_reasons,omitempty"`
}

// ShareExpect bounds the share of a step's decisions sent to a channel, after skipping the
// first Skip decisions (the capacity controller's warm-up).
type ShareExpect struct {
	Channel Channel `json:"channel"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	Skip    int     `json:"skip,omitempty"`
}

// LoadScenarios reads every *.json scenario in dir, in name order, decoding each step's
// declaration with ingest's validator (a declaration ingest would refuse fails the load).
func LoadScenarios(dir string) ([]Scenario, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("targeting: scenarios: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("targeting: no scenarios (*.json) in %s", dir)
	}
	sort.Strings(files)
	v := ingest.NewValidator(ingest.DefaultConfig())
	var out []Scenario
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("targeting: scenario: %w", err)
		}
		var s Scenario
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("targeting: scenario %s: %w", f, err)
		}
		s.Name = strings.TrimSuffix(filepath.Base(f), ".json")
		if len(s.Steps) == 0 {
			return nil, fmt.Errorf("targeting: scenario %s has no steps", s.Name)
		}
		for i := range s.Steps {
			st := &s.Steps[i]
			d, err := v.Declaration(st.Declaration)
			if err != nil {
				return nil, fmt.Errorf("targeting: scenario %s step %d: declaration: %w", s.Name, i+1, err)
			}
			st.Decl = d
			if st.Repeat < 0 || st.Repeat > 100_000 {
				return nil, fmt.Errorf("targeting: scenario %s step %d: repeat %d", s.Name, i+1, st.Repeat)
			}
		}
		for _, r := range s.Rules {
			if _, err := r.At(time.Now()); err != nil {
				return nil, fmt.Errorf("targeting: scenario %s: %w", s.Name, err)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Copy returns copy i of the step's declaration (i = 0 is the declaration itself).
func (st *Step) Copy(i int) (*ingest.Declaration, error) {
	if i == 0 {
		return st.Decl, nil
	}
	n := st.Decl.Number
	if len(n) < 8 {
		return nil, fmt.Errorf("declaration number %q is too short to number copies", n)
	}
	base, err := strconv.Atoi(n[len(n)-8:])
	if err != nil {
		return nil, fmt.Errorf("declaration number %q: %w", n, err)
	}
	c := *st.Decl
	c.Number = n[:len(n)-8] + fmt.Sprintf("%08d", (base+i)%100_000_000)
	return &c, nil
}

// RunScenario sends the scenario's steps through decide and learn — the engine in process, or
// the HTTP API and the inspection-results topic — and returns every unmet expectation, joined
// (nil when all hold). Rules and Config must have been applied by the caller. The outcome of a
// decision is built from it as clearance builds it: its features, propensity, model version
// and rules.
func RunScenario(s Scenario, decide func(d *ingest.Declaration) (Decision, error), learn func(Outcome) error) error {
	var errs []error
	for i := range s.Steps {
		st := &s.Steps[i]
		n := max(st.Repeat, 1)
		var inShare, counted int
		for k := 0; k < n; k++ {
			d, err := st.Copy(k)
			if err != nil {
				return fmt.Errorf("scenario %s step %d: %w", s.Name, i+1, err)
			}
			dec, err := decide(d)
			if err != nil {
				return fmt.Errorf("scenario %s step %d: decide %s: %w", s.Name, i+1, d.ID(), err)
			}
			if st.Expect != nil {
				if err := st.Expect.check(&dec); err != nil {
					errs = append(errs, fmt.Errorf("scenario %s step %d, declaration %s: %w", s.Name, i+1, d.ID(), err))
				}
			}
			if st.Share != nil && k >= st.Share.Skip {
				counted++
				if dec.Channel == st.Share.Channel {
					inShare++
				}
			}
			if st.Outcome != nil {
				o := Outcome{DeclarationNo: dec.DeclarationNo, Version: dec.Version, Hit: st.Outcome.Hit,
					Revenue: st.Outcome.Revenue, Channel: dec.Channel, Selection: dec.Selection, Random: dec.Random,
					Propensity: dec.Propensity, ModelVersion: dec.ModelVersion, Features: dec.Features,
					ResultVersion: 1, DecidedAt: dec.DecidedAt, InspectedAt: dec.DecidedAt}
				if st.Outcome.Hit {
					o.Severity = 1
				}
				for _, h := range dec.RulesFired {
					o.RulesFired = append(o.RulesFired, h.ID)
				}
				if err := learn(o); err != nil {
					return fmt.Errorf("scenario %s step %d: learn %s: %w", s.Name, i+1, d.ID(), err)
				}
			}
		}
		if st.Share != nil {
			share := 0.0
			if counted > 0 {
				share = float64(inShare) / float64(counted)
			}
			if share < st.Share.Min || share > st.Share.Max {
				errs = append(errs, fmt.Errorf("scenario %s step %d: %s share %.4f of %d decisions, want [%.3f, %.3f]",
					s.Name, i+1, st.Share.Channel, share, counted, st.Share.Min, st.Share.Max))
			}
		}
	}
	return errors.Join(errs...)
}

func (x *Expect) check(d *Decision) error {
	var errs []error
	if x.Channel != "" && d.Channel != x.Channel {
		errs = append(errs, fmt.Errorf("channel %s, want %s", d.Channel, x.Channel))
	}
	if x.Selection != "" && d.Selection != x.Selection {
		errs = append(errs, fmt.Errorf("selection %s, want %s", d.Selection, x.Selection))
	}
	for _, id := range x.Rules {
		if !slices.ContainsFunc(d.RulesFired, func(h RuleHit) bool { return h.ID == id && h.Selected }) {
			errs = append(errs, fmt.Errorf("rule %s did not fire and select (fired: %+v)", id, d.RulesFired))
		}
	}
	for _, id := range x.NotRules {
		if slices.ContainsFunc(d.RulesFired, func(h RuleHit) bool { return h.ID == id }) {
			errs = append(errs, fmt.Errorf("rule %s fired", id))
		}
	}
	has := func(code string) bool {
		return slices.ContainsFunc(d.Reasons, func(r Reason) bool { return r.Code == code })
	}
	for _, c := range x.Reasons {
		if !has(c) {
			errs = append(errs, fmt.Errorf("no reason %s among %s", c, reasonCodes(d)))
		}
	}
	for _, c := range x.NoReasons {
		if has(c) {
			errs = append(errs, fmt.Errorf("reason %s present among %s", c, reasonCodes(d)))
		}
	}
	return errors.Join(errs...)
}

func reasonCodes(d *Decision) string {
	cs := make([]string, len(d.Reasons))
	for i, r := range d.Reasons {
		cs[i] = r.Code
	}
	return "[" + strings.Join(cs, " ") + "]"
}
