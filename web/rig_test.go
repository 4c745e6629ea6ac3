package web

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// rig is the adapter on top of the real services, wired as cmd wires them: a fresh ClickHouse
// database (analytics), an in-process Kafka broker, clearance consuming the decisions topic,
// targeting with one active rule, ingest's intake writing to ClickHouse, and the analytics
// recorder storing decisions, results and releases.
type rig struct {
	store     *analytics.Store
	broker    *kafkatest.Broker
	clearance *clearance.Service
	targeting *targeting.Service
	intake    *ingest.Intake
	reg       *prometheus.Registry
	handler   http.Handler
	srv       *server
}

// Test data: the golden import declaration of ingest (Vietnamese bananas and dragon fruit at port
// 2229) and a rule that sends fresh bananas from Vietnam to physical inspection.
const (
	rigPort     = "2229"
	rigRuleZH   = "越南鲜香蕉检疫性有害生物风险，须查验"
	rigRuleEN   = "Fresh bananas from Vietnam: quarantine pest risk, inspect"
	rigOfficer  = "officer1"
	rigPassword = "password-officer1"
)

func goldenDeclaration(tb testing.TB, number string) string {
	tb.Helper()
	b, err := os.ReadFile("../ingest/testdata/golden/declaration_import.json")
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Replace(string(b), "222920260000012345", number, 1)
}

// rigOption changes the rig's clearance configuration before the service starts.
type rigOption func(*clearance.Config)

// newRig starts the real services and the adapter. The roster has officer1, qualified for
// everything (so every task of the rig is drawn to them), and officer2, qualified for
// industrial goods only (never drawn for the rig's fruit, but a supervisor may reassign to
// them).
func newRig(tb testing.TB, cfg Config, opts ...rigOption) *rig {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })

	store := openStore(tb)
	if err := store.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	broker := kafkatest.Start(tb, 1)
	prod := ingest.NewProducer([]string{broker.Addr})
	tb.Cleanup(func() { prod.Close() })
	topics := ingest.DefaultTopics()

	ccfg := clearance.DefaultConfig()
	ccfg.Officers = []clearance.Officer{{ID: rigOfficer, Name: "张伟", OnDuty: true,
		Qualifications: []string{clearance.QualAnimal, clearance.QualPlant, clearance.QualFood, clearance.QualIndustrial}},
		{ID: "officer2", Name: "李娜", OnDuty: true, Qualifications: []string{clearance.QualIndustrial}}}
	for _, o := range opts {
		o(&ccfg)
	}
	cl, err := clearance.NewService(ccfg, clearance.Deps{Store: store, Publish: prod, Topics: topics})
	if err != nil {
		tb.Fatalf("clearance: %v", err)
	}
	if err := cl.Load(ctx); err != nil {
		tb.Fatalf("clearance load: %v", err)
	}

	tcfg := targeting.DefaultConfig()
	tcfg.RandomRate = 0 // only the rule selects: the test knows which consignment is RED
	eng, err := targeting.NewEngine(tcfg)
	if err != nil {
		tb.Fatal(err)
	}
	publish := func(ctx context.Context, ds []targeting.Decision) error {
		msgs := make([]ingest.Message, len(ds))
		for i := range ds {
			msgs[i] = ingest.Message{Topic: topics.Decisions, Key: ds[i].DeclarationNo, Value: &ds[i]}
		}
		return prod.Publish(ctx, msgs...)
	}
	ts, err := targeting.NewService(eng, targeting.ServiceDeps{Publish: publish, Audit: cl.Audit(), Rules: store})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ts.Close)
	author := targeting.Actor{User: "analyst1", Roles: []string{targeting.RoleRiskAnalyst}}
	approver := targeting.Actor{User: "analyst2", Roles: []string{targeting.RoleRiskAnalyst}}
	r, err := ts.Rules().Create(ctx, author, targeting.Rule{
		Title: "越南鲜香蕉", ReasonZH: rigRuleZH, ReasonEN: rigRuleEN,
		When: targeting.Expr{All: []targeting.Expr{
			{Field: "hs_code", Op: targeting.OpPrefix, Values: []string{"0803"}},
			{Field: "origin_country", Op: targeting.OpEq, Values: []string{"VN"}},
		}},
		Action: targeting.ActionPhysical, Percent: 100, ValidFrom: time.Now().Add(-time.Hour), Priority: 10,
	})
	if err != nil {
		tb.Fatalf("create rule: %v", err)
	}
	if _, err := ts.Rules().Submit(ctx, author, r.ID); err != nil {
		tb.Fatalf("submit rule: %v", err)
	}
	if _, err := ts.Rules().Approve(ctx, approver, r.ID); err != nil {
		tb.Fatalf("approve rule: %v", err)
	}

	icfg := ingest.DefaultConfig()
	icfg.SpoolDir = tb.TempDir()
	icfg.FlushInterval = 20 * time.Millisecond
	in, err := ingest.NewIntake(icfg, ingest.NewValidator(icfg), store, ts, prod, topics, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				tb.Errorf("%s stopped: %v", name, err)
			}
		}()
	}
	run("intake", func(ctx context.Context) error {
		err := in.Run(ctx)
		in.Close()
		return err
	})
	consumer, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: []string{broker.Addr}, Topic: topics.Decisions,
		GroupID: "portguard-clearance", BatchWait: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	run("clearance consumer", func(ctx context.Context) error { return consumer.Run(ctx, cl.DecisionsHandler()) })
	run("recorder", func(ctx context.Context) error {
		return analytics.RunRecorder(ctx, []string{broker.Addr}, topics, "", store, nil)
	})

	users := NewUsers()
	users.cost = 4
	for _, u := range []struct {
		user User
		pw   string
	}{
		{User{Name: rigOfficer, Display: "张伟", Roles: []string{RoleOfficer}, Port: rigPort}, rigPassword},
		{User{Name: "officer2", Display: "李娜", Roles: []string{RoleOfficer}, Port: rigPort}, "password-officer2"},
		{User{Name: "officer-elsewhere", Display: "孙强", Roles: []string{RoleOfficer}, Port: "5300"}, "password-elsewhere"},
		{User{Name: "supervisor", Display: "赵敏", Roles: []string{RoleSupervisor}, Port: rigPort}, "password-supervisor"},
		{User{Name: "supervisor-elsewhere", Display: "吴刚", Roles: []string{RoleSupervisor}, Port: "5300"}, "password-supervisor-elsewhere"},
		{User{Name: "hq", Display: "陈静", Roles: []string{RoleHQAnalyst}}, "password-hq"},
		{User{Name: "analyst1", Display: "刘洋", Roles: []string{RoleRiskAnalyst}}, "password-analyst1"},
		{User{Name: "analyst2", Display: "周杰", Roles: []string{RoleRiskAnalyst}}, "password-analyst2"},
	} {
		if err := users.AddUser(u.user, u.pw); err != nil {
			tb.Fatal(err)
		}
	}
	if err := users.AddAPIKey(User{Name: "single-window", Roles: []string{RoleSystem}}, testKey(RoleSystem)); err != nil {
		tb.Fatal(err)
	}
	if err := users.AddAPIKey(User{Name: "lab-system", Roles: []string{RoleLab}}, testKey(RoleLab)); err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	var logger *slog.Logger
	if os.Getenv("PORTGUARD_TEST_LOG") != "" { // the access log, with the cause of every error
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	s, err := newServer(cfg, Deps{Logger: logger,
		Intake: in, Targeting: ts, Clearance: cl, Analytics: store, Audit: cl.Audit(), Schemas: ingest.Schemas(),
		KafkaReady: kafkaReady(broker.Addr), Users: users, Registerer: reg, Gatherer: reg,
		Backtests: &evaluate.Backtester{Config: tcfg, History: store}, // as cmd wires it
	})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := s.engine()
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{store: store, broker: broker, clearance: cl, targeting: ts, intake: in, reg: reg, handler: h, srv: s}
}

