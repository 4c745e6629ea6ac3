package targeting

import (
	"context"
	"time"

	"github.com/portguard/portguard/ingest"
)

// Reason codes of the manifest cross-check hold and its revision.
const (
	ReasonAwaitingManifest = "awaiting_manifest"
	ReasonManifestRevised  = "manifest_revised"
)

// revisionAudit is what the audit chain keeps of a revision: the channel before and after, and
// the cross-check that caused it, besides the new decision itself.
type revisionAudit struct {
	From     Channel           `json:"from"`
	To       Channel           `json:"to"`
	Revision int               `json:"revision"`
	Check    ingest.CrossCheck `json:"check"`
	decisionAudit
}

// AuditDecisionRevised is the audit action of a revision.
const AuditDecisionRevised = "decision.revise"

// Retarget is ingest's Retargeter: d is a declaration already decided whose manifest arrived
// later, with its cross-check filled. If its decision is a GREEN still awaiting the manifest,
// the declaration is decided again with the cross-check, and the result is published as a
// revision of the same declaration version (Revision one higher, RevisedFrom the earlier
// channel) and audited as "decision.revise". Anything else — a RED or YELLOW decision, one
// already revised, a newer version decided meanwhile, a decision older than ManifestWindow
// (clearance has released it by then) — is left alone: released consignments are never
// re-targeted. A failed publication goes to the retry queue, so the error is always nil.
func (s *Service) Retarget(ctx context.Context, d *ingest.Declaration) error {
	if s.d.ManifestWindow <= 0 || d == nil || d.Number == "" || d.Version < 1 || !d.Check.Joined {
		return nil
	}
	s.mu.Lock()
	prev, cached := s.cache[d.ID()]
	s.mu.Unlock()
	if !cached {
		// Decided before a restart or evicted: the keyed draws make the decision without the
		// manifest the same as the one clearance holds, unless the models learnt meanwhile.
		// Its time is unknown here; clearance ignores a revision of what it has released.
		orig := *d
		orig.Check = ingest.CrossCheck{}
		prev = s.decideNow(&orig, s.d.Now())
		prev.DecidedAt = time.Time{}
	}
	if dec, ok := s.revise(d, prev); ok {
		s.publishOne(ctx, dec)
	}
	return nil
}

// revise decides d, whose manifest has been joined, again when prev is a GREEN awaiting it,
// caches and audits the revision and returns it (ok false when there is nothing to revise). The
// caller publishes it.
func (s *Service) revise(d *ingest.Declaration, prev Decision) (Decision, bool) {
	if s.d.ManifestWindow <= 0 || !d.Check.Joined || !prev.AwaitingManifest {
		return Decision{}, false
	}
	id := d.ID()
	now := s.d.Now()
	if !prev.DecidedAt.IsZero() && now.Sub(prev.DecidedAt) > s.d.ManifestWindow {
		s.log.Info("manifest arrived after the window; the consignment is released, not re-targeted", "declaration", id)
		return Decision{}, false
	}
	// A revision must sort after its predecessor in every store that keeps the latest
	// decided_at (ClickHouse DateTime has whole seconds).
	if next := prev.DecidedAt.Truncate(time.Second).Add(time.Second); now.Before(next) {
		now = next
	}
	dec := s.decideNow(d, now)
	dec.Revision, dec.RevisedFrom = prev.Revision+1, prev.Channel
	dec.Reasons = append(dec.Reasons[:len(dec.Reasons):len(dec.Reasons)], revisedReason(prev.Channel, dec.Channel))

	s.mu.Lock()
	if cur, ok := s.cache[id]; ok && !dec.Replaces(&cur) || s.latest[d.Number] > d.Version {
		// Revised concurrently (a redelivered manifest batch) or amended meanwhile.
		s.mu.Unlock()
		return Decision{}, false
	}
	s.remember(id, d, dec)
	s.mu.Unlock()

	s.log.Info("decision revised after the manifest cross-check", "declaration", id, "from", prev.Channel, "to", dec.Channel,
		"revision", dec.Revision, "weight_deviation", d.Check.WeightDeviation, "undeclared_containers", d.Check.UndeclaredContainers)
	if s.d.Audit != nil {
		s.auditQ.push(AuditEntry{Actor: "system", Action: AuditDecisionRevised, Subject: id, At: dec.DecidedAt,
			Detail: revisionAudit{From: prev.Channel, To: dec.Channel, Revision: dec.Revision, Check: d.Check, decisionAudit: auditDetail(&dec)}})
	}
	return dec, true
}

// revisedReason says, in both languages, what the manifest cross-check did to the channel.
func revisedReason(from, to Channel) Reason {
	if from == to {
		return Reason{Code: ReasonManifestRevised, ZH: "舱单核对完成，风险未变（" + string(from) + "）",
			EN: "manifest cross-checked; the risk did not change (" + string(from) + ")"}
	}
	return Reason{Code: ReasonManifestRevised, ZH: "舱单核对改变了风险：由 " + string(from) + " 改为 " + string(to),
		EN: "the manifest cross-check changed the risk: " + string(from) + " → " + string(to)}
}
