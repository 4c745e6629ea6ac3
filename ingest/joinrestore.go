package ingest

import (
	"context"
	"fmt"
	"time"
)

// JoinHistory is where the intake finds, after a restart, the join state it kept in memory:
// the manifests received, and the declarations stored without their manifest, within the join
// window. analytics.Store implements it.
type JoinHistory interface {
	RecentManifests(ctx context.Context, since time.Time, fn func(*Manifest) error) error
	RecentUnjoined(ctx context.Context, since time.Time, fn func(*Declaration) error) error
}

// RestoreJoins rebuilds the join state from h, so that a restart neither forgets a manifest
// that already arrived (a declaration coming next would be decided, and its GREEN held, as if
// there were none) nor a declaration still waiting for its manifest (which would then not be
// re-targeted when it comes). Call it before the consumers start. Manifests are not marked as
// processed: one whose batch was redelivered after a crash is joined again, which is what
// re-targets its declarations.
func (in *Intake) RestoreJoins(ctx context.Context, h JoinHistory) (manifests, waiting int, err error) {
	now := in.cfg.Now()
	since := now.Add(-in.cfg.JoinWindow)
	err = h.RecentManifests(ctx, since, func(m *Manifest) error {
		if m.BillOfLading == "" {
			return nil
		}
		at := m.ReceivedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		in.mu.Lock()
		if old, ok := in.manifests.get(m.BillOfLading); !ok || !old.at.After(at) {
			in.manifests.put(m.BillOfLading, timed[*Manifest]{v: m, at: at})
		}
		in.mu.Unlock()
		manifests++
		return nil
	})
	if err != nil {
		return manifests, waiting, fmt.Errorf("ingest: restore manifests: %w", err)
	}
	err = h.RecentUnjoined(ctx, since, func(d *Declaration) error {
		if d.BillOfLading == "" || d.Check.Joined {
			return nil
		}
		at := d.ReceivedAt
		if at.IsZero() || at.After(now) {
			at = now
		}
		in.mu.Lock()
		defer in.mu.Unlock()
		if v, ok := in.latest.get(d.Number); ok && v > d.Version {
			return nil // an amendment supersedes it
		}
		in.latest.put(d.Number, d.Version)
		in.awaitManifestLocked(d, at, now)
		waiting++
		return nil
	})
	if err != nil {
		return manifests, waiting, fmt.Errorf("ingest: restore declarations awaiting a manifest: %w", err)
	}
	return manifests, waiting, nil
}
