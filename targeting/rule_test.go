package targeting

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
)

var (
	analystA   = Actor{User: "analyst-a", Roles: []string{RoleRiskAnalyst}}
	analystB   = Actor{User: "analyst-b", Roles: []string{RoleRiskAnalyst}}
	supervisor = Actor{User: "supervisor-s", Roles: []string{RoleSupervisor}}
	officer    = Actor{User: "officer-o", Roles: []string{RoleOfficer}}
)

func fishFromJapan(id string, from time.Time) Rule {
	return Rule{
		ID: id, Title: "日本输华水产品", ReasonZH: "核污染水排海风险", ReasonEN: "risk from the release of contaminated water",
		When: Expr{All: []Expr{
			{Field: "hs_code", Op: OpPrefix, Values: []string{"0302", "0303"}},
			{Field: "origin_country", Op: OpEq, Values: []string{"JP"}},
		}},
		Action: ActionSampling, Percent: 100, ValidFrom: from,
	}
}

// memRuleStore keeps rule versions in memory as the RuleStore contract describes; it stands in
// for no external server (analytics' ClickHouse implementation is tested in analytics).
type memRuleStore struct {
	mu sync.Mutex
	v  map[string][]byte
	st map[string]string
}

func (m *memRuleStore) SaveRuleVersion(_ context.Context, id string, version int, state string, body []byte, _ string, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.v == nil {
		m.v, m.st = map[string][]byte{}, map[string]string{}
	}
	k := id + "\x00" + strconv.Itoa(version)
	m.v[k], m.st[k] = slices.Clone(body), state
	return nil
}

func (m *memRuleStore) RuleVersions(_ context.Context, fn func(string, int, string, []byte) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, b := range m.v {
		i := slices.Index([]byte(k), 0)
		v, _ := strconv.Atoi(k[i+1:])
		if err := fn(k[:i], v, m.st[k], b); err != nil {
			return err
		}
	}
	return nil
}

