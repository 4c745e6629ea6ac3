// Package web is portguard's HTTP adapter: the gin engine, authentication and roles, every /v1
// route, the embedded console (officers' tasks, the supervisor's desk, risk analysts' rules,
// HQ analysts' dashboards), and the one place that maps errors to status codes.
//
// Handlers decode a request, call a domain method with Go values and encode the answer; they hold
// no domain logic, and the domain packages never see a *gin.Context. Each domain dependency is
// declared here as a small interface with exactly the methods web calls, so that the real
// services (*ingest.Intake, *targeting.Service, *clearance.Service, *analytics.Store) satisfy
// them without knowing about web.
//
//	users, creds := web.DevUsers() // dev mode only
//	h, err := web.New(cfg, web.Deps{Intake: in, Targeting: tg, Clearance: cl, Analytics: st,
//		KafkaReady: producer.Ping, Users: users, Logger: log, Registerer: reg, Gatherer: reg})
//	srv := &http.Server{Addr: cfg.Addr, Handler: h}
package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// Config is the HTTP adapter's configuration. DefaultConfig gives values that run on one laptop
// behind no proxy; production sets CookieSecure (TLS in front) and TrustedProxies.
type Config struct {
	// Addr is the listen address, host:port. web does not listen itself (New returns a
	// handler); cmd uses Addr for its http.Server. Default ":8080".
	Addr string
	// TrustedProxies are the IPs or CIDRs of reverse proxies whose X-Forwarded-For is believed
	// when logging the client address. Default none: the TCP peer is the client.
	TrustedProxies []string
	// SessionTTL is how long a console login lasts without use; every authenticated request
	// renews it, up to SessionMaxAge. Default 30 minutes.
	SessionTTL time.Duration
	// SessionMaxAge bounds a session however busy it is: officers log in again each shift.
	// Default 12 hours.
	SessionMaxAge time.Duration
	// CookieSecure marks the session cookie Secure (sent over HTTPS only). Default true; only
	// dev mode over plain http on loopback should turn it off.
	CookieSecure bool
	// DevMode allows the seeded demo accounts of DevUsers (New refuses them otherwise) and shows
	// a dev-mode banner in the console. Default false.
	DevMode bool
	// MaxBodyBytes bounds a request body; larger bodies get 413. Default 1 MiB, far above a
	// 50-item declaration.
	MaxBodyBytes int64
	// ReadyTimeout bounds each dependency check of /readyz. Default 2 s.
	ReadyTimeout time.Duration
	// LoginFailures failed logins of one user name within LoginWindow lock that name out until
	// the window passes (429), against password guessing. Default 5 in 15 minutes.
	LoginFailures int
	// LoginWindow: see LoginFailures.
	LoginWindow time.Duration
	// TimeZone (IANA name) in which the dates of trend queries (?from=2026-11-01) are read; set
	// it to analytics' time zone so that a day means the same in both. Default "UTC".
	TimeZone string
	// BacktestTimeout bounds one rule backtest (POST /v1/rules/backtest): past it the request
	// answers 504 and the ClickHouse read stops. Default 2 minutes.
	BacktestTimeout time.Duration
	// Backtests is how many backtests may run at once; more answer 429. Each holds a core while
	// it decides the period's declarations again. Default 2.
	Backtests int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Addr:          ":8080",
		SessionTTL:    30 * time.Minute,
		SessionMaxAge: 12 * time.Hour,
		CookieSecure:  true,
		MaxBodyBytes:  1 << 20,
		ReadyTimeout:  2 * time.Second,
		LoginFailures: 5,
		LoginWindow:   15 * time.Minute,
		TimeZone:      "UTC",

		BacktestTimeout: 2 * time.Minute,
		Backtests:       2,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("web: addr %q: %w", c.Addr, err)
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err != nil {
			return fmt.Errorf("web: trusted proxy %q is neither an IP nor a CIDR", p)
		}
	}
	switch {
	case c.SessionTTL <= 0:
		return errors.New("web: session TTL must be positive")
	case c.SessionMaxAge < c.SessionTTL:
		return errors.New("web: session max age must be at least the session TTL")
	case c.MaxBodyBytes <= 0:
		return errors.New("web: max body bytes must be positive")
	case c.ReadyTimeout <= 0:
		return errors.New("web: ready timeout must be positive")
	case c.LoginFailures <= 0 || c.LoginWindow <= 0:
		return errors.New("web: login failures and login window must be positive")
	case c.BacktestTimeout <= 0 || c.Backtests <= 0:
		return errors.New("web: backtest timeout and concurrent backtests must be positive")
	}
	if _, err := time.LoadLocation(c.TimeZone); err != nil || c.TimeZone == "" {
		return fmt.Errorf("web: time zone %q: unknown", c.TimeZone)
	}
	return nil
}

