// Package clearance is where officers work: inspection tasks, random officer assignment (双随机),
// results and findings, laboratory results that arrive later, release receipts, overrides, and the
// hash-chained audit trail. It publishes each final result as feedback for targeting. It never
// scores a consignment.
package clearance

import (
	"time"

	"github.com/portguard/portguard/targeting"
)

// Schema identifiers of clearance's Kafka messages.
const (
	SchemaInspectionResultV1 = "portguard.inspection-result/v1"
	SchemaReleaseV1          = "portguard.release/v1"
)

// Conformity is the outcome of an inspection.
type Conformity string

// Outcomes an officer can record. Pending is a sampled consignment waiting for its lab result.
const (
	Conforming    Conformity = "CONFORMING"
	NonConforming Conformity = "NON_CONFORMING"
	PendingLab    Conformity = "PENDING_LAB"
)

// Finding is one problem found at inspection, from the findings catalogue.
type Finding struct {
	Code     string  `json:"code"`     // catalogue code, e.g. "UNDERVALUATION"
	Severity int     `json:"severity"` // 1 minor, 2 major, 3 severe
	Note     string  `json:"note,omitempty"`
	Quantity float64 `json:"quantity,omitempty"` // seized or affected quantity
}

// InspectionResult is what an officer recorded for a task. Corrections create a new Version;
// earlier versions are never overwritten.
type InspectionResult struct {
	Schema        string     `json:"schema"`
	DeclarationNo string     `json:"declaration_no"`
	DeclVersion   int        `json:"decl_version"`
	Version       int        `json:"version"` // result version, 1 first
	TaskID        string     `json:"task_id"`
	Officer       string     `json:"officer"`
	Port          string     `json:"port"`
	Outcome       Conformity `json:"outcome"`
	Findings      []Finding  `json:"findings,omitempty"`
	// Adjustment is the duty or value adjustment in the base currency.
	Adjustment  float64   `json:"adjustment"`
	Disposition string    `json:"disposition"` // RELEASE, TREAT_RELEASE, RETURN, DESTROY, DETAIN
	Note        string    `json:"note,omitempty"`
	InspectedAt time.Time `json:"inspected_at"`
	// LabRef is the laboratory report number of a result that came from the laboratory.
	LabRef string `json:"lab_ref,omitempty"`
	// Label is the outcome as targeting learns it: decision context and features included.
	Label targeting.Outcome `json:"label"`
}

// Release is the release receipt (放行回执) sent to the electronic port, exactly once per
// declaration version.
type Release struct {
	Schema        string            `json:"schema"`
	DeclarationNo string            `json:"declaration_no"`
	DeclVersion   int               `json:"decl_version"`
	Port          string            `json:"port"`
	Channel       targeting.Channel `json:"channel"`
	Disposition   string            `json:"disposition"`
	ReleasedBy    string            `json:"released_by"` // officer or "system"
	ReleasedAt    time.Time         `json:"released_at"`
}
