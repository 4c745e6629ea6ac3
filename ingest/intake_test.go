package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// golden returns testdata/golden/<name> as a generic map to vary.
func golden(tb testing.TB, name string) map[string]any {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "golden", name))
	if err != nil {
		tb.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// declarationNo is the i-th test declaration number (18 digits).
func declarationNo(i int) string { return fmt.Sprintf("2229%014d", i) }

// declarationJSON is the golden import declaration with number i, version v and its own bill of
// lading "BL<i>" (unless bl is given).
func declarationJSON(tb testing.TB, i, v int, bl string) []byte {
	tb.Helper()
	m := golden(tb, "declaration_import.json")
	m["declaration_no"] = declarationNo(i)
	m["version"] = v
	if bl == "" {
		bl = fmt.Sprintf("BL%d", i)
	}
	m["bill_of_lading"] = bl
	// Vary the value so that a checksum over stored rows means something.
	m["items"].([]any)[2].(map[string]any)["declared_value"] = 1000 + i
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func manifestJSON(tb testing.TB, bl string, grossKg float64) []byte {
	tb.Helper()
	m := golden(tb, "manifest.json")
	m["bill_of_lading"] = bl
	m["gross_weight_kg"] = grossKg
	b, _ := json.Marshal(m)
	return b
}

// recordingSink is the downstream stand-in the test observes: it records what ingest hands on,
// in order, and can be told to fail (a transient error) a number of times.
type recordingSink struct {
	mu        sync.Mutex
	accepted  []*ingest.Declaration
	retarget  []*ingest.Declaration
	withdrawn []*ingest.Withdrawal
	failNext  int
}

func (s *recordingSink) Accept(_ context.Context, ds []*ingest.Declaration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		return errors.New("sink temporarily unavailable")
	}
	s.accepted = append(s.accepted, ds...)
	return nil
}

func (s *recordingSink) Retarget(_ context.Context, d *ingest.Declaration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retarget = append(s.retarget, d)
	return nil
}

func (s *recordingSink) Withdraw(_ context.Context, ws []*ingest.Withdrawal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.withdrawn = append(s.withdrawn, ws...)
	return nil
}

func (s *recordingSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.accepted {
		out = append(out, d.ID())
	}
	return out
}

// openStore opens a migrated analytics store on a fresh database of the shared test server.
func openStore(tb testing.TB, addr, database string) *analytics.Store {
	tb.Helper()
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = addr, database
	cfg.BreakerOpenFor = 500 * time.Millisecond
	cfg.QueryTimeout = 5 * time.Second
	s, err := analytics.Open(context.Background(), cfg, nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s
}

type rig struct {
	in    *ingest.Intake
	sink  *recordingSink
	reg   *prometheus.Registry
	store *analytics.Store
	db    *chtest.DB
	b     *kafkatest.Broker
	prod  *ingest.Producer
}

func newRig(tb testing.TB, mutate func(*ingest.Config)) *rig {
	tb.Helper()
	db := chtest.New(tb)
	store := openStore(tb, db.Addr, db.Database)
	b := kafkatest.Start(tb, 2)
	prod := ingest.NewProducer([]string{b.Addr})
	tb.Cleanup(func() { prod.Close() })
	cfg := ingest.DefaultConfig()
	cfg.SpoolDir = tb.TempDir()
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.DrainInterval = 200 * time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	sink := &recordingSink{}
	reg := prometheus.NewRegistry()
	in, err := ingest.NewIntake(cfg, ingest.NewValidator(cfg), store, sink, prod, b.Topics, nil, reg)
	if err != nil {
		tb.Fatal(err)
	}
	in.SetRetargeter(sink)
	in.SetWithdrawalSink(sink)
	tb.Cleanup(func() { in.Close() })
	return &rig{in: in, sink: sink, reg: reg, store: store, db: db, b: b, prod: prod}
}

// consume runs a consumer group on topic with h until the test ends.
func (r *rig) consume(tb testing.TB, topic string, h ingest.Handler) *ingest.Consumer {
	tb.Helper()
	c, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: []string{r.b.Addr}, Topic: topic, GroupID: "ingest-test",
		BatchSize: 50, BatchWait: 20 * time.Millisecond, RetryBackoff: 50 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, h) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("consumer: %v", err)
		}
	})
	return c
}