func TestRuleLifecycle(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	newBook := func(t *testing.T) (*Engine, *RuleBook) {
		e := mustEngine(t, nil)
		e.book.now = func() time.Time { return now }
		return e, e.book
	}
	tests := []struct {
		name string
		run  func(t *testing.T, e *Engine, b *RuleBook)
	}{
		{"a rule goes from draft through pending to active and then matches", func(t *testing.T, e *Engine, b *RuleBook) {
			r, err := b.Create(ctx, analystA, fishFromJapan("", t0))
			if err != nil || r.State != RuleDraft || r.Version != 1 || r.Author != analystA.User {
				t.Fatalf("create: %+v %v", r, err)
			}
			if d := e.Decide(testDecl(1, "IMP1"), now); len(d.RulesFired) != 0 {
				t.Fatalf("a draft rule fired: %+v", d.RulesFired)
			}
			if r, err = b.Submit(ctx, analystA, r.ID); err != nil || r.State != RulePending {
				t.Fatalf("submit: %+v %v", r, err)
			}
			if r, err = b.Approve(ctx, analystB, r.ID); err != nil || r.State != RuleActive || r.Approver != analystB.User || r.Version != 3 {
				t.Fatalf("approve: %+v %v", r, err)
			}
			d := e.Decide(testDecl(1, "IMP1"), now)
			if len(d.RulesFired) != 1 || d.RulesFired[0].ID != r.ID || d.RulesFired[0].Version != 3 || d.Channel != Red || d.Action != ActionSampling || d.Selection != SelectedByRule {
				t.Fatalf("decision with the active rule: %+v", d)
			}
		}},
		{"the author cannot approve their own rule", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, analystA, fishFromJapan("", t0))
			b.Submit(ctx, analystA, r.ID)
			if _, err := b.Approve(ctx, analystA, r.ID); !errors.Is(err, ErrForbidden) {
				t.Fatalf("self-approval: %v, want ErrForbidden", err)
			}
		}},
		{"only a risk analyst approves", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, analystA, fishFromJapan("", t0))
			b.Submit(ctx, analystA, r.ID)
			for _, a := range []Actor{supervisor, officer} {
				if _, err := b.Approve(ctx, a, r.ID); !errors.Is(err, ErrForbidden) {
					t.Fatalf("approval by %s: %v, want ErrForbidden", a.User, err)
				}
			}
		}},
		{"a draft cannot be approved before it is submitted", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, analystA, fishFromJapan("", t0))
			if _, err := b.Approve(ctx, analystB, r.ID); !errors.Is(err, ErrConflict) {
				t.Fatalf("approving a draft: %v, want ErrConflict", err)
			}
		}},
		{"editing a draft with a stale version is a conflict", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, analystA, fishFromJapan("", t0))
			r.Title = "edited"
			r2, err := b.UpdateDraft(ctx, analystA, r)
			if err != nil || r2.Version != 2 || r2.Title != "edited" {
				t.Fatalf("update: %+v %v", r2, err)
			}
			if _, err := b.UpdateDraft(ctx, analystA, r); !errors.Is(err, ErrConflict) {
				t.Fatalf("stale update: %v, want ErrConflict", err)
			}
		}},
		{"bad rule content is a validation error naming each field", func(t *testing.T, e *Engine, b *RuleBook) {
			bad := fishFromJapan("", time.Time{})
			bad.Percent = 0
			bad.When.All[0].Values = []string{"03AB"}
			bad.Action = "SHOOT"
			_, err := b.Create(ctx, analystA, bad)
			var ve *ingest.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want *ingest.ValidationError", err)
			}
			var paths []string
			for _, f := range ve.Fields {
				paths = append(paths, f.Path)
			}
			for _, want := range []string{"percent", "valid_from", "action", "when.all[0].values[0]"} {
				if !slices.Contains(paths, want) {
					t.Errorf("no error for %s in %v", want, paths)
				}
			}
		}},
		{"an active rule stops matching at its end time without anyone touching it", func(t *testing.T, e *Engine, b *RuleBook) {
			r := fishFromJapan("", t0)
			r.ValidTo = t0.Add(48 * time.Hour)
			r, _ = b.Create(ctx, analystA, r)
			b.Submit(ctx, analystA, r.ID)
			b.Approve(ctx, analystB, r.ID)
			if d := e.Decide(testDecl(1, "IMP1"), t0.Add(47*time.Hour)); len(d.RulesFired) != 1 {
				t.Fatalf("rule did not fire before its end")
			}
			now = t0.Add(49 * time.Hour)
			if d := e.Decide(testDecl(2, "IMP1"), now); len(d.RulesFired) != 0 {
				t.Fatalf("rule fired after its end: %+v", d.RulesFired)
			}
			if got, _ := b.Get(r.ID); got.State != RuleExpired {
				t.Errorf("state after the end: %s, want expired", got.State)
			}
		}},
		{"a supervisor's emergency rule acts at once and lapses unless approved in time", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, supervisor, fishFromJapan("EPI-1", t0))
			if _, err := b.ActivateEmergency(ctx, analystA, r.ID); !errors.Is(err, ErrForbidden) {
				t.Fatalf("emergency activation by an analyst: %v", err)
			}
			r, err := b.ActivateEmergency(ctx, supervisor, r.ID)
			if err != nil || r.State != RuleActive || !r.Emergency {
				t.Fatalf("emergency activation: %+v %v", r, err)
			}
			if d := e.Decide(testDecl(1, "IMP1"), now.Add(time.Hour)); len(d.RulesFired) != 1 {
				t.Fatal("emergency rule did not fire")
			}
			if _, err := b.Approve(ctx, supervisor, r.ID); !errors.Is(err, ErrForbidden) {
				t.Fatalf("approval by the activating supervisor: %v", err)
			}
			if d := e.Decide(testDecl(2, "IMP1"), now.Add(25*time.Hour)); len(d.RulesFired) != 0 {
				t.Fatal("an unapproved emergency rule still fired after its approval window")
			}
		}},
		{"an emergency rule approved by an analyst stays active", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, supervisor, fishFromJapan("EPI-2", t0))
			b.ActivateEmergency(ctx, supervisor, r.ID)
			r, err := b.Approve(ctx, analystA, r.ID)
			if err != nil || r.Approver != analystA.User {
				t.Fatalf("approve emergency: %+v %v", r, err)
			}
			if d := e.Decide(testDecl(2, "IMP1"), now.Add(25*time.Hour)); len(d.RulesFired) != 1 {
				t.Fatal("approved emergency rule stopped firing")
			}
		}},
		{"a revoked rule stops at once and needs a reason", func(t *testing.T, e *Engine, b *RuleBook) {
			r, _ := b.Create(ctx, analystA, fishFromJapan("", t0))
			b.Submit(ctx, analystA, r.ID)
			b.Approve(ctx, analystB, r.ID)
			var ve *ingest.ValidationError
			if _, err := b.Revoke(ctx, analystB, r.ID, " "); !errors.As(err, &ve) {
				t.Fatalf("revoke without reason: %v", err)
			}
			if r, err := b.Revoke(ctx, analystB, r.ID, "notice lifted"); err != nil || r.State != RuleRevoked {
				t.Fatalf("revoke: %+v %v", r, err)
			}
			if d := e.Decide(testDecl(1, "IMP1"), now); len(d.RulesFired) != 0 {
				t.Fatal("revoked rule fired")
			}
		}},
		{"every version is saved and the book reloads from the store", func(t *testing.T, e *Engine, b *RuleBook) {
			store := &memRuleStore{}
			b.store = store
			r, _ := b.Create(ctx, analystA, fishFromJapan("R-JP", t0))
			b.Submit(ctx, analystA, r.ID)
			b.Approve(ctx, analystB, r.ID)
			if len(store.v) != 3 {
				t.Fatalf("%d versions saved, want 3", len(store.v))
			}
			e2 := mustEngine(t, nil)
			e2.book.now = b.now
			if err := e2.book.Load(ctx, store); err != nil {
				t.Fatal(err)
			}
			if got, err := e2.book.Get("R-JP"); err != nil || got.State != RuleActive || got.Version != 3 {
				t.Fatalf("reloaded: %+v %v", got, err)
			}
			if d := e2.Decide(testDecl(1, "IMP1"), now); len(d.RulesFired) != 1 {
				t.Fatal("reloaded rule does not fire")
			}
		}},
		{"a rule's percentage selects that share of matches, reproducibly", func(t *testing.T, e *Engine, b *RuleBook) {
			r := fishFromJapan("", t0)
			r.Percent = 30
			r, _ = b.Create(ctx, analystA, r)
			b.Submit(ctx, analystA, r.ID)
			b.Approve(ctx, analystB, r.ID)
			sel := 0
			const n = 2000
			for i := 0; i < n; i++ {
				d := e.Decide(testDecl(i, "IMP1"), now)
				if d.RulesFired[0].Selected != (RandomDraw(e.cfg.RandomKey, r.ID, d.DeclarationNo) < 0.3) {
					t.Fatal("selection is not the keyed draw")
				}
				if d.RulesFired[0].Selected {
					sel++
					if d.Channel != Red || d.Propensity < 0.3 {
						t.Fatalf("selected by rule but %s with propensity %v", d.Channel, d.Propensity)
					}
				}
			}
			if s := float64(sel); s < n*0.3-4.5*20.5 || s > n*0.3+4.5*20.5 {
				t.Errorf("%d of %d selected, want about 30%%", sel, n)
			}
			if st := b.Stats(r.ID); st.Matches != n || st.Selected != int64(sel) {
				t.Errorf("stats %+v", st)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now = t0
			e, b := newBook(t)
			tc.run(t, e, b)
		})
	}
}

