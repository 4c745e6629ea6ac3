package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/web"
)

// appRig is a kfake broker and a private ClickHouse that the composition root (newApp, Run)
// can be started on, stopped and started again, in-process, with a join window short enough
// for a test.
type appRig struct {
	t      *testing.T
	window time.Duration
	broker *kfake.Cluster
	chcfg  analytics.Config
	dir    string
	log    *slog.Logger
	stop   func() // stops the running app, if any
}

func newAppRig(t *testing.T, window time.Duration) *appRig {
	t.Helper()
	if _, err := chserver.Installed(); err != nil && os.Getenv("CI") != "true" {
		t.Skip("skipped: clickhouse-server not installed; ./deploy/test.sh installs it")
	}
	dir := t.TempDir()
	ctx := context.Background()
	topics := ingest.DefaultTopics()
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, topics.All()...), kfake.DefaultNumPartitions(6))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(dir, "clickhouse")})
	if err != nil {
		t.Fatal(err)
	}
	chcfg := analytics.DefaultConfig()
	chcfg.Addr = srv.Addr()
	logf, err := os.Create(filepath.Join(dir, "portguard.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &appRig{t: t, window: window, broker: broker, chcfg: chcfg, dir: dir, log: slog.New(slog.NewTextHandler(logf, nil))}
	if err := migrate(ctx, chcfg, r.log); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if r.stop != nil {
			r.stop()
		}
		srv.Stop()
		broker.Close()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("portguard log:\n%s", b)
		}
	})
	return r
}

// start runs a new app on the rig (same broker, ClickHouse and data directory as any before).
func (r *appRig) start() *app {
	t := r.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	users, _ := web.DevUsers()
	a, err := newApp(ctx, appConfig{Listen: "127.0.0.1:0", Brokers: []string{r.broker.ListenAddrs()[0]}, Topics: ingest.DefaultTopics(),
		ClickHouse: r.chcfg, DataDir: filepath.Join(r.dir, "data"), RandomKey: "manifest-e2e", InstanceID: "e2e",
		Users: users, Dev: true, JoinWindow: r.window}, r.log)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	r.stop = func() {
		r.stop = nil
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("app stopped with %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Errorf("app did not stop within 60s")
		}
	}
	waitUntil(t, 60*time.Second, "the app is ready", a.ready.Load)
	return a
}

// runApp runs the composition root on a new rig and stops it at cleanup.
func runApp(t *testing.T, window time.Duration) (*app, string, string) {
	t.Helper()
	r := newAppRig(t, window)
	return r.start(), r.broker.ListenAddrs()[0], r.chcfg.Addr
}

