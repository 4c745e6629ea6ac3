package targeting

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
)

// trainedEngine is an engine after Fit, online labels, grades and a few hundred decisions.
func trainedEngine(t *testing.T, comb string) (*Engine, *synthWorld) {
	t.Helper()
	w := newSynthWorld(11)
	var train []Labelled
	for i := 0; i < 3000; i++ {
		train = append(train, w.example(i))
	}
	e := mustEngine(t, func(c *Config) { c.Combiner = comb })
	if err := e.Fit(context.Background(), train); err != nil {
		t.Fatal(err)
	}
	for i := 3000; i < 3400; i++ {
		x := w.example(i)
		d := e.Decide(x.Decl, x.At)
		e.Learn(Outcome{DeclarationNo: d.DeclarationNo, Version: 1, Hit: x.Hit, Propensity: d.Propensity, Features: d.Features, DecidedAt: x.At})
	}
	e.SetGrade("IMP1", "dishonest")
	e.SetGrade("IMP2", "advanced")
	return e, w
}

func TestARestoredEngineDecidesExactlyAsTheOneSnapshotted(t *testing.T) {
	for _, comb := range []string{CombinerLogistic, CombinerGBDT} {
		t.Run(comb, func(t *testing.T) {
			e, w := trainedEngine(t, comb)
			path := filepath.Join(t.TempDir(), "engine.snap")
			if err := e.SnapshotFile(path); err != nil {
				t.Fatal(err)
			}
			r := mustEngine(t, nil)
			if err := r.RestoreFile(path); err != nil {
				t.Fatal(err)
			}
			if r.ModelVersion() != e.ModelVersion() || r.Grade("IMP1") != "dishonest" || r.Grade("IMP2") != "advanced" {
				t.Fatalf("restored model %s (want %s), grades %q %q", r.ModelVersion(), e.ModelVersion(), r.Grade("IMP1"), r.Grade("IMP2"))
			}
			for i := 3400; i < 3700; i++ {
				x := w.example(i)
				a, b := e.Decide(x.Decl, x.At), r.Decide(x.Decl, x.At)
				ja, _ := json.Marshal(a)
				jb, _ := json.Marshal(b)
				if !bytes.Equal(ja, jb) {
					t.Fatalf("declaration %d:\noriginal %s\nrestored %s", i, ja, jb)
				}
			}
			if a, b := e.state.Load().prof.len(), r.state.Load().prof.len(); a != b {
				t.Errorf("restored %d profiles, original has %d", b, a)
			}
		})
	}
}

func TestADamagedSnapshotIsRefusedAndLeavesTheEngineAsItWas(t *testing.T) {
	e, w := trainedEngine(t, CombinerLogistic)
	var buf bytes.Buffer
	if err := e.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	cases := map[string][]byte{
		"a flipped byte in the profiles": func() []byte { b := bytes.Clone(good); b[len(b)/2] ^= 0x40; return b }(),
		"a truncated file":               good[:len(good)-100],
		"another file format":            []byte("PK\x03\x04 not a snapshot at all"),
		"an empty file":                  nil,
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			r, _ := trainedEngine(t, CombinerLogistic)
			before := r.ModelVersion()
			x := w.example(5000)
			want := r.Decide(x.Decl, x.At)
			err := r.Restore(bytes.NewReader(b))
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("Restore = %v, want ErrSnapshot", err)
			}
			got := r.Decide(x.Decl, x.At)
			if r.ModelVersion() != before || got.Probability != want.Probability {
				t.Errorf("engine changed by a refused snapshot: model %s→%s, p %v→%v", before, r.ModelVersion(), want.Probability, got.Probability)
			}
		})
	}
}

func TestAServiceRestartsFromItsSnapshotWithoutReplayingHistory(t *testing.T) {
	e, w := trainedEngine(t, CombinerLogistic)
	path := filepath.Join(t.TempDir(), "targeting.snap")
	noPublish := func(context.Context, []Decision) error { return nil }
	s, err := NewService(e, ServiceDeps{Publish: noPublish, SnapshotPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SaveSnapshot(); err != nil {
		t.Fatal(err)
	}

	r := mustEngine(t, nil)
	s2, err := NewService(r, ServiceDeps{Publish: noPublish, SnapshotPath: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.WarmStart(context.Background()); err != nil {
		t.Fatal(err)
	}
	h1, h2 := s.Health(), s2.Health()
	if h2.ModelVersion != h1.ModelVersion || h2.Profiles != h1.Profiles || !h2.WarmStarted || h2.Degraded {
		t.Fatalf("after restart %+v, before %+v", h2, h1)
	}
	x := w.example(4000)
	if a, b := e.Decide(x.Decl, x.At), r.Decide(x.Decl, x.At); a.Score != b.Score || a.Channel != b.Channel {
		t.Errorf("restarted service decides %v/%s, original %v/%s", b.Score, b.Channel, a.Score, a.Channel)
	}

	// A service whose snapshot file does not exist yet starts cold, without error.
	s3, _ := NewService(mustEngine(t, nil), ServiceDeps{Publish: noPublish, SnapshotPath: path + ".missing"})
	if err := s3.WarmStart(context.Background()); err != nil || s3.Health().ModelVersion != "v0-prior" {
		t.Errorf("cold start with a missing snapshot: %v, %+v", err, s3.Health())
	}
}
