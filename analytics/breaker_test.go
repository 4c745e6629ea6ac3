package analytics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestBreakerFailsFastWhileClickHouseIsDownAndRecovers stops a private server mid-way: calls then
// fail with ErrUnavailable, the breaker opens and rejects calls without touching the network,
// Healthy says so, and after a restart everything works again.
func TestBreakerFailsFastWhileClickHouseIsDownAndRecovers(t *testing.T) {
	chtest.Server(t) // skips with the reason when clickhouse-server is not installed (never under CI)
	ctx := context.Background()
	srv, err := chserver.Start(ctx, chserver.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = srv.Addr(), "breaker_test"
	cfg.DialTimeout, cfg.QueryTimeout = time.Second, 5*time.Second
	cfg.BreakerFailures, cfg.BreakerOpenFor = 2, 500*time.Millisecond
	reg := prometheus.NewRegistry()
	s, err := Open(ctx, cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d := []targeting.Decision{testDecision(declNo(1), 1, targeting.Red, targeting.SelectedByRule, day0)}
	if err := s.InsertDecisions(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("healthy while up: %v", err)
	}

	srv.Kill()
	t.Run("calls fail with ErrUnavailable while the server is down", func(t *testing.T) {
		for i := range 3 {
			if err := s.InsertDecisions(ctx, d); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("call %d: err = %v, want ErrUnavailable", i, err)
			}
		}
	})
	t.Run("the recorder's handler returns the failure so that the batch is retried, not committed", func(t *testing.T) {
		topics := ingest.DefaultTopics()
		h := s.Recorder(topics)[topics.Decisions]
		if err := h(ctx, []kafka.Message{{Topic: topics.Decisions, Value: mustJSON(t, d[0])}}); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("handler err = %v, want ErrUnavailable", err)
		}
	})
	t.Run("the open breaker rejects calls at once and Healthy reports it", func(t *testing.T) {
		err := s.InsertDecisions(ctx, d)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "circuit breaker open") {
			t.Fatalf("err = %v, want a fast ErrUnavailable from the open breaker", err)
		}
		if h := s.Healthy(); !errors.Is(h, ErrUnavailable) || !strings.Contains(h.Error(), "circuit breaker open") {
			t.Fatalf("Healthy() = %v, want breaker open", h)
		}
		if g := gaugeValue(t, reg, "portguard_analytics_breaker_state"); g != 2 {
			t.Fatalf("breaker gauge = %v, want 2 (open)", g)
		}
	})

	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	t.Run("after a restart the breaker closes and calls succeed", func(t *testing.T) {
		kafkatest.WaitFor(t, 30*time.Second, "store healthy again", func() bool { return s.Healthy() == nil })
		if err := s.InsertDecisions(ctx, d); err != nil {
			t.Fatal(err)
		}
		if g := gaugeValue(t, reg, "portguard_analytics_breaker_state"); g != 0 {
			t.Fatalf("breaker gauge = %v, want 0 (closed)", g)
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM decisions FINAL").Scan(&n); err != nil || n != 1 {
			t.Fatalf("decisions = %d (%v), want 1: data survives the restart, once", n, err)
		}
	})
}

// TestCancelledCallsNeverOpenTheBreaker: many cancelled calls in a row leave it closed.
func TestCancelledCallsNeverOpenTheBreaker(t *testing.T) {
	s, _ := mustStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := []targeting.Decision{testDecision(declNo(1), 1, targeting.Red, targeting.SelectedByRule, day0)}
	for range 3 * int(s.cfg.BreakerFailures) {
		if err := s.InsertDecisions(ctx, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	}
	// A call cancelled while the query runs on the server.
	for range 3 * int(s.cfg.BreakerFailures) {
		c2, cancel2 := context.WithTimeout(context.Background(), time.Millisecond)
		err := s.do(c2, "sleep", func(ctx context.Context) error { return s.conn.Exec(ctx, "SELECT sleep(1)") })
		cancel2()
		if err == nil {
			t.Fatal("a query cut off after 1ms succeeded")
		}
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy() = %v after only cancelled calls", err)
	}
}

// lateTimer is a context whose deadline has passed but whose timer has not fired yet: what
// the driver sees when its socket deadline (taken from ctx) expires first on a busy machine.
type lateTimer struct{ context.Context }

func (lateTimer) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestACallerDeadlineThatPassedBeforeItsTimerFiredIsTheCallersFault: CI once opened the
// breaker with only 1 ms-timeout calls, because the socket timed out before ctx.Err was set.
func TestACallerDeadlineThatPassedBeforeItsTimerFiredIsTheCallersFault(t *testing.T) {
	s, _ := mustStore(t)
	ctx := lateTimer{context.Background()}
	ioTimeout := errors.New("read tcp 127.0.0.1:9000: i/o timeout")
	for range 3 * int(s.cfg.BreakerFailures) {
		if err := s.do(ctx, "late", func(context.Context) error { return ioTimeout }); !errors.Is(err, ioTimeout) {
			t.Fatalf("err = %v, want the driver's error", err)
		}
	}
	if err := s.Healthy(); err != nil {
		t.Fatalf("Healthy() = %v after only calls whose caller's deadline had passed", err)
	}
}
