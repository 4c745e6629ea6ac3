// Package targeting decides, for every consignment, whether it is inspected (RED), its documents
// reviewed (YELLOW) or released (GREEN), and why: targeting rules (布控指令), random selection
// (随机布控) and statistical risk models held in memory, which learn from inspection outcomes.
// It knows nothing of officers or release.
package targeting

import (
	"context"
	"time"

	"github.com/portguard/portguard/ingest"
)

// SchemaDecisionV1 identifies a decision message on the decisions topic.
const SchemaDecisionV1 = "portguard.decision/v1"

// Channel is the clearance channel a decision routes a consignment to.
type Channel string

// Channels, most severe first.
const (
	Red    Channel = "RED"    // physical inspection or sampling (查验/抽样)
	Yellow Channel = "YELLOW" // document review (单证审核)
	Green  Channel = "GREEN"  // release (放行)
)

// Action refines a channel: what the officer is asked to do.
type Action string

// Actions a rule or the engine may ask for.
const (
	ActionPhysical  Action = "PHYSICAL"  // RED: physical inspection
	ActionSampling  Action = "SAMPLING"  // RED: sampling with a laboratory test
	ActionDocuments Action = "DOCUMENTS" // YELLOW: document review
	ActionHold      Action = "HOLD"      // YELLOW: hold pending instruction
	ActionRelease   Action = "RELEASE"   // GREEN
)

// Selection says what put a consignment into RED or YELLOW.
type Selection string

// Selection sources. Random selections are the unbiased control group.
const (
	SelectedByRule    Selection = "rule"
	SelectedByModel   Selection = "model"
	SelectedByRandom  Selection = "random"
	SelectedByExplore Selection = "explore"
	NotSelected       Selection = "none"
)

// Reason is one human-readable ground of a decision, in Chinese and English, with the weight
// it carried (a log-odds contribution for model reasons, 0 for rules).
type Reason struct {
	Code   string  `json:"code"`
	ZH     string  `json:"zh"`
	EN     string  `json:"en"`
	Weight float64 `json:"weight"`
}

// RuleHit names a targeting rule that matched the consignment.
type RuleHit struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Title    string `json:"title"`
	Action   Action `json:"action"`
	Selected bool   `json:"selected"` // false when the rule matched but its percentage draw did not select
}

// Feature is one categorical attribute value of a consignment that a profile learns from, such
// as {"importer", "4403960123"} or {"hs4", "0303"}. Decisions carry their features so that a
// result arriving days later, on any instance, can update the right profiles.
type Feature struct {
	Name  string `json:"n"`
	Value string `json:"v"`
}

// Decision is targeting's answer for one declaration version.
type Decision struct {
	Schema        string    `json:"schema"`
	DeclarationNo string    `json:"declaration_no"`
	Version       int       `json:"version"`
	Port          string    `json:"port"`
	Importer      string    `json:"importer"`
	Channel       Channel   `json:"channel"`
	Action        Action    `json:"action"`
	Selection     Selection `json:"selection"`
	Score         float64   `json:"score"`       // model risk score (objective units)
	Probability   float64   `json:"probability"` // calibrated probability of a hit
	Random        bool      `json:"random"`      // selected by the random control draw
	// Propensity is the probability, at decision time, that this consignment would be
	// inspected; the inverse-propensity weight of its label is 1/Propensity.
	Propensity   float64   `json:"propensity"`
	ModelVersion string    `json:"model_version"`
	RulesFired   []RuleHit `json:"rules_fired,omitempty"`
	Reasons      []Reason  `json:"reasons"`
	Features     []Feature `json:"features,omitempty"`
	Degraded     bool      `json:"degraded"` // decided without ClickHouse-backed state
	DecidedAt    time.Time `json:"decided_at"`
	// Shadow is the challenger's view while a model is in shadow (nil otherwise): recorded so
	// that its labels can decide its promotion, never acted on.
	Shadow *Shadow `json:"shadow,omitempty"`
	// AwaitingManifest marks a GREEN decision made before the bill of lading's manifest was
	// cross-checked: clearance holds the release until a revision arrives or the manifest join
	// window passes.
	AwaitingManifest bool `json:"awaiting_manifest,omitempty"`
	// Revision counts re-decisions of the same declaration version (0 for the first). Every
	// consumer keeps the highest revision of a declaration version and treats an equal or lower
	// one as a duplicate; a revision is always decided in a later second than the decision it
	// replaces, so stores that keep the latest decided_at keep it.
	Revision int `json:"revision,omitempty"`
	// RevisedFrom is the channel of the decision this revision replaces ("" when Revision is 0).
	RevisedFrom Channel `json:"revised_from,omitempty"`
}

// Replaces reports whether d supersedes old, a decision for the same declaration version: only a
// higher revision does; an equal or lower one is a duplicate.
func (d *Decision) Replaces(old *Decision) bool { return d.Revision > old.Revision }

// ID is the idempotency key, the same as the declaration version's.
func (d *Decision) ID() string { return ingest.DeclarationID(d.DeclarationNo, d.Version) }

// Inspected reports whether the decision sends the consignment to an officer.
func (d *Decision) Inspected() bool { return d.Channel == Red || d.Channel == Yellow }

// Outcome is the label targeting learns from: what inspection found for a decided consignment.
// Clearance builds it from its inspection result. Only inspected consignments have outcomes; the
// propensity recorded at decision time corrects for that.
type Outcome struct {
	DeclarationNo string    `json:"declaration_no"`
	Version       int       `json:"version"`
	Hit           bool      `json:"hit"`      // non-conforming
	Severity      int       `json:"severity"` // 0 none … 3 severe
	Revenue       float64   `json:"revenue"`  // duty or value recovered, base currency
	Channel       Channel   `json:"channel"`
	Selection     Selection `json:"selection"`
	Random        bool      `json:"random"`
	Propensity    float64   `json:"propensity"`
	ModelVersion  string    `json:"model_version"`
	RulesFired    []string  `json:"rules_fired,omitempty"`
	Features      []Feature `json:"features,omitempty"`
	// ResultVersion increases when a result is corrected; the learner replaces the earlier label.
	ResultVersion int       `json:"result_version"`
	DecidedAt     time.Time `json:"decided_at"`
	InspectedAt   time.Time `json:"inspected_at"`
}

// History reads labelled history for warm start and retraining. Analytics implements it over
// ClickHouse.
type History interface {
	// Outcomes calls fn for every outcome decided at or after since, oldest first, with the
	// latest result version of each. It returns ctx.Err() if cancelled and a wrapped error if
	// the store cannot be read.
	Outcomes(ctx context.Context, since time.Time, fn func(Outcome) error) error
}

// AuditEntry is one action targeting wants on the audit chain: a decision or a rule change.
type AuditEntry struct {
	Actor   string // user or "system"
	Action  string // e.g. "decision", "rule.approve"
	Subject string // declaration ID or rule ID
	Detail  any    // JSON-encoded into the chain
	At      time.Time
}

// Auditor appends entries to the audit chain. Clearance implements it.
type Auditor interface {
	Append(ctx context.Context, e AuditEntry) error
}