func (r *rig) storedIDs(tb testing.TB) []string {
	tb.Helper()
	rows, err := r.db.Conn.Query(context.Background(), "SELECT declaration_no, version FROM declarations FINAL ORDER BY declaration_no, version")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		var v uint32
		if err := rows.Scan(&n, &v); err != nil {
			tb.Fatal(err)
		}
		out = append(out, ingest.DeclarationID(n, int(v)))
	}
	return out
}

func TestKafkaIntakeStoresValidOnceAndDeadLettersInvalid(t *testing.T) {
	r := newRig(t, nil)
	var values [][]byte
	var want []string
	for i := 1; i <= 40; i++ {
		values = append(values, declarationJSON(t, i, 1, ""))
		want = append(want, ingest.DeclarationID(declarationNo(i), 1))
	}
	values = append(values, declarationJSON(t, 3, 1, ""), declarationJSON(t, 7, 1, "")) // redelivered duplicates
	bad := [][]byte{[]byte(`{"schema":"portguard.declaration/v1","declaration_no":"12"}`), []byte(`not json`),
		[]byte(`{"schema":"portguard.declaration/v9"}`)}
	values = append(values, bad...)
	r.b.Produce(t, r.b.Topics.Declarations, values, func(i int) []byte { return []byte(fmt.Sprint(i)) })
	r.sink.failNext = 2 // the first two batches fail downstream and are retried whole
	r.consume(t, r.b.Topics.Declarations, r.in.Handler())

	kafkatest.WaitFor(t, 30*time.Second, "every valid declaration handed on", func() bool { return len(r.sink.ids()) >= 40 })
	dead := r.b.Consume(t, r.b.Topics.DeadLetters, 3, 20*time.Second)
	if len(dead) < 3 {
		t.Fatalf("%d dead letters, want 3", len(dead))
	}
	reasons := map[string]string{}
	for _, m := range dead {
		var dl ingest.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatal(err)
		}
		if dl.SourceTopic != r.b.Topics.Declarations || len(dl.Errors) == 0 || dl.Reason == "" {
			t.Errorf("dead letter lacks its origin or reasons: %+v", dl)
		}
		reasons[string(dl.Value)] = dl.Errors[0].Code
	}
	if reasons[string(bad[1])] != "malformed" || reasons[string(bad[2])] != "unknown_schema" || reasons[string(bad[0])] == "" {
		t.Errorf("dead letters %v", reasons)
	}

	got := r.sink.ids()
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("handed on %d: %v\nwant %d", len(got), got, len(want))
	}
	if ids := r.storedIDs(t); fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ClickHouse holds %v", ids)
	}
	if n := metricSum(t, r.reg, "portguard_ingest_dead_lettered_total"); n != 3 {
		t.Errorf("dead_lettered_total %v", n)
	}
}

// metricSum adds every series of the family.
func metricSum(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var s float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				s += m.Counter.GetValue()
			case m.Gauge != nil:
				s += m.Gauge.GetValue()
			}
		}
	}
	return s
}

func msgs(topic string, values ...[]byte) []kafka.Message {
	out := make([]kafka.Message, len(values))
	for i, v := range values {
		out[i] = kafka.Message{Topic: topic, Partition: 0, Offset: int64(i), Value: v}
	}
	return out
}

