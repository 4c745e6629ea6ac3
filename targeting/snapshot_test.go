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
