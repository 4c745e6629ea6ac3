package web

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portguard/portguard/targeting"
)

// healthz is liveness: the process serves HTTP. It checks nothing else, so that a ClickHouse
// outage never gets the process restarted (targeting keeps deciding without it).
func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// checkResult is one dependency's state in /readyz.
type checkResult struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// readyResponse is the body of /readyz.
type readyResponse struct {
	Status string                 `json:"status"` // "ready", "not_ready" or "draining"
	Checks map[string]checkResult `json:"checks"`
	// Degraded is targeting deciding from in-memory state only (ClickHouse-backed state
	// missing). It is reported, not failed: decisions keep flowing.
	Degraded  bool              `json:"degraded"`
	Targeting *targeting.Health `json:"targeting,omitempty"`
}

// readyz is readiness: 200 when ClickHouse and Kafka answer, 503 with the state of each
// dependency otherwise, or while the server is draining before shutdown. Checks run in parallel,
// each bounded by ReadyTimeout.
func (s *server) readyz(c *gin.Context) {
	checks := map[string]func(context.Context) error{
		"clickhouse": func(context.Context) error {
			if s.deps.Analytics == nil {
				return errors.New("not configured")
			}
			return s.deps.Analytics.Healthy()
		},
		"kafka": func(ctx context.Context) error {
			if s.deps.KafkaReady == nil {
				return errors.New("not configured")
			}
			return s.deps.KafkaReady(ctx)
		},
	}
	res := readyResponse{Status: "ready", Checks: make(map[string]checkResult, len(checks))}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			err := runCheck(c.Request.Context(), s.cfg.ReadyTimeout, check)
			r := checkResult{OK: err == nil}
			if err != nil {
				r.Error = err.Error()
			}
			mu.Lock()
			res.Checks[name] = r
			mu.Unlock()
		})
	}
	wg.Wait()
	status := http.StatusOK
	for _, r := range res.Checks {
		if !r.OK {
			res.Status, status = "not_ready", http.StatusServiceUnavailable
		}
	}
	if s.deps.Targeting != nil {
		h := s.deps.Targeting.Health()
		res.Targeting, res.Degraded = &h, h.Degraded
	}
	if s.deps.Draining != nil && s.deps.Draining() {
		res.Status, status = "draining", http.StatusServiceUnavailable
	}
	c.JSON(status, res)
}

// runCheck runs check with a deadline and gives up waiting when it passes, even if the check
// itself ignores its context (Healthy takes none).
func runCheck(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- check(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.New("no answer within the readiness timeout")
	}
}

// metricsHandler exposes the Gatherer in the Prometheus text format.
func (s *server) metricsHandler() gin.HandlerFunc {
	g := s.deps.Gatherer
	if g == nil {
		g = prometheus.NewRegistry()
	}
	h := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	return gin.WrapH(h)
}