func TestAmendmentsOutOfOrderVersionsAndWithdrawals(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	h := r.in.Handler()
	topic := r.b.Topics.Declarations
	steps := []struct {
		name    string
		handler ingest.Handler
		batch   []kafka.Message
		wantFwd []string // IDs handed on by this step
	}{
		{"version 2 arriving first is handed on", h, msgs(topic, declarationJSON(t, 1, 2, "")), []string{declarationNo(1) + "-2"}},
		{"version 1 arriving late is stored but not handed on", h, msgs(topic, declarationJSON(t, 1, 1, "")), nil},
		{"version 3 is an amendment and is handed on", h, msgs(topic, declarationJSON(t, 1, 3, "")), []string{declarationNo(1) + "-3"}},
		{"in one batch only the newest version is handed on", h, msgs(topic, declarationJSON(t, 2, 2, ""), declarationJSON(t, 2, 1, "")), []string{declarationNo(2) + "-2"}},
		{"a withdrawal is passed to the withdrawal sink", r.in.WithdrawalHandler(), msgs(r.b.Topics.Withdrawals,
			[]byte(fmt.Sprintf(`{"schema":"portguard.withdrawal/v1","declaration_no":%q,"reason":"撤单","at":"2026-03-02T11:00:00+08:00"}`, declarationNo(2)))), nil},
		{"a version after the withdrawal is stored but not handed on", h, msgs(topic, declarationJSON(t, 2, 3, "")), nil},
		{"a redelivered version is skipped", h, msgs(topic, declarationJSON(t, 1, 3, "")), nil},
	}
	for _, s := range steps {
		before := len(r.sink.ids())
		if err := s.handler(ctx, s.batch); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := r.sink.ids()[before:]
		if fmt.Sprint(got) != fmt.Sprint(s.wantFwd) && !(len(got) == 0 && len(s.wantFwd) == 0) {
			t.Errorf("%s: handed on %v, want %v", s.name, got, s.wantFwd)
		}
	}
	if len(r.sink.withdrawn) != 1 || r.sink.withdrawn[0].Number != declarationNo(2) {
		t.Errorf("withdrawals %v", r.sink.withdrawn)
	}
	want := []string{declarationNo(1) + "-1", declarationNo(1) + "-2", declarationNo(1) + "-3", declarationNo(2) + "-1", declarationNo(2) + "-2", declarationNo(2) + "-3"}
	if got := r.storedIDs(t); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored %v, want every version once %v", got, want)
	}
}

func TestManifestJoinInEitherOrder(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	r := newRig(t, func(c *ingest.Config) { c.Now = clock; c.JoinWindow = 72 * time.Hour })
	ctx := context.Background()

	// Manifest first, declaration second: the declaration arrives joined.
	if err := r.in.ManifestHandler()(ctx, msgs(r.b.Topics.Manifests, manifestJSON(t, "BLA", 30000))); err != nil {
		t.Fatal(err)
	}
	d, err := r.in.Submit(ctx, declarationJSON(t, 10, 1, "BLA"))
	if err != nil {
		t.Fatal(err)
	}
	// Declared gross 21500+5400+800 = 27700 against 30000 on the manifest; VN origin loaded in
	// VN; CSQU3054383 is on the manifest only.
	want := ingest.CrossCheck{Joined: true, WeightDeviation: 0.076667, OriginRouteMismatch: true, UndeclaredContainers: 1}
	if d.Check != want {
		t.Errorf("manifest-first join %+v, want %+v", d.Check, want)
	}

	// Declaration first (over Kafka), manifest second: the declaration is re-targeted with the
	// new cross-check.
	if err := r.in.Handler()(ctx, msgs(r.b.Topics.Declarations, declarationJSON(t, 11, 1, "BLB"))); err != nil {
		t.Fatal(err)
	}
	if r.sink.accepted[0].Check.Joined {
		t.Fatal("joined without a manifest")
	}
	advance(71 * time.Hour)
	if err := r.in.ManifestHandler()(ctx, msgs(r.b.Topics.Manifests, manifestJSON(t, "BLB", 27700))); err != nil {
		t.Fatal(err)
	}
	if len(r.sink.retarget) != 1 || r.sink.retarget[0].ID() != declarationNo(11)+"-1" || !r.sink.retarget[0].Check.Joined || r.sink.retarget[0].Check.WeightDeviation != 0 {
		t.Fatalf("retargeted %+v", r.sink.retarget)
	}

	// Outside the window nothing joins.
	if _, err := r.in.Submit(ctx, declarationJSON(t, 12, 1, "BLC")); err != nil {
		t.Fatal(err)
	}
	advance(73 * time.Hour)
	if err := r.in.ManifestHandler()(ctx, msgs(r.b.Topics.Manifests, manifestJSON(t, "BLC", 27700))); err != nil {
		t.Fatal(err)
	}
	if len(r.sink.retarget) != 1 {
		t.Errorf("a manifest after the join window re-targeted: %+v", r.sink.retarget[1:])
	}
	advance(73 * time.Hour)
	late, err := r.in.Submit(ctx, declarationJSON(t, 13, 1, "BLA"))
	if err != nil {
		t.Fatal(err)
	}
	if late.Check.Joined {
		t.Error("a declaration joined a manifest received outside the window")
	}
	if err := r.in.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.db.Count(t, "manifests FINAL", ""); n != 3 {
		t.Errorf("%d manifests stored, want 3", n)
	}
}

