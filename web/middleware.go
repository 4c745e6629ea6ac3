package web

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// headerRequestID carries the request ID in and out. A caller's ID is kept (when it looks like
// one) so that a single-window system can correlate its own logs with ours.
const headerRequestID = "X-Request-ID"

// ctxRequestID is the gin context key of the request ID.
const ctxRequestID = "portguard.request_id"

// requestID takes the caller's X-Request-ID if it is short and plain, or makes a random one, and
// echoes it in the response.
func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !plainID(id) {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(ctxRequestID, id)
	c.Header(headerRequestID, id)
	c.Next()
}

// plainID accepts 1–64 characters of [A-Za-z0-9._-]: nothing that could forge a log line.
func plainID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

// accessLog writes one log line per request after it is served and observes the HTTP metrics.
// 5xx are errors, 4xx warnings, the rest info; the level check comes first so that a quiet
// logger costs nothing on the decision path.
func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	elapsed := time.Since(start)
	status := c.Writer.Status()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	s.metrics.observe(c.Request.Method, route, status, elapsed)

	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	}
	ctx := c.Request.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Duration("elapsed", elapsed),
		slog.String("client", c.ClientIP()),
		slog.String("request_id", c.GetString(ctxRequestID)),
	}
	if p, ok := principalOf(c); ok {
		attrs = append(attrs, slog.String("user", p.Name))
	}
	if len(c.Errors) > 0 {
		attrs = append(attrs, slog.String("error", c.Errors.Last().Error()))
	}
	s.log.LogAttrs(ctx, level, "http request", attrs...)
}

// recovery turns a panic in a handler into a logged 500 with the usual error body. An
// http.ErrAbortHandler panic is the standard way to abort a response and is passed on.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v)
		}
		s.log.Error("web: handler panicked", "panic", fmt.Sprint(v), "path", c.Request.URL.Path,
			"request_id", c.GetString(ctxRequestID), "stack", string(debug.Stack()))
		if !c.Writer.Written() {
			s.fail(c, fmt.Errorf("panic: %v", v))
		}
		c.Abort()
	}()
	c.Next()
}

// securityHeaders keeps the console's pages from being framed, sniffed or talking to other
// origins: scripts and styles come only from our own embedded files.
func (s *server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Next()
}

// httpMetrics are the adapter's Prometheus series, labelled by route pattern (never by raw path,
// which would grow without bound).
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "portguard", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests served, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "portguard", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to serve an HTTP request, by method and route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.duration} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("web: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

func (m *httpMetrics) observe(method, route string, status int, elapsed time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}
