package ingest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/portguard/portguard/ingest"
)

// racingSink is a decision sink during whose Accept something else happens: the manifest of the
// declaration being decided arrives on the other consumer.
type racingSink struct {
	*recordingSink
	during func()
}

func (s *racingSink) Accept(ctx context.Context, ds []*ingest.Declaration) error {
	if f := s.during; f != nil {
		s.during = nil
		f()
	}
	return s.recordingSink.Accept(ctx, ds)
}

// failingRetargeter fails its first n calls (a transient error), then records.
type failingRetargeter struct {
	*recordingSink
	n int
}

func (f *failingRetargeter) Retarget(ctx context.Context, d *ingest.Declaration) error {
	if f.n > 0 {
		f.n--
		return errors.New("targeting unavailable")
	}
	return f.recordingSink.Retarget(ctx, d)
}

// raceRig is an intake whose decision sink sees the declaration's manifest arrive while it
// decides, and whose retargeter fails the first failures calls.
func raceRig(t *testing.T, failures int) (*ingest.Intake, *racingSink, *rig) {
	base := newRig(t, nil)
	cfg := ingest.DefaultConfig()
	cfg.SpoolDir = t.TempDir()
	rec := &recordingSink{}
	sink := &racingSink{recordingSink: rec}
	in, err := ingest.NewIntake(cfg, ingest.NewValidator(cfg), base.store, sink, base.prod, base.b.Topics, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close() })
	in.SetRetargeter(&failingRetargeter{recordingSink: rec, n: failures})
	sink.during = func() {
		if err := in.ManifestHandler()(context.Background(), msgs(base.b.Topics.Manifests, manifestJSON(t, "BLR", 30000))); err != nil {
			t.Errorf("manifest: %v", err)
		}
	}
	return in, sink, base
}

func TestAManifestArrivingWhileItsDeclarationIsDecidedStillReTargetsIt(t *testing.T) {
	in, sink, base := raceRig(t, 0)
	ctx := context.Background()
	// The declaration is joined (no manifest yet) and handed on; while it is being decided, its
	// manifest is handled and finds nothing pending, because the declaration is not pending yet.
	if err := in.Handler()(ctx, msgs(base.b.Topics.Declarations, declarationJSON(t, 21, 1, "BLR"))); err != nil {
		t.Fatal(err)
	}
	rec := sink.recordingSink
	if len(rec.accepted) != 1 || rec.accepted[0].Check.Joined {
		t.Fatalf("handed on %+v, want the declaration without its manifest", rec.accepted)
	}
	if len(rec.retarget) != 1 || rec.retarget[0].ID() != declarationNo(21)+"-1" || !rec.retarget[0].Check.Joined ||
		rec.retarget[0].Check.UndeclaredContainers != 1 {
		t.Fatalf("re-targeted %+v, want the declaration once with its cross-check", rec.retarget)
	}
	// A redelivered manifest does not re-target it again: it is no longer pending.
	if err := in.ManifestHandler()(ctx, msgs(base.b.Topics.Manifests, manifestJSON(t, "BLR", 30000))); err != nil {
		t.Fatal(err)
	}
	if len(rec.retarget) != 1 {
		t.Errorf("re-targeted %d times, want once", len(rec.retarget))
	}
}

func TestAFailedLateReTargetingIsRetriedWithTheBatch(t *testing.T) {
	in, sink, base := raceRig(t, 1)
	ctx := context.Background()
	batch := msgs(base.b.Topics.Declarations, declarationJSON(t, 22, 1, "BLR"))
	if err := in.Handler()(ctx, batch); err == nil {
		t.Fatal("a failed re-targeting was not reported, so the batch would be committed")
	}
	// The retried batch hands the declaration on again, joined this time (targeting revises a
	// GREEN that awaited the manifest when it sees it joined), instead of dropping it as seen.
	if err := in.Handler()(ctx, batch); err != nil {
		t.Fatal(err)
	}
	rec := sink.recordingSink
	if len(rec.accepted) != 2 || rec.accepted[0].Check.Joined || !rec.accepted[1].Check.Joined || rec.accepted[1].ID() != declarationNo(22)+"-1" {
		t.Fatalf("handed on %+v, want the declaration without, then with, its manifest", rec.accepted)
	}
}