// TestTheStoreAndJoinHandlersSplitTheWork: the ingest stage's shared-group handler stores and
// dead-letters manifests but joins nothing; the per-instance JoinHandler joins and re-targets but
// stores and dead-letters nothing — so that every instance can run it without storing a
// manifest once per instance.
func TestTheStoreAndJoinHandlersSplitTheWork(t *testing.T) {
	r := newRig(t, func(c *ingest.Config) { c.JoinWindow = 72 * time.Hour })
	ctx := context.Background()
	if err := r.in.Handler()(ctx, msgs(r.b.Topics.Declarations, declarationJSON(t, 21, 1, "BLS"))); err != nil {
		t.Fatal(err)
	}
	bad := []byte(`{"schema":"portguard.manifest/v1"}`)

	if err := r.in.ManifestStoreHandler()(ctx, msgs(r.b.Topics.Manifests, manifestJSON(t, "BLS", 30000), bad)); err != nil {
		t.Fatal(err)
	}
	if len(r.sink.retarget) != 0 {
		t.Fatalf("the store handler re-targeted %+v", r.sink.retarget)
	}
	if d, err := r.in.Submit(ctx, declarationJSON(t, 22, 1, "BLS")); err != nil || d.Check.Joined {
		t.Fatalf("the store handler's manifest joined a later declaration: %+v, %v", d, err)
	}
	dead := r.b.Consume(t, r.b.Topics.DeadLetters, 2, 3*time.Second)
	if len(dead) != 1 {
		t.Fatalf("%d dead letters from the store handler, want 1", len(dead))
	}

	// The same messages through JoinHandler (as another consumer group reads them).
	if err := r.in.JoinHandler()(ctx, msgs(r.b.Topics.Manifests, manifestJSON(t, "BLS", 30000), bad)); err != nil {
		t.Fatal(err)
	}
	if len(r.sink.retarget) != 2 || !r.sink.retarget[0].Check.Joined {
		t.Fatalf("the join handler re-targeted %+v, want both declarations waiting for BLS, joined", r.sink.retarget)
	}
	if d, err := r.in.Submit(ctx, declarationJSON(t, 23, 1, "BLS")); err != nil || !d.Check.Joined {
		t.Fatalf("a declaration after the joined manifest: %+v, %v; want it joined", d, err)
	}
	if more := r.b.Consume(t, r.b.Topics.DeadLetters, 2, 2*time.Second); len(more) != 1 {
		t.Errorf("%d dead letters in all, want the store handler's one only", len(more))
	}
	if err := r.in.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.db.Count(t, "manifests", ""); n != 1 {
		t.Errorf("%d manifest rows stored, want 1 (the join handler stores nothing)", n)
	}
}

// TestAManifestIsAsOldAsItsMessage: a new instance's join group reads the manifests topic from
// its start; a manifest written there longer than the join window ago does not join a
// declaration that comes today, one written within it does.
func TestAManifestIsAsOldAsItsMessage(t *testing.T) {
	r := newRig(t, func(c *ingest.Config) { c.JoinWindow = 72 * time.Hour })
	ctx := context.Background()
	old := msgs(r.b.Topics.Manifests, manifestJSON(t, "BLOLD", 30000), manifestJSON(t, "BLNEW", 30000))
	old[0].Time = time.Now().Add(-100 * time.Hour)
	old[1].Time = time.Now().Add(-48 * time.Hour)
	if err := r.in.JoinHandler()(ctx, old); err != nil {
		t.Fatal(err)
	}
	if d, err := r.in.Submit(ctx, declarationJSON(t, 31, 1, "BLOLD")); err != nil || d.Check.Joined {
		t.Errorf("joined a manifest written 100 h ago: %+v, %v", d, err)
	}
	if d, err := r.in.Submit(ctx, declarationJSON(t, 32, 1, "BLNEW")); err != nil || !d.Check.Joined {
		t.Errorf("did not join a manifest written 48 h ago: %+v, %v", d, err)
	}
}