// TestIndexedMatchingAgreesWithAScan generates random rule sets and declarations and checks
// that the index finds exactly the rules a brute-force scan finds.
func TestIndexedMatchingAgreesWithAScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	hs := []string{"0303890090", "0303890010", "0302110000", "8471300000", "8471410000", "4403960000", "1001990000"}
	countries := []string{"JP", "CN", "RU", "US", "VN"}
	pick := func(s []string) string { return s[r.IntN(len(s))] }
	var leaf func() Expr
	leaf = func() Expr {
		switch r.IntN(9) {
		case 0:
			h := pick(hs)
			return Expr{Field: "hs_code", Op: OpPrefix, Values: []string{h[:2+2*r.IntN(4)]}}
		case 1:
			return Expr{Field: "origin_country", Op: OpIn, Values: []string{pick(countries), pick(countries)}}
		case 2:
			return Expr{Field: "importer", Op: OpEq, Values: []string{"IMP" + strconv.Itoa(r.IntN(5))}}
		case 3:
			return Expr{Field: "port", Op: OpEq, Values: []string{pick([]string{"3101", "2200"})}}
		case 4:
			v := float64(r.IntN(3000))
			return Expr{Field: "net_weight_kg", Op: OpAbove, Min: &v}
		case 5:
			v := 0.1 * float64(r.IntN(4))
			return Expr{Field: "weight_deviation", Op: OpAbove, Min: &v}
		case 6:
			return Expr{Field: "attr.PAYMENT", Op: OpEq, Values: []string{pick([]string{"LC", "TT"})}}
		case 7:
			return Expr{Field: "departure_country", Op: OpEq, Values: []string{pick(countries)}}
		default:
			return Expr{Field: "hs_code", Op: OpEq, Values: []string{pick(hs)}}
		}
	}
	var tree func(depth int) Expr
	tree = func(depth int) Expr {
		if depth == 0 || r.IntN(3) == 0 {
			return leaf()
		}
		n := 1 + r.IntN(3)
		subs := make([]Expr, n)
		for i := range subs {
			subs[i] = tree(depth - 1)
		}
		if r.IntN(2) == 0 {
			return Expr{All: subs}
		}
		return Expr{Any: subs}
	}
	for round := 0; round < 30; round++ {
		var rules []*compiledRule
		for i := 0; i < 200; i++ {
			rule := &Rule{ID: fmt.Sprintf("P%d", i), Title: "t", ReasonEN: "r", When: tree(3), Action: ActionPhysical, Percent: 100, ValidFrom: t0}
			if r.IntN(10) == 0 {
				rule.Ports = []string{"3101"}
			}
			c, err := validateRule(rule)
			if err != nil {
				t.Fatal(err)
			}
			rules = append(rules, c)
		}
		ix := buildIndex(rules)
		var m matcher
		for j := 0; j < 200; j++ {
			d := testDecl(j, "IMP"+strconv.Itoa(r.IntN(5)))
			d.Port = pick([]string{"3101", "2200"})
			d.DepartureCountry = pick(countries)
			d.Attributes = map[string]string{"PAYMENT": pick([]string{"LC", "TT"})}
			d.Check = ingest.CrossCheck{Joined: true, WeightDeviation: r.Float64() * 0.4}
			for k := range d.Items {
				d.Items[k].HSCode = pick(hs)
				d.Items[k].OriginCountry = pick(countries)
				d.Items[k].NetWeightKg = float64(r.IntN(4000))
			}
			in := &ruleInput{d: d}
			got := ix.match(in, t0.Add(time.Hour), &m, nil)
			want := ix.matchAll(in, t0.Add(time.Hour))
			ids := func(cs []*compiledRule) []string {
				var s []string
				for _, c := range cs {
					s = append(s, c.r.ID)
				}
				slices.Sort(s)
				return s
			}
			if g, w := ids(got), ids(want); !slices.Equal(g, w) {
				t.Fatalf("round %d declaration %d: index found %v, scan found %v", round, j, g, w)
			}
		}
		if round == 0 {
			t.Logf("index: %d rules, %d in the scan list", len(rules), len(ix.scan))
		}
	}
}