// Intake accepts one declaration message. *ingest.Intake implements it.
type Intake interface {
	// Admit validates, normalizes and journals raw (one declaration JSON message) and returns
	// the declaration; its Durable says when the journal has it on disk, which must come before
	// the answer. Bad input returns *ingest.ValidationError listing every problem.
	Admit(ctx context.Context, raw []byte) (ingest.Submission, error)
}

// Targeting decides. *targeting.Service implements it.
type Targeting interface {
	// Decide returns the decision for a validated declaration version; deciding the same
	// number and version again returns the first decision.
	Decide(ctx context.Context, d *ingest.Declaration) (targeting.Decision, error)
	// Decision returns the decision made for a declaration version (0 = the latest version
	// decided), ok=false if none.
	Decision(number string, version int) (targeting.Decision, bool)
	// Rules is the rule book (布控指令): lifecycle and four-eyes checks live there.
	Rules() *targeting.RuleBook
	// Health reports the engine's state; /readyz shows it (degraded is reported, not failed:
	// targeting keeps deciding without ClickHouse).
	Health() targeting.Health
}

// Clearance holds inspection tasks, results and the audit chain. *clearance.Service
// implements it.
type Clearance interface {
	// Tasks returns the tasks f selects, highest priority first, then oldest first.
	Tasks(ctx context.Context, f clearance.TaskFilter) ([]clearance.Task, error)
	// Task returns one task by ID, or clearance.ErrNotFound.
	Task(ctx context.Context, id string) (clearance.Task, error)
	// RecordResult records an officer's inspection result and acts on it (release, feedback).
	// Errors: *ingest.ValidationError, clearance.ErrNotFound, ErrForbidden, ErrConflict (stale
	// ExpectedVersion), ErrState.
	RecordResult(ctx context.Context, a clearance.Actor, in clearance.ResultInput) (clearance.InspectionResult, error)
	// Trail returns a declaration's audit records, oldest first.
	Trail(ctx context.Context, declarationNo string) ([]clearance.AuditRecord, error)
	// StartInspection marks an assigned task in progress. Errors: ErrNotFound, ErrForbidden,
	// ErrConflict (stale version), ErrState.
	StartInspection(ctx context.Context, a clearance.Actor, taskID string, expectedVersion int) (clearance.Task, error)
	// Reassign gives a task another officer (named, or a fresh recorded draw); a reason is
	// required. Errors: *ingest.ValidationError, ErrNotFound, ErrForbidden, ErrConflict, ErrState.
	Reassign(ctx context.Context, a clearance.Actor, in clearance.ReassignInput) (clearance.Task, error)
	// Override changes a task's channel with a reason code and text; it joins the supervisors'
	// review queue. Errors: *ingest.ValidationError, ErrNotFound, ErrForbidden, ErrState.
	Override(ctx context.Context, a clearance.Actor, in clearance.OverrideInput) (clearance.Override, error)
	// Overrides returns the overrides f selects, newest first.
	Overrides(ctx context.Context, f clearance.OverrideFilter) ([]clearance.Override, error)
	// ReviewOverride records a supervisor's verdict on a pending override. Errors:
	// *ingest.ValidationError, ErrNotFound, ErrForbidden (e.g. the override's own author), ErrState.
	ReviewOverride(ctx context.Context, a clearance.Actor, in clearance.OverrideReview) (clearance.Override, error)
	// OverrideRates returns override rates per officer and per port, highest first.
	OverrideRates(ctx context.Context) ([]clearance.OverrideRate, error)
	// RecordLabResult applies a laboratory report to a task awaiting it. Errors:
	// *ingest.ValidationError, ErrNotFound, ErrForbidden, ErrConflict, ErrState.
	RecordLabResult(ctx context.Context, a clearance.Actor, in clearance.LabInput) (clearance.InspectionResult, error)
	// Overdue returns the open tasks past their due time, most overdue first.
	Overdue(ctx context.Context) ([]clearance.Task, error)
	// Officers returns the duty roster with each officer's current duty state.
	Officers() []clearance.Officer
	// SetOnDuty puts an officer on or off duty. Errors: ErrNotFound, ErrForbidden.
	SetOnDuty(ctx context.Context, a clearance.Actor, officer string, onDuty bool) error
}

