package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
	"github.com/portguard/portguard/web"
)

// appConfig is everything the composition root needs; serve and dev fill it from flags.
type appConfig struct {
	Listen     string
	Brokers    []string
	Topics     ingest.Topics
	ClickHouse analytics.Config
	DataDir    string
	RandomKey  string
	InstanceID string // distinguishes this instance's feedback consumer group
	Users      *web.Users
	Dev        bool
	// JobsEvery is how often this instance recomputes enterprise grades and looks for emerging
	// risks; 0 turns the jobs off (run them on one instance of several).
	JobsEvery time.Duration
	// JoinWindow is how long a declaration and its manifest wait for each other, and so how
	// long a GREEN release waits for a manifest still to come. 0: ingest's default (72 h), or
	// devJoinWindow in dev mode.
	JoinWindow time.Duration
	// Stages lists the background stages this instance runs besides the HTTP API, targeting
	// and its feedback: "ingest" (the declarations, manifests and withdrawals topics),
	// "clearance" (decisions and lab results: tasks, holds, releases) and "recorder" (events into
	// ClickHouse), comma-separated; "" or "all" runs every one, "none" makes an API-only
	// instance. Each stage must run on at least one instance of a deployment.
	Stages string
	// Policy is the administration's targeting settings (rates, capacities, grade
	// multipliers, objective) applied over the defaults.
	Policy targeting.Policy
}

// stages says which background stages an instance runs.
type stages struct{ ingest, clearance, recorder bool }

// parseStages reads appConfig.Stages.
func parseStages(s string) (stages, error) {
	switch strings.TrimSpace(s) {
	case "", "all":
		return stages{true, true, true}, nil
	case "none":
		return stages{}, nil
	}
	var st stages
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "ingest":
			st.ingest = true
		case "clearance":
			st.clearance = true
		case "recorder":
			st.recorder = true
		default:
			return st, fmt.Errorf("unknown stage %q: want a comma-separated list of ingest, clearance, recorder, or all, or none", strings.TrimSpace(name))
		}
	}
	return st, nil
}

// devJoinWindow keeps `portguard dev` lively: a GREEN consignment whose manifest has not come
// is released after seconds, not days.
const devJoinWindow = 15 * time.Second

// app holds the wired roles of one portguard process.
type app struct {
	cfg       appConfig
	log       *slog.Logger
	reg       *prometheus.Registry
	store     *analytics.Store
	producer  *ingest.Producer
	outbox    *ingest.Outbox
	intake    *ingest.Intake
	engine    *targeting.Engine
	targeting *targeting.Service
	clearance *clearance.Service
	handler   http.Handler
	stages    stages
	ln        net.Listener
	ready     atomic.Bool
}

