// Package analytics owns portguard's history in ClickHouse: the schema and its migrations, the
// writers that record every declaration, decision, result, release and dead letter exactly once,
// the readers other packages need (targeting's History, clearance's Store, rule persistence), and
// the trend and yield queries HQ analysts use. It holds no business rules of the other packages.
//
// Every call to ClickHouse goes through one circuit breaker: when the server is down, callers
// get an error wrapping ErrUnavailable at once instead of hanging, and Healthy says why.
package analytics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// Errors callers act on. Web maps ErrUnavailable to 503 and ErrNotFound to 404; ErrInvalid marks
// a query the caller asked for wrongly (400); ErrState an action the record's state does not
// allow (409).
var (
	ErrUnavailable = errors.New("analytics: clickhouse unavailable")
	ErrNotFound    = errors.New("analytics: not found")
	ErrInvalid     = errors.New("analytics: invalid query")
	ErrState       = errors.New("analytics: not allowed in this state")
)

// Config says where ClickHouse is and how long to wait for it. DefaultConfig runs against
// `portguard dev`'s private server.
type Config struct {
	Addr     string // host:port of the native protocol; default 127.0.0.1:19000
	Database string // default "default"; created by Open when missing
	Username string // default "default"
	Password string

	DialTimeout  time.Duration // default 3s
	QueryTimeout time.Duration // per call; default 30s
	// StreamTimeout bounds calls that stream many rows to a callback (History.Outcomes,
	// RuleVersions, AuditRecords); default 10m.
	StreamTimeout time.Duration
	MaxOpenConns  int // default 10

	// BreakerFailures consecutive failures open the breaker; default 5.
	BreakerFailures uint32
	// BreakerOpenFor is how long the open breaker fails calls fast before it lets one through
	// to probe the server; default 10s.
	BreakerOpenFor time.Duration

	// TimeZone names the zone in which trend queries cut days, weeks and months; default UTC.
	TimeZone string
	// MaxRows caps the rows a trend or yield query returns; default 10,000.
	MaxRows int
	// MaxQuerySeconds is the server-side execution limit of analyst queries; default 20.
	MaxQuerySeconds int

	// RollupLag is how stale the dashboards' rollups (decision_facts, daily_cube) may be: a
	// dashboard query first brings them up to date unless a rollup finished less than RollupLag
	// ago. Default 0: always exact (the check costs two small queries when nothing changed).
	// A server under continuous ingest may set a few seconds to a minute.
	RollupLag time.Duration
	// RedecisionWindow bounds how far apart in time two decisions of the same declaration
	// version may be for the rollup to reconcile them (a re-decision replaces the earlier one);
	// default 7 days. Re-targeting happens before release, within the manifest join window.
	RedecisionWindow time.Duration
	// RollupSeconds is the server-side execution limit of one rollup step; default 600.
	RollupSeconds int
}

// DefaultConfig returns the configuration used when nothing is set.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:19000",
		Database:        "default",
		Username:        "default",
		DialTimeout:     3 * time.Second,
		QueryTimeout:    30 * time.Second,
		StreamTimeout:   10 * time.Minute,
		MaxOpenConns:    10,
		BreakerFailures: 5,
		BreakerOpenFor:  10 * time.Second,
		TimeZone:        "UTC",
		MaxRows:         10000,
		MaxQuerySeconds: 20,

		RedecisionWindow: 7 * 24 * time.Hour,
		RollupSeconds:    600,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("analytics: config: Addr is required")
	case c.Database == "" || !identifier(c.Database):
		return fmt.Errorf("analytics: config: database name %q is not a plain identifier", c.Database)
	case c.DialTimeout <= 0 || c.QueryTimeout <= 0 || c.StreamTimeout <= 0:
		return errors.New("analytics: config: timeouts must be positive")
	case c.MaxOpenConns <= 0:
		return errors.New("analytics: config: MaxOpenConns must be positive")
	case c.BreakerFailures == 0 || c.BreakerOpenFor <= 0:
		return errors.New("analytics: config: breaker needs BreakerFailures > 0 and BreakerOpenFor > 0")
	case c.MaxRows <= 0 || c.MaxQuerySeconds <= 0:
		return errors.New("analytics: config: MaxRows and MaxQuerySeconds must be positive")
	case c.RollupLag < 0 || c.RedecisionWindow < 0 || c.RollupSeconds <= 0:
		return errors.New("analytics: config: RollupLag and RedecisionWindow must not be negative, RollupSeconds must be positive")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || !tzName(c.TimeZone) {
		return fmt.Errorf("analytics: config: time zone %q: unknown", c.TimeZone)
	}
	return nil
}