// Analytics reads history from ClickHouse. *analytics.Store implements it.
type Analytics interface {
	// Healthy returns nil when ClickHouse answers.
	Healthy() error
	// DeclarationByID returns a stored declaration version (0 = the latest), or an error
	// wrapping analytics.ErrNotFound.
	DeclarationByID(ctx context.Context, number string, version int) (*ingest.Declaration, error)
	// DailyTrend returns, per day in [From, To), declarations decided, inspection rate and hit
	// rate. Errors wrap analytics.ErrUnavailable when ClickHouse is down.
	DailyTrend(ctx context.Context, q analytics.TrendQuery) ([]analytics.TrendPoint, error)
}

// Auditor appends to the hash-chained audit trail; web records logins and failed logins with it.
// (*clearance.Chain, clearance's Audit(), implements it.)
type Auditor interface {
	// Record appends one entry: who (actor), what (action, e.g. "login"), about what (subject)
	// and a detail value encoded as JSON.
	Record(ctx context.Context, actor, action, subject string, detail any) error
}

// Deps are the services the adapter calls. A nil service makes its routes answer 503 (they stay
// registered, so the API document does not change); cmd passes all of them.
type Deps struct {
	Intake    Intake
	Targeting Targeting
	Clearance Clearance
	Analytics Analytics
	// Dashboards answers the analytics routes (*analytics.Store implements it); nil uses
	// Analytics when it implements Dashboards.
	Dashboards Dashboards
	// Profiles reads targeting's in-memory risk profiles (*targeting.Engine implements it).
	Profiles Profiles
	// Backtests runs rule backtests over stored history (*evaluate.Backtester implements it).
	Backtests Backtests
	// Audit records logins; nil logs them only.
	Audit Auditor
	// Schemas are the published JSON Schemas by name (ingest.Schemas()).
	Schemas map[string][]byte
	// KafkaReady returns nil when the Kafka cluster answers; /readyz calls it.
	KafkaReady func(context.Context) error
	// Draining, when it returns true, makes /readyz answer 503 so that load balancers stop
	// sending requests before shutdown. Optional.
	Draining func() bool
	// Users are the accounts and API keys. Required.
	Users *Users
	// Logger receives access and error logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the HTTP metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Gatherer is what /metrics exposes; nil serves an empty exposition.
	Gatherer prometheus.Gatherer
}

// server is the state behind the handler: configuration, dependencies and the session store.
type server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	sessions *sessions
	limiter  *loginLimiter
	metrics  *httpMetrics
	openapi  []byte // the OpenAPI document, built from the route table at start
	tz       *time.Location
	// backtestSlots holds one token per running backtest, at most Config.Backtests.
	backtestSlots chan struct{}
}

// New builds the HTTP handler: a gin engine with request IDs, access logging, recovery, metrics,
// authentication and every route of routes.go.
func New(cfg Config, deps Deps) (http.Handler, error) {
	s, err := newServer(cfg, deps)
	if err != nil {
		return nil, err
	}
	return s.engine()
}

func newServer(cfg Config, deps Deps) (*server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Users == nil {
		return nil, errors.New("web: deps.Users is required")
	}
	if deps.Users.dev && !cfg.DevMode {
		return nil, errors.New("web: demo accounts from DevUsers are allowed in dev mode only")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for name, missing := range map[string]bool{
		"intake": deps.Intake == nil, "targeting": deps.Targeting == nil,
		"clearance": deps.Clearance == nil, "analytics": deps.Analytics == nil,
		"audit": deps.Audit == nil, "kafka readiness": deps.KafkaReady == nil,
	} {
		if missing {
			log.Warn("web: dependency not configured; its routes answer 503", "dependency", name)
		}
	}
	m, err := newHTTPMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	tz, _ := time.LoadLocation(cfg.TimeZone) // checked by Validate
	return &server{
		tz:       tz,
		cfg:      cfg,
		deps:     deps,
		log:      log,
		sessions: newSessions(cfg.SessionTTL, cfg.SessionMaxAge),
		limiter:  newLoginLimiter(cfg.LoginFailures, cfg.LoginWindow),
		metrics:  m,

		backtestSlots: make(chan struct{}, cfg.Backtests),
	}, nil
}

// engine assembles the gin engine. gin's own debug route listing is switched off unless
// GIN_MODE asks for it: our access log is the log.
func (s *server) engine() (*gin.Engine, error) {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	if err := e.SetTrustedProxies(s.cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("web: trusted proxies: %w", err)
	}
	e.Use(s.requestID, s.accessLog, s.recovery, s.securityHeaders)
	e.NoRoute(func(c *gin.Context) { s.fail(c, errNoRoute) })
	e.NoMethod(func(c *gin.Context) { s.fail(c, errNoMethod) })
	s.install(e)
	return e, nil
}

// isAPI reports whether a path belongs to the JSON API (as opposed to the console's pages).
func isAPI(path string) bool { return strings.HasPrefix(path, "/v1/") }
