package clearance_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

// These tests run clearance against the real collaborators: analytics.Store on a throwaway
// ClickHouse (chtest) and an in-process Kafka broker (kafkatest) written to by ingest.Producer.

func TestMain(m *testing.M) { chtest.Main(m) }

const (
	port     = "2201"
	importer = "3101960001"
)

// clock is a settable time source, so that days can pass between sampling and the lab report.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type rig struct {
	t     *testing.T
	cfg   clearance.Config
	db    *chtest.DB
	store *analytics.Store
	b     *kafkatest.Broker
	prod  *ingest.Producer
	clock *clock
	reg   *prometheus.Registry
	svc   *clearance.Service
}

// roster: three qualified officers at the port, plus one with a conflict of interest, one off
// duty, one elsewhere and one without the qualification for fish.
func roster() []clearance.Officer {
	fish := []string{clearance.QualAnimal}
	return []clearance.Officer{
		{ID: "officer1", Ports: []string{port}, Qualifications: fish, OnDuty: true},
		{ID: "officer2", Ports: []string{port}, Qualifications: fish, OnDuty: true},
		{ID: "officer3", Ports: []string{port}, Qualifications: fish, OnDuty: true},
		{ID: "conflicted", Ports: []string{port}, Qualifications: fish, OnDuty: true, Conflicts: []string{importer}},
		{ID: "resting", Ports: []string{port}, Qualifications: fish, OnDuty: false},
		{ID: "elsewhere", Ports: []string{"5100"}, Qualifications: fish, OnDuty: true},
		{ID: "machinist", Ports: []string{port}, Qualifications: []string{clearance.QualIndustrial}, OnDuty: true},
	}
}

func newRig(t *testing.T, mut func(*clearance.Config)) *rig {
	t.Helper()
	db := chtest.New(t)
	acfg := analytics.DefaultConfig()
	acfg.Addr, acfg.Database = db.Addr, db.Database
	ctx := context.Background()
	st, err := analytics.Open(ctx, acfg, nil, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	b := kafkatest.Start(t, 1)
	// Created before anything is published: kafka-go's shared transport caches topic metadata
	// (MetadataTTL 6 s), and a topic created after the cache was filled is "unknown" until then.
	createTopic(t, b.Addr, clearance.DefaultConfig().LabResultsTopic)
	prod := ingest.NewProducer([]string{b.Addr})
	t.Cleanup(func() { prod.Close() })
	cfg := clearance.DefaultConfig()
	cfg.Officers = roster()
	cfg.DrawKey = "test-key"
	if mut != nil {
		mut(&cfg)
	}
	r := &rig{t: t, cfg: cfg, db: db, store: st, b: b, prod: prod,
		clock: &clock{t: time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)}}
	r.svc = r.start()
	return r
}

// start makes a new Service over the rig's store and broker and loads it, as a restarted
// process would.
func (r *rig) start() *clearance.Service {
	r.t.Helper()
	r.reg = prometheus.NewRegistry()
	svc, err := clearance.NewService(r.cfg, clearance.Deps{Store: r.store, Publish: r.prod, Topics: r.b.Topics,
		Registerer: r.reg, Now: r.clock.Now})
	if err != nil {
		r.t.Fatalf("new service: %v", err)
	}
	if err := svc.Load(context.Background()); err != nil {
		r.t.Fatalf("load: %v", err)
	}
	return svc
}

// benchChain is an audit chain over a fresh migrated ClickHouse database.
func benchChain(b *testing.B) *clearance.Chain {
	b.Helper()
	db := chtest.New(b)
	acfg := analytics.DefaultConfig()
	acfg.Addr, acfg.Database = db.Addr, db.Database
	ctx := context.Background()
	st, err := analytics.Open(ctx, acfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return clearance.NewChain(st, nil)
}

func declNo(i int) string { return fmt.Sprintf("2201%014d", i) }

func decision(no string, version int, ch targeting.Channel, at time.Time) targeting.Decision {
	return targeting.Decision{
		Schema: targeting.SchemaDecisionV1, DeclarationNo: no, Version: version, Port: port, Importer: importer,
		Channel: ch, Selection: targeting.SelectedByRule, Score: 0.4, Probability: 0.3, Propensity: 0.25,
		ModelVersion: "combiner-7",
		RulesFired:   []targeting.RuleHit{{ID: "R-17", Version: 2, Title: "冻鱼 挪威", Selected: true}},
		Reasons:      []targeting.Reason{{Code: "rule", ZH: "命中布控规则 R-17", EN: "rule R-17 fired"}},
		Features:     []targeting.Feature{{Name: "importer", Value: importer}, {Name: "hs4", Value: "0303"}},
		DecidedAt:    at,
	}
}

func (r *rig) decide(ds ...targeting.Decision) {
	r.t.Helper()
	if err := r.svc.HandleDecisions(context.Background(), ds); err != nil {
		r.t.Fatalf("handle decisions: %v", err)
	}
}

func (r *rig) task(id string) clearance.Task {
	r.t.Helper()
	tk, err := r.svc.Task(context.Background(), id)
	if err != nil {
		r.t.Fatalf("task %s: %v", id, err)
	}
	return tk
}

// messages reads topic from the start and returns its messages, waiting for up to want+1 of
// them so that a test asserting "exactly want" sees any extra one.
func (r *rig) messages(topic string, want int) []kafka.Message {
	r.t.Helper()
	return r.b.Consume(r.t, topic, want+1, time.Second)
}

func decode[T any](t *testing.T, ms []kafka.Message) []T {
	t.Helper()
	out := make([]T, len(ms))
	for i, m := range ms {
		if err := json.Unmarshal(m.Value, &out[i]); err != nil {
			t.Fatalf("decode %s: %v", m.Value, err)
		}
	}
	return out
}

func officer(id string) clearance.Actor {
	return clearance.Actor{User: id, Roles: []string{clearance.RoleOfficer}, Port: port}
}

var supervisor = clearance.Actor{User: "chief", Roles: []string{clearance.RoleSupervisor}, Port: port}

// metric returns the value of a counter or gauge with the given labels from the rig's registry.
func (r *rig) metric(name string, labels map[string]string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

func fieldPaths(t *testing.T, err error) map[string]bool {
	t.Helper()
	var ve *ingest.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want *ingest.ValidationError", err)
	}
	out := map[string]bool{}
	for _, f := range ve.Fields {
		out[f.Path] = true
	}
	return out
}

func actions(recs []clearance.AuditRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Action
	}
	return out
}