// Store is portguard's ClickHouse history. It is safe for concurrent use.
type Store struct {
	cfg     Config
	loc     *time.Location
	rollup  rollupState
	conn    driver.Conn
	log     *slog.Logger
	breaker *gobreaker.CircuitBreaker[struct{}]
	m       *metrics
}

// Open connects to ClickHouse, creates the database when it does not exist, and returns the
// store. It fails with an error wrapping ErrUnavailable when the server cannot be reached; it
// does not migrate (call Migrate). log may be nil; reg may be nil (no metrics registered).
func Open(ctx context.Context, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	conn, err := dial(ctx, cfg, cfg.Database)
	if err != nil && isUnknownDatabase(err) {
		// A fresh server (portguard dev, docker-compose) has only "default": create ours.
		admin, aerr := dial(ctx, cfg, "default")
		if aerr != nil {
			return nil, aerr
		}
		cerr := admin.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+cfg.Database)
		admin.Close()
		if cerr != nil {
			return nil, fmt.Errorf("analytics: create database %s: %w", cfg.Database, cerr)
		}
		conn, err = dial(ctx, cfg, cfg.Database)
	}
	if err != nil {
		return nil, err
	}
	loc, _ := time.LoadLocation(cfg.TimeZone)
	s := &Store{cfg: cfg, loc: loc, conn: conn, log: log.With("component", "analytics"), m: m}
	s.breaker = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "clickhouse",
		MaxRequests: 1,
		Timeout:     cfg.BreakerOpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= cfg.BreakerFailures },
		IsSuccessful: func(err error) bool {
			// Only a server that fails counts: a cancelled caller, bad input or a
			// callback's own error say nothing about ClickHouse's health.
			var ce callerError
			return err == nil || errors.As(err, &ce)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			m.breakerState.Set(float64(to))
			s.log.Warn("clickhouse circuit breaker changed state", "from", from.String(), "to", to.String())
		},
	})
	return s, nil
}

func dial(ctx context.Context, cfg Config, db string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{cfg.Addr},
		Auth:         clickhouse.Auth{Database: db, Username: cfg.Username, Password: cfg.Password},
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.QueryTimeout + 5*time.Second,
		MaxOpenConns: cfg.MaxOpenConns,
		MaxIdleConns: min(5, cfg.MaxOpenConns),
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: open %s: %w: %w", cfg.Addr, ErrUnavailable, err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+2*time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		if isUnknownDatabase(err) {
			return nil, fmt.Errorf("analytics: open %s/%s: %w", cfg.Addr, db, err)
		}
		return nil, fmt.Errorf("analytics: ping %s/%s: %w: %w", cfg.Addr, db, ErrUnavailable, err)
	}
	return conn, nil
}

func isUnknownDatabase(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && ex.Code == 81
}

// Close closes the connections.
func (s *Store) Close() error { return s.conn.Close() }

// Config returns the effective configuration.
func (s *Store) Config() Config { return s.cfg }

// Healthy returns nil when ClickHouse answers, or an error wrapping ErrUnavailable that says why:
// the breaker is open (calls are failing fast) or a ping failed. /readyz reports it.
func (s *Store) Healthy() error {
	if st := s.breaker.State(); st == gobreaker.StateOpen {
		return fmt.Errorf("analytics: %w: circuit breaker open after %d consecutive failures", ErrUnavailable, s.cfg.BreakerFailures)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DialTimeout+2*time.Second)
	defer cancel()
	return s.do(ctx, "ping", func(ctx context.Context) error { return s.conn.Ping(ctx) })
}

