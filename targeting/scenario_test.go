package targeting

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
)

// TestScenarios runs every script in testdata/scenarios (see the header of
// rule-and-profile.txt for the commands) against a fresh engine.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario scripts: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScenario(t, f) })
	}
}

func runScenario(t *testing.T, path string) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	e := mustEngine(t, nil)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e.book.now = func() time.Time { return now }
	decls := map[string]*ingest.Declaration{}
	var last Decision
	ctx := context.Background()
	seq := 0
	sc := bufio.NewScanner(fh)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		fail := func(format string, a ...any) {
			t.Helper()
			t.Fatalf("%s:%d: %s: "+format, append([]any{path, ln, line}, a...)...)
		}
		kv := map[string]string{}
		for _, w := range f[1:] {
			if k, v, ok := strings.Cut(w, "="); ok {
				kv[k] = v
			}
		}
		switch f[0] {
		case "at":
			if now, err = time.Parse(time.RFC3339, f[1]); err != nil {
				fail("%v", err)
			}
		case "rule":
			pct, _ := strconv.ParseFloat(f[5], 64)
			r := fishFromJapan(f[1], now)
			r.When = Expr{All: []Expr{{Field: "hs_code", Op: OpPrefix, Values: strings.Split(f[2], ",")}, {Field: "origin_country", Op: OpEq, Values: []string{f[3]}}}}
			r.Action, r.Percent = Action(f[4]), pct
			if _, err := e.book.Create(ctx, analystA, r); err != nil {
				fail("%v", err)
			}
			e.book.Submit(ctx, analystA, r.ID)
			if _, err := e.book.Approve(ctx, analystB, r.ID); err != nil {
				fail("%v", err)
			}
		case "decl":
			d := testDecl(0, kv["importer"])
			d.Number = f[1]
			d.Items = d.Items[:1]
			d.Items[0].HSCode, d.Items[0].OriginCountry = kv["hs"], kv["origin"]
			if v, ok := kv["value"]; ok {
				d.Items[0].ValueBase, _ = strconv.ParseFloat(v, 64)
			}
			if v, ok := kv["kg"]; ok {
				d.Items[0].NetWeightKg, _ = strconv.ParseFloat(v, 64)
			}
			decls[f[1]] = d
		case "label":
			d := decls[f[1]]
			if d == nil {
				fail("unknown declaration")
			}
			n := 1
			if v, ok := kv["n"]; ok {
				n, _ = strconv.Atoi(v)
			}
			for i := 0; i < n; i++ {
				seq++
				c := *d
				c.Number = "LBL" + strconv.Itoa(seq)
				dec := e.Decide(&c, now)
				e.Learn(Outcome{DeclarationNo: c.Number, Version: 1, Hit: f[2] == "hit", Propensity: 1, Features: dec.Features, DecidedAt: now})
			}
		case "decide":
			d := decls[f[1]]
			if d == nil {
				fail("unknown declaration")
			}
			last = e.Decide(d, now)
		case "expect":
			switch f[1] {
			case "channel":
				if string(last.Channel) != f[2] {
					fail("channel %s", last.Channel)
				}
			case "selection":
				if string(last.Selection) != f[2] {
					fail("selection %s", last.Selection)
				}
			case "rule":
				ok := false
				for _, h := range last.RulesFired {
					ok = ok || (h.ID == f[2] && h.Selected)
				}
				if !ok {
					fail("rules fired %+v", last.RulesFired)
				}
			case "reason", "no-reason":
				found := false
				for _, r := range last.Reasons {
					if r.Code == f[2] && (kv["contains"] == "" || strings.Contains(r.ZH, kv["contains"]) || strings.Contains(r.EN, kv["contains"])) {
						found = true
					}
				}
				if found != (f[1] == "reason") {
					fail("reasons %+v", last.Reasons)
				}
			default:
				fail("unknown expectation")
			}
		default:
			fail("unknown command")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}