// decide posts a declaration with the machine client's key.
func (r *rig) decide(tb testing.TB, body string) *httpResponse {
	tb.Helper()
	w := do(tb, r.handler, request{method: "POST", path: "/v1/decisions", body: body,
		headers: []string{"Content-Type", "application/json", "Authorization", "Bearer " + testKey(RoleSystem)}})
	return &httpResponse{code: w.Code, body: w.Body.Bytes(), header: w.Header()}
}

// waitTask waits until clearance has made the task of a declaration version from its decision
// on the decisions topic.
func (r *rig) waitTask(tb testing.TB, id string) clearance.Task {
	tb.Helper()
	var t clearance.Task
	kafkatest.WaitFor(tb, 20*time.Second, "clearance made no task "+id, func() bool {
		var err error
		t, err = r.clearance.Task(context.Background(), id)
		return err == nil
	})
	return t
}

// manifest publishes an electronic-port manifest on the manifests topic, reads it back and hands
// the consumed message to the intake's manifest handler, as ingest's consumer does in cmd. The
// join state is updated when it returns, so a declaration posted next is cross-checked.
func (r *rig) manifest(tb testing.TB, raw []byte) {
	tb.Helper()
	r.broker.Produce(tb, r.broker.Topics.Manifests, [][]byte{raw}, nil)
	msgs := r.broker.Consume(tb, r.broker.Topics.Manifests, 1, 10*time.Second)
	if err := r.intake.ManifestHandler()(context.Background(), msgs); err != nil {
		tb.Fatalf("manifest handler: %v", err)
	}
}

func goldenManifest(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile("../ingest/testdata/golden/manifest.json")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

type httpResponse struct {
	code   int
	body   []byte
	header http.Header
}
