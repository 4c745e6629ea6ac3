package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// startOwnClickHouse starts a private server this test may stop and restart.
// ownStoreThatFailsFast starts a ClickHouse server of the test's own and opens a migrated
// store on database db whose breaker opens at the first failure and retries after 300 ms, so
// that a test can stop and restart the server mid-stream.
func ownStoreThatFailsFast(t *testing.T, db string) (*chserver.Server, *analytics.Store) {
	t.Helper()
	srv := startOwnClickHouse(t)
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = srv.Addr(), db
	cfg.DialTimeout, cfg.QueryTimeout, cfg.BreakerOpenFor, cfg.BreakerFailures = time.Second, 3*time.Second, 300*time.Millisecond, 1
	store, err := analytics.Open(context.Background(), cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return srv, store
}

func startOwnClickHouse(t *testing.T) *chserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := chserver.Start(ctx, chserver.Options{Dir: t.TempDir()})
	if err == chserver.ErrNotInstalled && os.Getenv("CI") != "true" {
		t.Skipf("skipped: %v; ./deploy/test.sh installs it", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// TestClickHouseStoppedMidStreamLosesNothing stops the ClickHouse server while declarations
// stream in over Kafka and starts it again later. While it is down, batches go to the spool and
// offsets are committed; when it is back, the spool drains. At the end every valid declaration is
// in ClickHouse exactly once (count and checksum) and every invalid one in dead letters.
func TestClickHouseStoppedMidStreamLosesNothing(t *testing.T) {
	srv, store := ownStoreThatFailsFast(t, "fault")

	b := kafkatest.Start(t, 3)
	prod := ingest.NewProducer([]string{b.Addr})
	defer prod.Close()
	icfg := ingest.DefaultConfig()
	icfg.SpoolDir, icfg.DrainInterval, icfg.StoreTimeout = t.TempDir(), 200*time.Millisecond, 4*time.Second
	sink := &recordingSink{}
	reg := prometheus.NewRegistry()
	in, err := ingest.NewIntake(icfg, ingest.NewValidator(icfg), store, sink, prod, b.Topics, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = in.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	r := &rig{b: b}
	r.consume(t, b.Topics.Declarations, in.Handler())

	const chunks, perChunk = 12, 50
	v := ingest.NewValidator(icfg)
	var (
		valid   = map[string]bool{}
		invalid int
		sumBase float64
	)
	for c := 0; c < chunks; c++ {
		var values [][]byte
		for j := 0; j < perChunk; j++ {
			i := c*perChunk + j
			if i%10 == 9 {
				values = append(values, []byte(fmt.Sprintf(`{"schema":"portguard.declaration/v1","declaration_no":"%d"}`, i)))
				invalid++
				continue
			}
			raw := declarationJSON(t, 1000+i, 1, "")
			d, err := v.Declaration(raw)
			if err != nil {
				t.Fatal(err)
			}
			valid[d.ID()] = true
			sumBase += d.TotalValueBase()
			values = append(values, raw)
			if i%7 == 0 { // redelivered by the producer: must still be stored once
				values = append(values, raw)
			}
		}
		b.Produce(t, b.Topics.Declarations, values, func(i int) []byte { return []byte(fmt.Sprint(c, "-", i)) })
		switch c {
		case 3:
			kafkatest.WaitFor(t, 30*time.Second, "first chunks handed on", func() bool { return len(sink.ids()) >= 100 })
			srv.Stop()
			t.Log("clickhouse stopped")
		case 8:
			kafkatest.WaitFor(t, 60*time.Second, "chunks handed on while ClickHouse is down", func() bool {
				return len(sink.ids()) >= 8*perChunk*9/10
			})
			rctx, rcancel := context.WithTimeout(context.Background(), time.Minute)
			if err := srv.Restart(rctx); err != nil {
				rcancel()
				t.Fatal(err)
			}
			rcancel()
			t.Log("clickhouse restarted")
		}
	}
	if metricSum(t, reg, "portguard_ingest_spooled_total") == 0 {
		t.Error("nothing was spooled while ClickHouse was down")
	}

	conn := chtest.MustOpen(t, srv.Addr(), "fault")
	defer conn.Close()
	count := func() uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM declarations FINAL").Scan(&n); err != nil {
			return 0
		}
		return n
	}
	kafkatest.WaitFor(t, 90*time.Second, "every valid declaration in ClickHouse and the spool empty", func() bool {
		return count() == uint64(len(valid)) && in.Spool().Depth() == 0
	})

	var (
		n, uniq uint64
		sum     float64
	)
	// Raw rows, no FINAL: spooled batches are drained with the read-before-insert that keeps
	// redelivered rows out (an insert that timed out may have landed).
	if err := conn.QueryRow(context.Background(),
		"SELECT count(), uniqExact(declaration_no, version), sum(total_value_base) FROM declarations").Scan(&n, &uniq, &sum); err != nil {
		t.Fatal(err)
	}
	if n != uint64(len(valid)) || uniq != n || math.Abs(sum-sumBase) > 0.01 {
		t.Errorf("ClickHouse: %d rows, %d distinct, value sum %.2f; want %d rows, value sum %.2f", n, uniq, sum, len(valid), sumBase)
	}
	rows, err := conn.Query(context.Background(), "SELECT declaration_no, version FROM declarations FINAL")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var no string
		var ver uint32
		if err := rows.Scan(&no, &ver); err != nil {
			t.Fatal(err)
		}
		if !valid[ingest.DeclarationID(no, int(ver))] {
			t.Errorf("unexpected row %s-%d", no, ver)
		}
	}
	rows.Close()

	dead := b.Consume(t, b.Topics.DeadLetters, invalid, 30*time.Second)
	offsets := map[string]bool{}
	for _, m := range dead {
		var dl ingest.DeadLetter
		if err := json.Unmarshal(m.Value, &dl); err != nil {
			t.Fatal(err)
		}
		offsets[fmt.Sprint(dl.Partition, "/", dl.Offset)] = true
	}
	if len(offsets) != invalid {
		t.Errorf("%d distinct dead letters, want %d", len(offsets), invalid)
	}
	handed := map[string]bool{}
	for _, id := range sink.ids() {
		handed[id] = true
	}
	if len(handed) != len(valid) {
		t.Errorf("%d distinct declarations handed on, want %d", len(handed), len(valid))
	}
}

// TestKcatProducedDeclarationsAreIngested checks that a third-party Kafka client's messages are
// read: kcat produces the golden declarations and a malformed line.
func TestKcatProducedDeclarationsAreIngested(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("kcat is not installed")
		}
		t.Skip("skipped: kcat is not installed (apt-get install kcat)")
	}
	r := newRig(t, nil)
	var lines bytes.Buffer
	for i := 1; i <= 5; i++ {
		lines.Write(declarationJSON(t, 7000+i, 1, ""))
		lines.WriteByte('\n')
	}
	lines.WriteString("{\"schema\":\"portguard.declaration/v1\",\n")
	cmd := exec.Command(kcat, "-b", r.b.Addr, "-t", r.b.Topics.Declarations, "-P")
	cmd.Stdin = &lines
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v: %s", err, out)
	}
	r.consume(t, r.b.Topics.Declarations, r.in.Handler())
	kafkatest.WaitFor(t, 30*time.Second, "kcat's declarations handed on", func() bool { return len(r.sink.ids()) == 5 })
	dead := r.b.Consume(t, r.b.Topics.DeadLetters, 1, 20*time.Second)
	if len(dead) != 1 || !strings.Contains(string(dead[0].Value), "malformed") {
		t.Fatalf("dead letters %d", len(dead))
	}
	if n := r.db.Count(t, "declarations FINAL", ""); n != 5 {
		t.Errorf("%d stored, want 5", n)
	}
}
