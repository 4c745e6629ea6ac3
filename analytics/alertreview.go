package analytics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Alert states. A detected alert is open; an analyst acknowledges it (seen, being followed up)
// or dismisses it (not a real risk). The state is the latest review event (table alert_events,
// migration 0008): ClickHouse 18.16 cannot update rows, and the history is worth keeping anyway.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertDismissed    = "dismissed"
)

// Review actions on an alert.
const (
	ReviewAcknowledge = "acknowledge" // open → acknowledged
	ReviewDismiss     = "dismiss"     // open or acknowledged → dismissed
)

// reviewTo maps each action to the state it leaves and the states it may start from.
var reviewTo = map[string]struct {
	to   string
	from []string
}{
	ReviewAcknowledge: {AlertAcknowledged, []string{AlertOpen}},
	ReviewDismiss:     {AlertDismissed, []string{AlertOpen, AlertAcknowledged}},
}

// MaxReviewComment bounds a review comment, in characters.
const MaxReviewComment = 2000

// AlertReview is the latest review of an alert: who did what, when and why.
type AlertReview struct {
	Action  string    `json:"action"` // acknowledge or dismiss
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Comment string    `json:"comment"`
}

// AlertAction asks to review an alert. Comment is required: an acknowledgement says what will be
// done, a dismissal why the alert is not a risk.
type AlertAction struct {
	AlertID string
	Action  string // ReviewAcknowledge or ReviewDismiss
	Actor   string // the analyst's user name
	Comment string
	At      time.Time // default now
}

// Auditor appends to the hash-chained audit trail; *clearance.Chain implements it.
type Auditor interface {
	// Record appends one entry: who (actor), what (action), about what (subject) and a detail
	// value encoded as JSON.
	Record(ctx context.Context, actor, action, subject string, detail any) error
}

// alertReviewDetail is what the audit chain records of a review.
type alertReviewDetail struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Comment     string `json:"comment"`
	Kind        string `json:"kind"`
	SubjectKind string `json:"subject_kind"`
	Subject     string `json:"subject"`
	Port        string `json:"port,omitempty"`
}

// ReviewAlert records an analyst's review of an alert and returns the alert as it now stands.
// The review is appended to audit first, then stored: every stored review is in the audit chain
// (a failed store after a written audit entry leaves an entry whose retry appends another,
// never a review without one). Errors: ErrInvalid (unknown action, no actor or comment, a
// comment longer than MaxReviewComment), ErrNotFound (no such alert), ErrState (the alert's
// state does not allow the action, e.g. acknowledging a dismissed alert), ErrUnavailable, and
// the auditor's error.
func (s *Store) ReviewAlert(ctx context.Context, a AlertAction, audit Auditor) (Alert, error) {
	rule, ok := reviewTo[a.Action]
	a.Comment = strings.TrimSpace(a.Comment)
	switch {
	case !ok:
		return Alert{}, fmt.Errorf("analytics: review alert: %w: action %q (allowed: acknowledge, dismiss)", ErrInvalid, a.Action)
	case a.AlertID == "" || a.Actor == "":
		return Alert{}, fmt.Errorf("analytics: review alert: %w: alert ID and actor are required", ErrInvalid)
	case a.Comment == "":
		return Alert{}, fmt.Errorf("analytics: review alert: %w: a comment is required", ErrInvalid)
	case utf8.RuneCountInString(a.Comment) > MaxReviewComment:
		return Alert{}, fmt.Errorf("analytics: review alert: %w: comment longer than %d characters", ErrInvalid, MaxReviewComment)
	case audit == nil:
		return Alert{}, fmt.Errorf("analytics: review alert: %w: no audit trail to record it in", ErrUnavailable)
	}
	if a.At.IsZero() {
		a.At = time.Now()
	}
	as, err := s.Alerts(ctx, AlertFilter{ID: a.AlertID, Limit: 1})
	if err != nil {
		return Alert{}, fmt.Errorf("analytics: review alert: %w", err)
	}
	if len(as) == 0 {
		return Alert{}, fmt.Errorf("analytics: review alert %s: %w", a.AlertID, ErrNotFound)
	}
	al := as[0]
	if !slices.Contains(rule.from, al.State) {
		return Alert{}, fmt.Errorf("analytics: review alert %s: %w: it is %s, cannot %s it", a.AlertID, ErrState, al.State, a.Action)
	}
	err = audit.Record(ctx, a.Actor, "alert."+a.Action, "alert:"+a.AlertID, alertReviewDetail{From: al.State, To: rule.to,
		Comment: a.Comment, Kind: al.Kind, SubjectKind: al.SubjectKind, Subject: al.Subject, Port: al.Port})
	if err != nil {
		return Alert{}, fmt.Errorf("analytics: review alert %s: audit: %w", a.AlertID, err)
	}
	at := a.At.UTC()
	err = s.insert(ctx, "review_alert", "INSERT INTO alert_events (alert_id, at, at_ns, actor, action, state, comment)", 1,
		func(b driver.Batch, _ int) error {
			return b.Append(a.AlertID, ts(at), at.UnixNano(), a.Actor, a.Action, rule.to, a.Comment)
		})
	if err != nil {
		return Alert{}, fmt.Errorf("analytics: review alert %s: %w", a.AlertID, err)
	}
	al.State = rule.to
	al.Review = &AlertReview{Action: a.Action, By: a.Actor, At: at.Truncate(time.Second), Comment: a.Comment}
	return al, nil
}
