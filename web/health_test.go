package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chtest"
	"github.com/portguard/portguard/ingest/kafkatest"
)

// kafkaReady is a readiness check like the one cmd passes: the broker answers a metadata
// request.
func kafkaReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		conn, err := kafka.DialContext(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("dial kafka: %w", err)
		}
		defer conn.Close()
		if _, err := conn.Brokers(); err != nil {
			return fmt.Errorf("kafka metadata: %w", err)
		}
		return nil
	}
}

// openStore opens a real analytics store on a fresh database of the shared test ClickHouse.
func openStore(tb testing.TB) *analytics.Store {
	tb.Helper()
	db := chtest.New(tb)
	cfg := analytics.DefaultConfig()
	cfg.Addr, cfg.Database = db.Addr, db.Database
	st, err := analytics.Open(context.Background(), cfg, nil, nil)
	if err != nil {
		tb.Fatalf("open analytics store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestHealthAndReadiness(t *testing.T) {
	store := openStore(t)
	broker := kafkatest.Start(t, 1)
	draining := false
	tests := []struct {
		name    string
		deps    Deps
		drain   bool
		want    int
		status  string
		failing []string
	}{
		{"ready when ClickHouse and Kafka answer", Deps{Analytics: store, KafkaReady: kafkaReady(broker.Addr)}, false, 200, "ready", nil},
		{"not ready when Kafka does not answer, naming it", Deps{Analytics: store, KafkaReady: kafkaReady(closedAddr(t))}, false, 503, "not_ready", []string{"kafka"}},
		{"not ready when nothing is configured", Deps{}, false, 503, "not_ready", []string{"clickhouse", "kafka"}},
		{"draining before shutdown even when all answer", Deps{Analytics: store, KafkaReady: kafkaReady(broker.Addr)}, true, 503, "draining", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.deps.Draining = func() bool { return draining }
			draining = tc.drain
			_, h := mustServer(t, testConfig(), tc.deps)
			if w := do(t, h, request{method: "GET", path: "/healthz"}); w.Code != 200 {
				t.Errorf("healthz: %d", w.Code)
			}
			w := do(t, h, request{method: "GET", path: "/readyz"})
			var r readyResponse
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.want || r.Status != tc.status {
				t.Fatalf("readyz: %d %s, want %d %s", w.Code, w.Body.String(), tc.want, tc.status)
			}
			for name, c := range r.Checks {
				wantFail := false
				for _, f := range tc.failing {
					wantFail = wantFail || f == name
				}
				if c.OK == wantFail || (wantFail && c.Error == "") {
					t.Errorf("check %s = %+v, want failing=%v with a reason", name, c, wantFail)
				}
			}
			if len(r.Checks) < 2 {
				t.Errorf("checks = %v", r.Checks)
			}
		})
	}
}

func TestMetricsExposeHTTPRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, h := mustServer(t, testConfig(), Deps{Registerer: reg, Gatherer: reg})
	do(t, h, request{method: "GET", path: "/healthz"})
	do(t, h, request{method: "GET", path: "/v1/decisions/110120250000000001"}) // 401
	w := do(t, h, request{method: "GET", path: "/metrics"})
	if w.Code != http.StatusOK {
		t.Fatalf("metrics: %d", w.Code)
	}
	body := w.Body.String()
	for _, want := range []string{
		`portguard_http_requests_total{code="200",method="GET",route="/healthz"} 1`,
		`portguard_http_requests_total{code="401",method="GET",route="/v1/decisions/:number"} 1`,
		`portguard_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if _, err := newServer(testConfig(), Deps{Users: testUsers(t), Registerer: reg}); err == nil {
		t.Errorf("a second server on the same registry did not report the duplicate metrics")
	}
}
