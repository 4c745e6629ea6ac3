package targeting

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/decisions.golden from the current code")

// TestDecisionsMatchTheGoldenRecord decides a fixed stream — thousands of rules of every kind
// the bench uses, profiles learnt online from keyed pseudo-labels, a label correction — and
// compares every decision, byte for byte, with the record the unoptimized engine produced.
// Speed work on the decision path must not change a single decision.
func TestDecisionsMatchTheGoldenRecord(t *testing.T) {
	f, err := newBenchFixture(3000, 20_000)
	if err != nil {
		t.Fatal(err)
	}
	e := f.e
	var out bytes.Buffer
	now := f.now
	for i := 0; i < 2400; i++ {
		d := f.decls[i%len(f.decls)]
		c := *d
		c.Number = fmt.Sprintf("%s%04d", d.Number[:14], i)
		now = now.Add(37 * time.Second)
		dec := e.Decide(&c, now)
		// The order of rules found through different index fields is not part of the
		// contract; compare it canonically.
		canon := dec
		canon.RulesFired = slices.Clone(dec.RulesFired)
		canon.Reasons = slices.Clone(dec.Reasons)
		slices.SortFunc(canon.RulesFired, func(a, b RuleHit) int { return strings.Compare(a.ID, b.ID) })
		slices.SortStableFunc(canon.Reasons, func(a, b Reason) int { return strings.Compare(a.Code, b.Code) })
		b, err := json.Marshal(canon)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("GOLDEN_DUMP") == fmt.Sprint(i) {
			t.Logf("%s", b)
		}
		sum := sha256.Sum256(b)
		fmt.Fprintf(&out, "%s %s %s %s %v %v %d %x\n", dec.DeclarationNo, dec.Channel, dec.Action, dec.Selection, dec.Score, dec.Propensity, len(dec.RulesFired), sum[:8])
		if i%3 == 0 {
			hit := RandomDraw([]byte("golden"), "hit", c.Number) < 0.2
			o := Outcome{DeclarationNo: c.Number, Version: 1, Hit: hit, Propensity: dec.Propensity, Features: dec.Features, DecidedAt: now}
			e.Learn(o)
			if i%30 == 0 { // a corrected result replaces the first
				o.Hit, o.ResultVersion = !hit, 2
				e.Learn(o)
			}
		}
	}
	const path = "testdata/decisions.golden"
	if *updateGolden {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Bytes()
	if !bytes.Equal(got, want) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("decision %d differs:\n got %s\nwant %s", i, gl[i], wl[i])
			}
		}
		t.Fatalf("%d decision lines, want %d", len(gl), len(wl))
	}
}
