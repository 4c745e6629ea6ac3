package clearance_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

// awaiting is a GREEN decision made before its manifest was cross-checked.
func awaiting(no string, at time.Time) targeting.Decision {
	d := decision(no, 1, targeting.Green, at)
	d.Selection, d.RulesFired, d.AwaitingManifest = targeting.NotSelected, nil, true
	return d
}

// revised is the revision targeting publishes when the manifest arrives.
func revised(d targeting.Decision, ch targeting.Channel, at time.Time) targeting.Decision {
	r := decision(d.DeclarationNo, d.Version, ch, at)
	r.Revision, r.RevisedFrom = d.Revision+1, d.Channel
	return r
}

func (r *rig) releases(want int) []clearance.Release {
	r.t.Helper()
	return decode[clearance.Release](r.t, r.messages(r.b.Topics.Releases, want))
}

func TestAGreenDecisionAwaitingItsManifestIsHeldUntilItsRevision(t *testing.T) {
	const window = 10 * time.Minute
	r := newRig(t, func(c *clearance.Config) { c.ManifestWindow = window })
	ctx := context.Background()
	now := r.clock.Now()
	toRed, toGreen := awaiting(declNo(1), now), awaiting(declNo(2), now)

	r.decide(toRed, toGreen, toGreen) // the second copy is a redelivery
	if rel := r.releases(0); len(rel) != 0 {
		t.Fatalf("a GREEN awaiting its manifest was released at once: %+v", rel)
	}
	if h := r.svc.Holds(); len(h) != 2 || !h[0].Until.Equal(now.Add(window)) {
		t.Fatalf("holds %+v, want two until %v", h, now.Add(window))
	}

	// The holds survive a restart: they are on the audit chain.
	r.clock.Advance(time.Minute)
	r.svc = r.start()
	if h := r.svc.Holds(); len(h) != 2 {
		t.Fatalf("after a restart %d holds, want 2", len(h))
	}

	// The manifest raised one to RED: a task, and still no release.
	red := revised(toRed, targeting.Red, r.clock.Now())
	r.decide(red, toRed) // the original redelivered after its revision is a duplicate
	task := r.task(red.ID())
	if task.Channel != targeting.Red || task.Decision.Revision != 1 || task.Decision.RevisedFrom != targeting.Green {
		t.Fatalf("task of the RED revision: %+v", task)
	}
	// The other stayed GREEN: released once, however often its revision arrives.
	green := revised(toGreen, targeting.Green, r.clock.Now())
	r.decide(green, green, toGreen)
	rel := r.releases(1)
	if len(rel) != 1 || rel[0].DeclarationNo != toGreen.DeclarationNo || rel[0].Channel != targeting.Green {
		t.Fatalf("releases %+v, want the GREEN revision's once", rel)
	}
	if h := r.svc.Holds(); len(h) != 0 {
		t.Fatalf("holds left after both revisions: %+v", h)
	}
	// The window passing later releases nothing more.
	r.clock.Advance(window)
	if n, err := r.svc.ReleaseExpiredHolds(ctx); err != nil || n != 0 {
		t.Fatalf("expired holds released %d (%v), want 0", n, err)
	}
	trail, err := r.svc.Trail(ctx, toRed.DeclarationNo)
	if err != nil {
		t.Fatal(err)
	}
	acts := actions(trail)
	if !slices.Contains(acts, clearance.AuditHold) || !slices.Contains(acts, clearance.AuditHoldEnd) || slices.Contains(acts, clearance.AuditRelease) {
		t.Errorf("trail of the re-targeted consignment: %v, want hold, hold end and no release", acts)
	}
	if got := r.metric("portguard_clearance_release_holds", nil); got != 0 {
		t.Errorf("release_holds gauge %v, want 0", got)
	}
}

func TestAHeldReleaseGoesOutGreenOnceWhenTheWindowPassesEvenAcrossARestart(t *testing.T) {
	const window = 10 * time.Minute
	r := newRig(t, func(c *clearance.Config) { c.ManifestWindow = window })
	ctx := context.Background()
	d := awaiting(declNo(3), r.clock.Now())
	r.decide(d)
	r.clock.Advance(window - time.Second)
	if n, err := r.svc.ReleaseExpiredHolds(ctx); err != nil || n != 0 {
		t.Fatalf("released %d (%v) before the window passed", n, err)
	}
	r.clock.Advance(2 * time.Second)
	r.svc = r.start() // the process restarted meanwhile
	if n, err := r.svc.ReleaseExpiredHolds(ctx); err != nil || n != 1 {
		t.Fatalf("released %d (%v) after the window, want 1", n, err)
	}
	if n, err := r.svc.ReleaseExpiredHolds(ctx); err != nil || n != 0 {
		t.Fatalf("released %d (%v) again, want 0", n, err)
	}
	// A late revision (the manifest lost the race) and a redelivery change nothing.
	r.decide(revised(d, targeting.Red, r.clock.Now()), d)
	r.svc = r.start()
	r.decide(d)
	if n, _ := r.svc.ReleaseExpiredHolds(ctx); n != 0 {
		t.Fatalf("released %d after a restart, want 0", n)
	}
	rel := r.releases(1)
	if len(rel) != 1 || rel[0].DeclarationNo != d.DeclarationNo || rel[0].DeclVersion != d.Version || rel[0].Channel != targeting.Green || rel[0].ReleasedBy != "system" {
		t.Fatalf("releases %+v, want one GREEN release of %s", rel, d.ID())
	}
	if tasks, _ := r.svc.Tasks(ctx, clearance.TaskFilter{Declaration: d.DeclarationNo}); len(tasks) != 0 {
		t.Fatalf("a revision after release made a task: %+v", tasks)
	}
}

func TestAHoldEndsWithANewVersionOrAWithdrawal(t *testing.T) {
	r := newRig(t, func(c *clearance.Config) { c.ManifestWindow = time.Hour })
	ctx := context.Background()
	amended, withdrawn := awaiting(declNo(4), r.clock.Now()), awaiting(declNo(5), r.clock.Now())
	r.decide(amended, withdrawn)
	v2 := decision(amended.DeclarationNo, 2, targeting.Yellow, r.clock.Now())
	r.decide(v2)
	if err := r.svc.Withdraw(ctx, withdrawn.DeclarationNo, "申报错误"); err != nil {
		t.Fatal(err)
	}
	if h := r.svc.Holds(); len(h) != 0 {
		t.Fatalf("holds %+v, want none", h)
	}
	r.clock.Advance(2 * time.Hour)
	r.svc = r.start()
	if n, err := r.svc.ReleaseExpiredHolds(ctx); err != nil || n != 0 {
		t.Fatalf("released %d (%v), want 0", n, err)
	}
	if rel := r.releases(0); len(rel) != 0 {
		t.Fatalf("releases %+v, want none", rel)
	}
}

func TestWithoutAManifestWindowGreenIsReleasedAtOnceAsBefore(t *testing.T) {
	r := newRig(t, nil)
	r.decide(awaiting(declNo(6), r.clock.Now()))
	if rel := r.releases(1); len(rel) != 1 {
		t.Fatalf("releases %+v, want 1", rel)
	}
}
