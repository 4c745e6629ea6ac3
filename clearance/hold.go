package clearance

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Audit actions of release holds. A hold lives on the audit chain, like releases and
// withdrawals, so that Load rebuilds the open holds after a restart.
const (
	AuditHold    = "release.hold"     // a GREEN decision awaits its manifest; detail holdDetail
	AuditHoldEnd = "release.hold_end" // the hold ended; detail holdEnd
)

// Hold is a GREEN decision whose release waits for the manifest cross-check (the decision was
// AwaitingManifest): it ends with a revision of the decision (a task for RED or YELLOW, a
// release for GREEN), a newer version, a withdrawal, or at Until with the GREEN release.
type Hold struct {
	DeclarationNo string    `json:"declaration_no"`
	DeclVersion   int       `json:"decl_version"`
	Port          string    `json:"port"`
	HeldAt        time.Time `json:"held_at"`
	Until         time.Time `json:"until"`
}

// ID is the declaration ID the hold is for.
func (h *Hold) ID() string { return ingest.DeclarationID(h.DeclarationNo, h.DeclVersion) }

// holdDetail is the audit detail of a new hold.
type holdDetail struct {
	Port   string    `json:"port"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// holdEnd is the audit detail of an ended hold.
type holdEnd struct {
	Outcome string `json:"outcome"` // released, task, superseded, withdrawn
	Reason  string `json:"reason"`
}

// Hold outcomes.
const (
	holdReleased   = "released"
	holdTask       = "task"
	holdSuperseded = "superseded"
	holdWithdrawn  = "withdrawn"
)

// Holds returns the releases held for a manifest, oldest deadline first.
func (s *Service) Holds() []Hold {
	s.mu.RLock()
	out := make([]Hold, 0, len(s.holds))
	for _, h := range s.holds {
		out = append(out, *h)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Until.Equal(out[j].Until) {
			return out[i].Until.Before(out[j].Until)
		}
		return out[i].ID() < out[j].ID()
	})
	return out
}

// Released reports whether the declaration version has its release receipt (as far as this
// instance remembers: Retention).
func (s *Service) Released(id string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.released.has(id)
}

// ReleaseExpiredHolds releases, GREEN, every held consignment whose manifest did not arrive
// within the window, and reports how many. Run calls it; it is safe to call at any time.
func (s *Service) ReleaseExpiredHolds(ctx context.Context) (int, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.now()
	var due []Hold
	s.mu.RLock()
	for _, h := range s.holds {
		if !h.Until.After(now) {
			due = append(due, *h)
		}
	}
	s.mu.RUnlock()
	if len(due) == 0 {
		return 0, nil
	}
	sort.Slice(due, func(i, j int) bool { return due[i].ID() < due[j].ID() })
	var (
		msgs []ingest.Message
		recs []AuditRecord
		ids  []string
	)
	for _, h := range due {
		id := h.ID()
		if s.released.has(id) {
			continue
		}
		rel := s.release(h.DeclarationNo, h.DeclVersion, h.Port, targeting.Green, DispRelease, "system", now)
		msgs = append(msgs, s.releaseMsg(rel))
		ids = append(ids, id)
		recs = append(recs,
			s.rec("system", AuditHoldEnd, id, holdEnd{Outcome: holdReleased, Reason: "no manifest within the join window; released GREEN"}),
			s.rec("system", AuditRelease, id, rel))
	}
	if len(msgs) > 0 {
		if err := s.pub.Publish(ctx, msgs...); err != nil {
			return 0, fmt.Errorf("clearance: publish %d release receipt(s) after the manifest window: %w", len(msgs), err)
		}
	}
	s.mu.Lock()
	for _, id := range ids {
		s.released.put(id, 1, now)
	}
	for _, h := range due {
		if cur := s.holds[h.DeclarationNo]; cur != nil && cur.DeclVersion == h.DeclVersion {
			delete(s.holds, h.DeclarationNo)
			s.holdEnded.put(h.ID(), 1, now)
		}
	}
	s.met.holds.Set(float64(len(s.holds)))
	s.mu.Unlock()
	s.met.releases.WithLabelValues("green").Add(float64(len(msgs)))
	s.met.decisions.WithLabelValues("hold_expired").Add(float64(len(msgs)))
	if len(msgs) > 0 {
		s.log.Info("held GREEN consignments released: no manifest within the window", "released", len(msgs))
	}
	return len(msgs), s.audit(ctx, recs...)
}

// holdEvery is how often Run looks for expired holds: a tenth of the window, between 100 ms
// and CheckEvery.
func (c Config) holdEvery() time.Duration {
	if c.ManifestWindow <= 0 {
		return c.CheckEvery
	}
	return min(max(c.ManifestWindow/10, 100*time.Millisecond), c.CheckEvery)
}

// replayHold rebuilds the open holds from one audit record (s.mu held).
func (s *Service) replayHold(r AuditRecord) {
	switch r.Action {
	case AuditHold:
		var d holdDetail
		no, ver, ok := splitID(r.Subject)
		if !ok || json.Unmarshal([]byte(r.Detail), &d) != nil {
			return
		}
		s.holds[no] = &Hold{DeclarationNo: no, DeclVersion: ver, Port: d.Port, HeldAt: r.At, Until: d.Until}
	case AuditHoldEnd, AuditRelease, AuditTaskCreate:
		if no, ver, ok := splitID(r.Subject); ok {
			if h := s.holds[no]; h != nil && h.DeclVersion <= ver {
				delete(s.holds, no)
			}
		}
		if r.Action == AuditHoldEnd {
			s.holdEnded.put(r.Subject, 1, r.At)
		}
	case AuditWithdrawal:
		delete(s.holds, r.Subject)
	}
}

// splitID splits a declaration ID (number-version).
func splitID(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	v := 0
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		v = v*10 + int(c-'0')
	}
	return id[:i], v, v > 0
}
