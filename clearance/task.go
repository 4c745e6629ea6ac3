package clearance

import (
	"context"
	"errors"
	"time"

	"github.com/portguard/portguard/targeting"
)

// Errors that callers act on. Web maps them to status codes; validation problems are returned as
// *ingest.ValidationError.
var (
	ErrNotFound  = errors.New("clearance: not found")
	ErrConflict  = errors.New("clearance: conflict") // someone else changed it first; reload and retry
	ErrForbidden = errors.New("clearance: not allowed for this user")
	ErrState     = errors.New("clearance: not allowed in the task's current state")
)

// TaskState is where an inspection task stands. The happy path is Pending → Assigned →
// InProgress → ResultRecorded → one of the final states.
type TaskState string

// Task states.
const (
	TaskPending        TaskState = "PENDING"
	TaskAssigned       TaskState = "ASSIGNED"
	TaskInProgress     TaskState = "IN_PROGRESS"
	TaskAwaitingLab    TaskState = "AWAITING_LAB"
	TaskResultRecorded TaskState = "RESULT_RECORDED"
	TaskReleased       TaskState = "RELEASED"
	TaskTreatedRelease TaskState = "TREATED_RELEASED"
	TaskReturned       TaskState = "RETURNED"
	TaskDestroyed      TaskState = "DESTROYED"
	TaskDetained       TaskState = "DETAINED"
	TaskCancelled      TaskState = "CANCELLED" // declaration withdrawn
)

// Final reports whether no further transition is possible.
func (s TaskState) Final() bool {
	switch s {
	case TaskReleased, TaskTreatedRelease, TaskReturned, TaskDestroyed, TaskDetained, TaskCancelled:
		return true
	}
	return false
}

// Task is one inspection or document-review job created from a RED or YELLOW decision. Every
// change increments Version; stores keep the highest version (ReplacingMergeTree on Version).
type Task struct {
	ID            string             `json:"id"` // declaration ID: number-version
	DeclarationNo string             `json:"declaration_no"`
	DeclVersion   int                `json:"decl_version"`
	Port          string             `json:"port"`
	Channel       targeting.Channel  `json:"channel"`
	Action        targeting.Action   `json:"action"`
	Priority      int                `json:"priority"` // higher first
	State         TaskState          `json:"state"`
	Officer       string             `json:"officer,omitempty"`
	Qualification string             `json:"qualification,omitempty"`
	Decision      targeting.Decision `json:"decision"`
	Result        *InspectionResult  `json:"result,omitempty"`
	Version       int                `json:"version"`
	CreatedAt     time.Time          `json:"created_at"`
	UpdatedAt     time.Time          `json:"updated_at"`
	DueAt         time.Time          `json:"due_at"`

	// Draw records how the current officer was drawn (双随机); nil when nobody was drawn.
	Draw *Draw `json:"draw,omitempty"`
	// BondReleased is set when the consignment was released under bond (担保放行) while its
	// laboratory sample is being tested.
	BondReleased bool `json:"bond_released,omitempty"`
	// Reason is the reason given for the last reassignment, override or cancellation.
	Reason string `json:"reason,omitempty"`
}

// Actor is the authenticated user performing an action, as web hands it to clearance.
type Actor struct {
	User  string   `json:"user"`
	Roles []string `json:"roles"`
	Port  string   `json:"port,omitempty"` // the port an officer is on duty at; empty = all
}

// Has reports whether the actor has role r.
func (a Actor) Has(r string) bool {
	for _, x := range a.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// AuditRecord is one entry of the hash-chained audit trail. Hash = SHA-256 over PrevHash and the
// canonical encoding of the other fields; a changed or removed record breaks the chain.
type AuditRecord struct {
	Seq      uint64    `json:"seq"` // 1, 2, 3 … without gaps
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`  // "decision", "task.assign", "result", "override", "release", "login", "rule.approve" …
	Subject  string    `json:"subject"` // declaration ID, task ID, rule ID, user
	Detail   string    `json:"detail"`  // JSON
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// Store persists clearance state. Analytics implements it over ClickHouse; cmd connects them.
type Store interface {
	// SaveTasks upserts tasks; the highest Version of each ID wins.
	SaveTasks(ctx context.Context, tasks []Task) error
	// OpenTasks returns the latest version of every task not in a final state, for restart.
	OpenTasks(ctx context.Context) ([]Task, error)
	// AppendAudit stores records in order. It must not change records already stored.
	AppendAudit(ctx context.Context, recs []AuditRecord) error
	// LastAudit returns the record with the highest Seq, or ok=false when the trail is empty.
	LastAudit(ctx context.Context) (rec AuditRecord, ok bool, err error)
	// AuditRecords calls fn for every record with Seq ≥ from, in Seq order; subject filters by
	// subject prefix when non-empty.
	AuditRecords(ctx context.Context, from uint64, subject string, fn func(AuditRecord) error) error
}