func TestSubmitIsIdempotentAndStoresInTheBackground(t *testing.T) {
	r := newRig(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.in.Run(ctx) }()
	for i := 0; i < 25; i++ {
		s, err := r.in.SubmitInfo(ctx, declarationJSON(t, 100+i%20, 1, ""))
		if err != nil {
			t.Fatal(err)
		}
		if s.Duplicate != (i >= 20) {
			t.Errorf("submission %d: duplicate=%v", i, s.Duplicate)
		}
	}
	_, err := r.in.Submit(ctx, []byte(`{"schema":"portguard.declaration/v1"}`))
	var ve *ingest.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) < 5 {
		t.Fatalf("an empty declaration: %v", err)
	}
	kafkatest.WaitFor(t, 20*time.Second, "submitted declarations stored by the background writer", func() bool {
		return r.db.Count(t, "declarations FINAL", "") == 20
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := metricSum(t, r.reg, "portguard_ingest_duplicates_total"); n != 5 {
		t.Errorf("duplicates_total %v", n)
	}
	// The empty declaration has two kinds of problem: required fields and version 0.
	if n := metricSum(t, r.reg, "portguard_ingest_invalid_total"); n != 2 {
		t.Errorf("invalid_total %v", n)
	}
}

// TestSubmitJournalsAndTheAcceptedTopicIsStoredNeverDecidedAgain: with a journal (an API
// instance's outbox), Submit is durable once the journal took the declaration; the ingest stage
// stores what reaches the accepted topic, without handing it to targeting again, and
// dead-letters what is not an accepted declaration.
func TestSubmitJournalsAndTheAcceptedTopicIsStoredNeverDecidedAgain(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	journaled := 0
	failures := []string{"journal closed", "disk full"} // refused at once, then at the commit
	r.in.SetJournal(func(ctx context.Context, d *ingest.Declaration) (func(context.Context) error, error) {
		if len(failures) == 2 {
			failures = failures[1:]
			return nil, errors.New("journal closed")
		}
		if len(failures) == 1 {
			failures = nil
			return func(context.Context) error { return errors.New("disk full") }, nil
		}
		journaled++
		err := r.prod.Publish(ctx, ingest.Message{Topic: r.b.Topics.Accepted, Key: d.Number, Value: d})
		return func(context.Context) error { return err }, nil
	})
	for _, want := range []string{"journal closed", "disk full"} {
		if _, err := r.in.Submit(ctx, declarationJSON(t, 1, 1, "")); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("a journal failure: err = %v, want %q reported", err, want)
		}
	}
	// Admit returns before the journal has it on disk; Durable reports the failure, and the
	// declaration is forgotten then (the retry below is not a duplicate).
	failures = []string{"disk full"}
	sub, err := r.in.Admit(ctx, declarationJSON(t, 1, 1, ""))
	if err != nil {
		t.Fatalf("Admit: %v (the journal fails only at the commit)", err)
	}
	if err := sub.Durable(ctx); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Durable: err = %v, want the commit's failure", err)
	}
	var want []string
	items := 0
	for i := 1; i <= 5; i++ {
		d, err := r.in.Submit(ctx, declarationJSON(t, i, 1, "")) // 1 again: its failed attempt left no trace
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, d.ID())
		items += len(d.Items)
	}
	if s, err := r.in.SubmitInfo(ctx, declarationJSON(t, 2, 1, "")); err != nil || !s.Duplicate {
		t.Fatalf("a duplicate: %+v, %v", s, err)
	}
	if journaled != 5 {
		t.Fatalf("journaled %d declarations, want 5 (a duplicate is not journaled again)", journaled)
	}
	bad := [][]byte{[]byte(`not json`), []byte(`{"version":1}`)}
	r.b.Produce(t, r.b.Topics.Accepted, bad, nil)
	r.consume(t, r.b.Topics.Accepted, r.in.AcceptedHandler())

	kafkatest.WaitFor(t, 30*time.Second, "the journaled declarations stored", func() bool { return len(r.storedIDs(t)) >= 5 })
	sort.Strings(want)
	if ids := r.storedIDs(t); fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ClickHouse holds %v, want %v", ids, want)
	}
	var n uint64
	if err := r.db.Conn.QueryRow(ctx, "SELECT sum(item_count) FROM declarations FINAL").Scan(&n); err != nil || n != uint64(items) {
		t.Errorf("stored goods items %d (%v), want %d", n, err, items)
	}
	if got := r.sink.ids(); len(got) != 0 {
		t.Errorf("accepted declarations were handed to targeting again: %v", got)
	}
	dead := r.b.Consume(t, r.b.Topics.DeadLetters, 2, 20*time.Second)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for _, m := range dead {
		var dl ingest.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatal(err)
		}
		if dl.SourceTopic != r.b.Topics.Accepted || !strings.Contains(dl.Reason, "not an accepted declaration") {
			t.Errorf("dead letter %+v", dl)
		}
	}
}