func TestALateManifestReTargetsAHeldGreenAndAMissingOneReleasesItOnce(t *testing.T) {
	const window = 12 * time.Second
	a, brokerAddr, chAddr := runApp(t, window)
	topics := a.cfg.Topics
	ctx := context.Background()

	// A risk analyst's rule (布控指令) on the manifest cross-check, approved by another.
	rb := a.targeting.Rules()
	dev, one := 0.1, 0.5
	r, err := rb.Create(ctx, targeting.Actor{User: "ra1", Roles: []string{targeting.RoleRiskAnalyst}}, targeting.Rule{
		Title: "舱单不符", ReasonZH: "毛重或集装箱与舱单不符", ReasonEN: "weight or containers differ from the manifest",
		When: targeting.Expr{Any: []targeting.Expr{
			{Field: "weight_deviation", Op: targeting.OpAbove, Min: &dev},
			{Field: "undeclared_containers", Op: targeting.OpAbove, Min: &one}}},
		Action: targeting.ActionPhysical, Percent: 100, ValidFrom: time.Now().Add(-time.Hour)})
	if err == nil {
		_, err = rb.Submit(ctx, targeting.Actor{User: "ra1", Roles: []string{targeting.RoleRiskAnalyst}}, r.ID)
	}
	if err == nil {
		_, err = rb.Approve(ctx, targeting.Actor{User: "ra2", Roles: []string{targeting.RoleRiskAnalyst}}, r.ID)
	}
	if err != nil {
		t.Fatal(err)
	}

	// Sea-cargo declarations arrive before their manifests.
	g := synth.New(synth.Config{Seed: 11, Start: time.Now().UTC().Add(-time.Hour)})
	var samples []synth.Sample
	var msgs []kafka.Message
	for len(samples) < 12 {
		s := g.Next()
		if s.Manifest == nil || len(s.Decl.Containers) == 0 {
			continue
		}
		samples = append(samples, s)
		msgs = append(msgs, kafka.Message{Key: []byte(s.Decl.Number), Value: g.JSON(s)})
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokerAddr), RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	if err := w.WriteMessages(ctx, withTopic(topics.Declarations, msgs)...); err != nil {
		t.Fatal(err)
	}
	first := map[string]targeting.Decision{}
	consumeAll(t, brokerAddr, topics.Decisions, 30*time.Second, func(ms []kafka.Message) bool {
		var d targeting.Decision
		if json.Unmarshal(ms[len(ms)-1].Value, &d) == nil {
			first[d.DeclarationNo] = d
		}
		return len(first) == len(samples)
	})
	var held []synth.Sample
	for _, s := range samples {
		d := first[s.Decl.Number]
		if d.Channel == targeting.Green {
			if !d.AwaitingManifest || d.Reasons[len(d.Reasons)-1].Code != targeting.ReasonAwaitingManifest {
				t.Fatalf("GREEN before the manifest does not await it: %+v", d)
			}
			held = append(held, s)
		}
	}
	if len(held) < 2 {
		t.Fatalf("%d of %d decided GREEN; the test needs two", len(held), len(samples))
	}
	waitUntil(t, 10*time.Second, "clearance holds every GREEN", func() bool { return len(a.clearance.Holds()) == len(held) })

	// The first one's manifest arrives: 50 % heavier, with a container nobody declared.
	risky, quiet := held[0], held[1:]
	m := *risky.Manifest
	m.GrossWeightKg *= 1.5
	m.Containers = append(append([]string(nil), m.Containers...), samples[len(samples)-1].Decl.Containers[0])
	if risky.Decl.Number == samples[len(samples)-1].Decl.Number {
		m.Containers[len(m.Containers)-1] = samples[0].Decl.Containers[0]
	}
	mb, _ := json.Marshal(&m)
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topics.Manifests, Key: []byte(m.BillOfLading), Value: mb}); err != nil {
		t.Fatal(err)
	}
	id := ingest.DeclarationID(risky.Decl.Number, risky.Decl.Version)
	var task clearance.Task
	waitUntil(t, 20*time.Second, "the re-targeted consignment has an inspection task", func() bool {
		task, err = a.clearance.Task(ctx, id)
		return err == nil
	})
	rev := task.Decision
	if task.Channel != targeting.Red || rev.Revision != 1 || rev.RevisedFrom != targeting.Green || rev.AwaitingManifest ||
		rev.Reasons[len(rev.Reasons)-1].Code != targeting.ReasonManifestRevised {
		t.Fatalf("task after the manifest: channel %s, decision %+v", task.Channel, rev)
	}

	// The others' manifests never come: each is released GREEN once the window has passed,
	// and the re-targeted one is not released.
	releases := map[string]int{}
	consumeAll(t, brokerAddr, topics.Releases, window+30*time.Second, func(ms []kafka.Message) bool {
		var rel clearance.Release
		if json.Unmarshal(ms[len(ms)-1].Value, &rel) == nil {
			releases[rel.DeclarationNo]++
		}
		return len(releases) >= len(quiet)
	})
	time.Sleep(2 * time.Second) // room for a duplicate or a wrong release to show; then read them all
	releases = map[string]int{}
	for _, m := range consumeAll(t, brokerAddr, topics.Releases, 3*time.Second, func([]kafka.Message) bool { return false }) {
		var rel clearance.Release
		if json.Unmarshal(m.Value, &rel) == nil {
			releases[rel.DeclarationNo]++
			if rel.Channel != targeting.Green {
				t.Errorf("release %+v, want GREEN", rel)
			}
		}
	}
	for _, s := range quiet {
		if releases[s.Decl.Number] != 1 {
			t.Errorf("held GREEN %s released %d times, want once", s.Decl.Number, releases[s.Decl.Number])
		}
	}
	if releases[risky.Decl.Number] != 0 {
		t.Errorf("the re-targeted consignment was released %d times, want 0", releases[risky.Decl.Number])
	}
	if h := a.clearance.Holds(); len(h) != 0 {
		t.Errorf("holds left: %+v", h)
	}

	// ClickHouse keeps the revision as the decision, and the audit trail records the change.
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{chAddr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var ch string
	waitUntil(t, 20*time.Second, "ClickHouse holds the revised decision", func() bool {
		err := conn.QueryRow(ctx, "SELECT toString(channel) FROM decisions FINAL WHERE declaration_no = ?", risky.Decl.Number).Scan(&ch)
		return err == nil && ch == string(targeting.Red)
	})
	trail, err := a.clearance.Trail(ctx, risky.Decl.Number)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range trail {
		seen[r.Action] = true
	}
	for _, want := range []string{"decision", targeting.AuditDecisionRevised, clearance.AuditHold, clearance.AuditHoldEnd, clearance.AuditTaskCreate} {
		if !seen[want] {
			t.Errorf("trail of %s lacks %s: %v", risky.Decl.Number, want, seen)
		}
	}
}