func newApp(ctx context.Context, cfg appConfig, log *slog.Logger) (a *app, err error) {
	a = &app{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	if a.stages, err = parseStages(cfg.Stages); err != nil {
		return nil, err
	}
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if a.store, err = analytics.Open(ctx, cfg.ClickHouse, log.With("role", "analytics"), a.reg); err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	a.producer = ingest.NewProducer(cfg.Brokers)
	// Decisions go through a local outbox: durable before the API answers, forwarded to Kafka
	// in the background, kept while Kafka is down.
	if a.outbox, err = ingest.OpenOutbox(filepath.Join(cfg.DataDir, "outbox"), a.producer, log.With("role", "outbox")); err != nil {
		return nil, err
	}

	// One join window for all three roles: ingest joins within it, targeting marks GREEN as
	// awaiting the manifest for it, clearance holds the release for it.
	icfg := ingest.DefaultConfig()
	icfg.SpoolDir = filepath.Join(cfg.DataDir, "spool")
	switch {
	case cfg.JoinWindow > 0:
		icfg.JoinWindow = cfg.JoinWindow
	case cfg.Dev:
		icfg.JoinWindow = devJoinWindow
	}

	// clearance first: it owns the audit chain that targeting writes to.
	ccfg := clearance.DefaultConfig()
	ccfg.ManifestWindow = icfg.JoinWindow
	ccfg.LabResultsTopic = cfg.Topics.LabResults
	if cfg.Dev {
		// The demo officers (officer1–3, matching the console's demo logins) are on duty, so
		// tasks are drawn to them at random (双随机) as at a real port.
		ccfg.Officers = clearance.DemoOfficers()
	}
	a.clearance, err = clearance.NewService(ccfg, clearance.Deps{
		Store: a.store, Publish: a.producer, Topics: cfg.Topics,
		Logger: log.With("role", "clearance"), Registerer: a.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("clearance: %w", err)
	}
	if err := a.clearance.Load(ctx); err != nil {
		log.Warn("clearance state not reloaded; starting empty", "err", err)
	}

	tcfg := targeting.DefaultConfig()
	if cfg.RandomKey != "" {
		tcfg.RandomKey = []byte(cfg.RandomKey)
	}
	if err := cfg.Policy.Apply(&tcfg); err != nil {
		return nil, err
	}
	if a.engine, err = targeting.NewEngine(tcfg); err != nil {
		return nil, fmt.Errorf("targeting: %w", err)
	}
	a.targeting, err = targeting.NewService(a.engine, targeting.ServiceDeps{
		Publish: a.publishDecisions, History: a.store, Audit: a.clearance.Audit(), Rules: a.store,
		SnapshotPath: filepath.Join(cfg.DataDir, "targeting.snapshot"), Labelled: a.store,
		ManifestWindow: icfg.JoinWindow, Logger: log.With("role", "targeting"), Registerer: a.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("targeting: %w", err)
	}

	a.intake, err = ingest.NewIntake(icfg, ingest.NewValidator(icfg), a.store, a.targeting, a.producer, cfg.Topics,
		log.With("role", "ingest"), a.reg)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}

	// A declaration decided over HTTP is journaled in the same outbox as its decision: durable
	// before the answer, and stored by whichever instance runs the ingest stage.
	a.intake.SetJournal(func(ctx context.Context, d *ingest.Declaration) (func(context.Context) error, error) {
		return a.outbox.Enqueue(ctx, ingest.Message{Topic: cfg.Topics.Accepted, Key: d.Number, Value: d})
	})
	a.intake.SetWithdrawalSink(withdrawals{a.clearance})
	a.intake.SetRetargeter(retargeter{t: a.targeting, c: a.clearance})

	wcfg := web.DefaultConfig()
	wcfg.DevMode = cfg.Dev
	if cfg.Dev {
		wcfg.CookieSecure = false // plain http on loopback
	}
	btLoc, err := time.LoadLocation(wcfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	a.handler, err = web.New(wcfg, web.Deps{
		Intake: a.intake, Targeting: a.targeting, Clearance: a.clearance, Analytics: a.store, Profiles: a.engine,
		Audit: a.clearance.Audit(), Schemas: ingest.Schemas(), Draining: func() bool { return !a.ready.Load() },
		KafkaReady: a.kafkaReady, Users: cfg.Users, Logger: log.With("role", "web"),
		Registerer: a.reg, Gatherer: a.reg,
		// The console's rule backtest runs the CLI's code with this service's configuration, so
		// its percentage draws select what production would.
		Backtests: &evaluate.Backtester{Config: tcfg, History: a.store, Loc: btLoc},
	})
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if a.ln, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return a, nil
}

// URL is the base URL the HTTP server answers on.
func (a *app) URL() string {
	addr := a.ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return fmt.Sprintf("http://%s", net.JoinHostPort(host, fmt.Sprint(addr.Port)))
}

func (a *app) publishDecisions(ctx context.Context, ds []targeting.Decision) error {
	msgs := make([]ingest.Message, len(ds))
	for i := range ds {
		msgs[i] = ingest.Message{Topic: a.cfg.Topics.Decisions, Key: ds[i].DeclarationNo, Value: &ds[i]}
	}
	return a.outbox.Publish(ctx, msgs...)
}

// kafkaReady asks the first reachable broker for the decisions topic's metadata.
func (a *app) kafkaReady(ctx context.Context) error {
	var last error
	for _, b := range a.cfg.Brokers {
		d := kafka.Dialer{Timeout: 2 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", b)
		if err != nil {
			last = err
			continue
		}
		_, err = conn.ReadPartitions(a.cfg.Topics.Decisions)
		conn.Close()
		if err == nil {
			return nil
		}
		last = err
	}
	return fmt.Errorf("kafka: no broker answered: %w", last)
}

// Run starts every long-running part and blocks until ctx ends or one part fails; then it stops
// intake first, flushes writers and closes stores.
func (a *app) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	consume := func(topic, group string, h ingest.Handler) {
		c, err := ingest.NewConsumer(ingest.ConsumerConfig{Brokers: a.cfg.Brokers, Topic: topic, GroupID: group,
			Logger: a.log.With("consumer", group)})
		if err != nil {
			g.Go(func() error { return err })
			return
		}
		g.Go(func() error { return c.Run(gctx, h) })
	}
	a.loadGrades(gctx)
	if m, w, err := a.intake.RestoreJoins(gctx, a.store); err != nil {
		a.log.Warn("manifest join state not restored; manifests received before this start are not joined", "err", err)
	} else {
		a.log.Info("manifest join state restored", "manifests", m, "declarations_awaiting_manifest", w)
	}
	if err := a.targeting.WarmStart(gctx); err != nil {
		a.log.Warn("targeting warm start incomplete; deciding from in-memory state", "err", err)
	}
	g.Go(func() error { return a.intake.Run(gctx) })
	g.Go(func() error { return a.outbox.Run(gctx) })
	g.Go(func() error { a.snapshotEvery(gctx, 10*time.Minute); return nil })
	g.Go(func() error { a.targeting.RunRetrainer(gctx); return nil })
	if a.cfg.JobsEvery > 0 {
		g.Go(func() error { a.analyticsJobs(gctx, a.cfg.JobsEvery); return nil })
	}
	if a.cfg.ClickHouse.RollupLag > 0 {
		// Dashboards read rollups at most RollupLag old, kept fresh here rather than by the
		// first query after new decisions.
		g.Go(func() error { a.store.RunRollups(gctx, a.cfg.ClickHouse.RollupLag/2); return nil })
	}
	if a.stages.clearance {
		g.Go(func() error { return a.clearance.Run(gctx) })
		consume(a.cfg.Topics.Decisions, "portguard-clearance", a.clearance.DecisionsHandler())
		consume(a.cfg.Topics.LabResults, "portguard-clearance-lab", a.clearance.LabResultsHandler())
	}
	if a.stages.ingest {
		consume(a.cfg.Topics.Declarations, "portguard-ingest", a.intake.Handler())
		consume(a.cfg.Topics.Accepted, "portguard-ingest-accepted", a.intake.AcceptedHandler())
		consume(a.cfg.Topics.Manifests, "portguard-ingest-manifests", a.intake.ManifestStoreHandler())
		consume(a.cfg.Topics.Withdrawals, "portguard-ingest-withdrawals", a.intake.WithdrawalHandler())
	}
	// Every instance joins every manifest (its own consumer group): the declaration it decides,
	// over HTTP or from its partitions of the declarations topic, may have its manifest on any
	// partition, read by any ingest instance.
	consume(a.cfg.Topics.Manifests, "portguard-join-"+a.cfg.InstanceID, a.intake.JoinHandler())
	// Every instance learns from every result (its own consumer group), whatever it decides on.
	consume(a.cfg.Topics.InspectionResults, "portguard-targeting-"+a.cfg.InstanceID, a.targeting.FeedbackHandler())
	if a.stages.recorder {
		g.Go(func() error {
			return analytics.RunRecorder(gctx, a.cfg.Brokers, a.cfg.Topics, "portguard-analytics", a.store, a.log.With("role", "recorder"))
		})
	}
	srv := &http.Server{Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
	g.Go(func() error {
		if err := srv.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	a.ready.Store(true)
	err := g.Wait()
	a.ready.Store(false)
	fctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if ferr := a.intake.Flush(fctx); ferr != nil {
		a.log.Error("flush on shutdown", "err", ferr)
	}
	if ferr := a.targeting.Flush(fctx); ferr != nil {
		a.log.Error("targeting flush on shutdown", "err", ferr)
	}
	if serr := a.targeting.SaveSnapshot(); serr != nil {
		a.log.Warn("targeting snapshot not saved; the next start replays history instead", "err", serr)
	}
	if ferr := a.outbox.Flush(fctx); ferr != nil {
		a.log.Warn("outbox not fully forwarded; the next start sends the rest", "pending", a.outbox.Pending(), "err", ferr)
	}
	a.close()
	return err
}

func (a *app) close() {
	if a.targeting != nil {
		a.targeting.Close()
	}
	if a.outbox != nil {
		_ = a.outbox.Close()
	}
	if a.producer != nil {
		_ = a.producer.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
	if a.ln != nil {
		_ = a.ln.Close()
	}
}

// withdrawals hands ingest's withdrawals (撤单) to clearance, which cancels open tasks.
type withdrawals struct{ c *clearance.Service }

func (w withdrawals) Withdraw(ctx context.Context, ws []*ingest.Withdrawal) error {
	for _, x := range ws {
		if err := w.c.Withdraw(ctx, x.Number, x.Reason); err != nil && !errors.Is(err, clearance.ErrNotFound) {
			return err
		}
	}
	return nil
}

// retargeter hands a declaration whose manifest arrived late to targeting, which revises a GREEN
// decision still awaiting it; a consignment clearance has already released is never re-targeted.
type retargeter struct {
	t *targeting.Service
	c *clearance.Service
}

func (r retargeter) Retarget(ctx context.Context, d *ingest.Declaration) error {
	if r.c.Released(d.ID()) {
		return nil
	}
	return r.t.Retarget(ctx, d)
}

// snapshotEvery saves targeting's learnt state periodically, so that a restart restores it
// instead of replaying all history.
func (a *app) snapshotEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.targeting.SaveSnapshot(); err != nil {
				a.log.Warn("targeting snapshot failed", "err", err)
			}
		}
	}
}

// loadGrades gives targeting the enterprise grades analytics has recorded (绿黄红黑), so random
// rates and priors follow them from the first decision after a restart.
func (a *app) loadGrades(ctx context.Context) {
	n := 0
	err := a.store.GradeChanges(ctx, time.Now().AddDate(-3, 0, 0), func(c analytics.GradeChange) error {
		a.engine.SetGrade(c.Enterprise, c.To)
		n++
		return nil
	})
	if err != nil {
		a.log.Warn("enterprise grades not loaded; every enterprise starts as general", "err", err)
		return
	}
	a.log.Info("enterprise grades loaded", "changes", n)
}

// analyticsJobs periodically regrades enterprises from their results (feeding targeting) and
// runs the early-warning tests, storing and publishing the alerts.
func (a *app) analyticsJobs(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changes, err := a.store.RecomputeGrades(ctx, time.Now())
		if err != nil {
			a.log.Warn("enterprise grades not recomputed", "err", err)
		}
		for _, c := range changes {
			a.engine.SetGrade(c.Enterprise, c.To)
		}
		alerts, err := a.store.DetectAlerts(ctx, analytics.AlertOptions{})
		if err == nil && len(alerts) > 0 {
			if err = a.store.SaveAlerts(ctx, alerts); err == nil {
				err = analytics.PublishAlerts(ctx, a.outbox, a.cfg.Topics.Alerts, alerts)
			}
		}
		if err != nil {
			a.log.Warn("early warning not completed", "err", err)
		}
		a.log.Info("analytics jobs done", "grade_changes", len(changes), "alerts", len(alerts))
	}
}
