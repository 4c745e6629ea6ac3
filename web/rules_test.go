package web

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

// TestRuleLifecycleThroughTheAPI walks a targeting rule from draft to revocation over HTTP, with
// the real rule book enforcing four eyes.
func TestRuleLifecycleThroughTheAPI(t *testing.T) {
	broker := kafkatest.Start(t, 1)
	prod := ingest.NewProducer([]string{broker.Addr})
	t.Cleanup(func() { prod.Close() })
	eng, err := targeting.NewEngine(targeting.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ts, err := targeting.NewService(eng, targeting.ServiceDeps{Publish: func(ctx context.Context, ds []targeting.Decision) error {
		msgs := make([]ingest.Message, len(ds))
		for i := range ds {
			msgs[i] = ingest.Message{Topic: broker.Topics.Decisions, Key: ds[i].DeclarationNo, Value: &ds[i]}
		}
		return prod.Publish(ctx, msgs...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ts.Close)
	users := testUsers(t)
	if err := users.AddUser(User{Name: "analyst2", Roles: []string{RoleRiskAnalyst}}, "password-analyst2"); err != nil {
		t.Fatal(err)
	}
	_, h := mustServer(t, testConfig(), Deps{Targeting: ts, Users: users})
	author := loginAs(t, h, "risk_analyst-user", "password-risk_analyst")
	second := loginAs(t, h, "analyst2", "password-analyst2")
	officer := loginAs(t, h, "officer-user", "password-officer")

	rule := targeting.Rule{Title: "冻鱼低报", ReasonZH: "冻鱼单价低于同类中位数一半", ReasonEN: "frozen fish declared at under half the median unit value",
		When: targeting.Expr{All: []targeting.Expr{
			{Field: "hs_code", Op: targeting.OpPrefix, Values: []string{"0303"}},
			{Field: "unit_value_ratio", Op: targeting.OpBelow, Max: ptr(0.5)},
		}}, Action: targeting.ActionPhysical, Percent: 50, ValidFrom: time.Now().Add(-time.Minute)}

	code, b := author.post(t, "/v1/rules", rule)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, b)
	}
	created := decode[targeting.Rule](t, b)
	if created.ID == "" || created.State != targeting.RuleDraft || created.Author != "risk_analyst-user" {
		t.Fatalf("created = %+v", created)
	}
	path := "/v1/rules/" + created.ID

	steps := []struct {
		name  string
		do    func() (int, []byte)
		want  int
		state targeting.RuleState
	}{
		{"an officer may not read rules", func() (int, []byte) { return officer.get(t, "/v1/rules") }, 403, ""},
		{"a rule without a reason is 422 with fields", func() (int, []byte) {
			bad := rule
			bad.ReasonZH, bad.ReasonEN = "", ""
			return author.post(t, "/v1/rules", bad)
		}, 422, ""},
		{"editing a stale version is 409", func() (int, []byte) {
			r := created
			r.Version++
			return author.put(t, path, r)
		}, 409, ""},
		{"the author edits the draft", func() (int, []byte) {
			r := created
			r.Percent = 60
			return author.put(t, path, r)
		}, 200, targeting.RuleDraft},
		{"the author submits it", func() (int, []byte) { return author.post(t, path+"/submit", nil) }, 200, targeting.RulePending},
		{"the author may not approve it (four eyes)", func() (int, []byte) { return author.post(t, path+"/approve", nil) }, 403, ""},
		{"another analyst approves it", func() (int, []byte) { return second.post(t, path+"/approve", nil) }, 200, targeting.RuleActive},
		{"approving again is a conflict", func() (int, []byte) { return second.post(t, path+"/approve", nil) }, 409, ""},
		{"it is revoked with a reason", func() (int, []byte) {
			return second.post(t, path+"/revoke", noteRequest{Note: "情报已失效"})
		}, 200, targeting.RuleRevoked},
		{"an unknown rule is 404", func() (int, []byte) { return author.get(t, "/v1/rules/R999") }, 404, ""},
	}
	for _, s := range steps {
		code, b := s.do()
		if code != s.want {
			t.Fatalf("%s: %d, want %d: %s", s.name, code, s.want, b)
		}
		if s.state != "" {
			if got := decode[targeting.Rule](t, b); got.State != s.state {
				t.Fatalf("%s: state %s, want %s", s.name, got.State, s.state)
			}
		}
	}
	code, b = author.get(t, "/v1/rules?state=revoked")
	list := decode[[]ruleView](t, b)
	if code != 200 || len(list) != 1 || list[0].Rule.ID != created.ID || list[0].Rule.Note != "情报已失效" {
		t.Errorf("revoked list: %d %s", code, b)
	}
	if code, _ := author.get(t, "/v1/rules?state=bogus"); code != 422 {
		t.Errorf("bogus state: %d", code)
	}
}

func ptr[T any](v T) *T { return &v }

func (s consoleUser) put(tb testing.TB, path string, v any) (int, []byte) {
	tb.Helper()
	b, _ := json.Marshal(v)
	w := do(tb, s.h, request{method: "PUT", path: path, body: string(b), cookies: s.cookiesOf(),
		headers: []string{"Content-Type", "application/json", headerCSRF, s.csrf}})
	return w.Code, w.Body.Bytes()
}