func withTopic(topic string, ms []kafka.Message) []kafka.Message {
	for i := range ms {
		ms[i].Topic = topic
	}
	return ms
}

// A restart forgets nothing of the manifest join: a manifest that arrived before it still joins
// a declaration arriving after it, and a GREEN held before it is still re-targeted when its
// manifest comes after it.
func TestTheManifestJoinSurvivesARestart(t *testing.T) {
	r := newAppRig(t, 10*time.Minute)
	a := r.start()
	topics := a.cfg.Topics
	brokerAddr := r.broker.ListenAddrs()[0]
	ctx := context.Background()
	w := &kafka.Writer{Addr: kafka.TCP(brokerAddr), RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	decisions := func(want map[string]bool, pred func(targeting.Decision) bool) map[string]targeting.Decision {
		got := map[string]targeting.Decision{}
		consumeAll(t, brokerAddr, topics.Decisions, 40*time.Second, func(ms []kafka.Message) bool {
			var d targeting.Decision
			if json.Unmarshal(ms[len(ms)-1].Value, &d) == nil && want[d.DeclarationNo] && pred(d) {
				got[d.DeclarationNo] = d
			}
			return len(got) == len(want)
		})
		return got
	}

	g := synth.New(synth.Config{Seed: 12, Start: time.Now().UTC().Add(-time.Hour)})
	var sea []synth.Sample
	for len(sea) < 14 {
		if s := g.Next(); s.Manifest != nil && len(s.Decl.Containers) > 0 {
			sea = append(sea, s)
		}
	}
	early, late := sea[:12], sea[12:]
	// Before the restart: declarations without their manifests, and manifests without their
	// declarations.
	var msgs []kafka.Message
	want := map[string]bool{}
	for _, s := range early {
		msgs = append(msgs, kafka.Message{Topic: topics.Declarations, Key: []byte(s.Decl.Number), Value: g.JSON(s)})
		want[s.Decl.Number] = true
	}
	for _, s := range late {
		mb, _ := json.Marshal(s.Manifest)
		msgs = append(msgs, kafka.Message{Topic: topics.Manifests, Key: []byte(s.Manifest.BillOfLading), Value: mb})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	first := decisions(want, func(targeting.Decision) bool { return true })
	var held *synth.Sample
	for i, s := range early {
		if d := first[s.Decl.Number]; d.Channel == targeting.Green && d.AwaitingManifest {
			held = &early[i]
			break
		}
	}
	if held == nil {
		t.Fatalf("no GREEN awaiting its manifest among %d sea-cargo declarations", len(early))
	}
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{r.chcfg.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitUntil(t, 30*time.Second, "ClickHouse holds the early manifests and declarations", func() bool {
		var m, d uint64
		err := conn.QueryRow(ctx, "SELECT (SELECT uniqExact(bill_of_lading) FROM manifests), (SELECT uniqExact(declaration_no) FROM declarations)").Scan(&m, &d)
		return err == nil && m >= uint64(len(late)) && d >= uint64(len(early))
	})

	r.stop()
	a = r.start()

	// After it: the late declarations join the manifests that came before the restart.
	msgs, want = nil, map[string]bool{}
	for _, s := range late {
		msgs = append(msgs, kafka.Message{Topic: topics.Declarations, Key: []byte(s.Decl.Number), Value: g.JSON(s)})
		want[s.Decl.Number] = true
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for no, d := range decisions(want, func(targeting.Decision) bool { return true }) {
		if d.AwaitingManifest {
			t.Errorf("%s awaits a manifest that arrived before the restart: %+v", no, d)
		}
	}
	// And the held GREEN is re-targeted when its manifest comes.
	mb, _ := json.Marshal(held.Manifest)
	if err := w.WriteMessages(ctx, kafka.Message{Topic: topics.Manifests, Key: []byte(held.Manifest.BillOfLading), Value: mb}); err != nil {
		t.Fatal(err)
	}
	rev := decisions(map[string]bool{held.Decl.Number: true}, func(d targeting.Decision) bool { return d.Revision > 0 })[held.Decl.Number]
	if rev.Revision != 1 || rev.RevisedFrom != targeting.Green || rev.AwaitingManifest {
		t.Fatalf("after its manifest the held GREEN %s was not revised: %+v", held.Decl.Number, rev)
	}
}