// callerError marks an error that is the caller's doing (cancelled context, bad input, the
// callback's own error). The breaker counts it as a success.
type callerError struct{ err error }

func (e callerError) Error() string { return e.err.Error() }
func (e callerError) Unwrap() error { return e.err }

// callback wraps an error returned by a caller's function so that it reaches the caller
// unchanged and never opens the breaker.
func callback(err error) error {
	if err == nil {
		return nil
	}
	return callerError{err}
}

// do runs fn through the breaker with the per-call timeout. op names the call in errors and
// metrics.
func (s *Store) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return s.run(ctx, op, s.cfg.QueryTimeout, fn)
}

// stream is do for calls that hand many rows to a callback.
func (s *Store) stream(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	// Never retried: a stream that failed midway has already handed rows to its callback.
	return s.call(ctx, op, s.cfg.StreamTimeout, false, fn)
}

func (s *Store) run(ctx context.Context, op string, timeout time.Duration, fn func(ctx context.Context) error) error {
	return s.call(ctx, op, timeout, true, fn)
}

// closedConn reports a pooled connection that was already closed (by the server, or by an
// earlier call's cancellation) when this call picked it up: the server is fine, and a fresh
// connection will do.
func closedConn(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection")
}

// callerGone reports a caller that cancelled or whose deadline has passed. The deadline is
// read from the clock as well as from ctx.Err: the driver sets it on the socket, so a read
// can time out at the deadline before the context's own timer has fired and set Err — on a
// busy machine that gap is long enough to count a caller's timeout against the server.
func callerGone(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

func (s *Store) call(ctx context.Context, op string, timeout time.Duration, retry bool, fn func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.breaker.Execute(func() (struct{}, error) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		err := fn(cctx)
		if retry && err != nil && cctx.Err() == nil && closedConn(err) {
			// Every non-stream call here is idempotent (ReplacingMergeTree writes, reads,
			// audit appends that skip stored records), so one more try is safe.
			err = fn(cctx)
		}
		if err != nil && callerGone(ctx) {
			// The caller went away: not the server's fault.
			err = callerError{err}
		}
		return struct{}{}, err
	})
	if err == nil {
		s.m.calls.WithLabelValues(op, "ok").Inc()
		return nil
	}
	var ce callerError
	if errors.As(err, &ce) {
		s.m.calls.WithLabelValues(op, "caller").Inc()
		if ctx.Err() != nil && !errors.Is(ce.err, ctx.Err()) {
			return fmt.Errorf("analytics: %s: %w (%v)", op, ctx.Err(), ce.err)
		}
		return ce.err
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		s.m.calls.WithLabelValues(op, "rejected").Inc()
		return fmt.Errorf("analytics: %s: %w: circuit breaker open, failing fast: %w", op, ErrUnavailable, err)
	}
	s.m.calls.WithLabelValues(op, "error").Inc()
	if errors.Is(err, ErrUnavailable) || connectionError(err) {
		return fmt.Errorf("analytics: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("analytics: %s: %w", op, err)
}

// connectionError tells a server that cannot be reached (or went away mid-call) from one that
// answered with an error.
func connectionError(err error) bool {
	var ne net.Error
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return false
	}
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, clickhouse.ErrAcquireConnTimeout)
}

func identifier(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// tzName accepts zone names that are safe to put in SQL as a literal (they are bound, but a
// zone is also checked by ClickHouse at parse time).
func tzName(s string) bool {
	return s != "" && !strings.ContainsAny(s, "'\\ ")
}

// limits adds the server-side execution limit analyst queries run under, so a query too heavy
// for the server is stopped there, not merely abandoned by the client.
func (s *Store) limits(ctx context.Context) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{
		"max_execution_time": s.cfg.MaxQuerySeconds,
	}))
}
