package targeting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/portguard/portguard/ingest"
)

// ServiceDeps are what the service needs from the rest of portguard. Only Publish is required.
type ServiceDeps struct {
	// Publish writes decisions to the decisions topic and returns once they are acknowledged.
	Publish func(ctx context.Context, ds []Decision) error
	// History feeds the warm start; the caller wraps it in its circuit breaker. Nil: cold start.
	History History
	// Audit receives every decision and rule change. Nil: nothing is audited (tests, replay).
	Audit Auditor
	// Rules persists rule versions. Nil: rules live in memory only.
	Rules RuleStore
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for the service's metrics; nil keeps them unexported.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// PublishTimeout bounds a synchronous publication on the HTTP path before the decision is
	// handed to the retry queue instead. Default 2s.
	PublishTimeout time.Duration
	// CacheSize bounds the decisions remembered for idempotency and lookup. Default 50,000.
	CacheSize int
	// RetryQueue bounds the decisions (and audit entries) kept for later when Kafka (or the audit
	// store) is down; beyond it the oldest are dropped and counted. Default 100,000.
	RetryQueue int
	// AuditLinger is how long decision audit entries gather (up to 5,000) before one chained
	// insert: fewer, larger inserts. Default 200 ms; negative: none.
	AuditLinger time.Duration
	// WarmStartWindow is how much labelled history WarmStart replays. Default 2 × HalfLife.
	WarmStartWindow time.Duration
	// WarmStartTimeout bounds WarmStart. Default 2 minutes.
	WarmStartTimeout time.Duration
	// Labelled feeds periodic retraining (Retrain, RunRetrainer). Nil: the models learn
	// online only and the combiner stays the one restored or fitted.
	Labelled LabelledHistory
	// RetrainEvery is how often RunRetrainer retrains. Default 24h; negative never.
	RetrainEvery time.Duration
	// RetrainWindow is how much labelled history a retrain learns from. Default
	// WarmStartWindow.
	RetrainWindow time.Duration
	// MinShadowLabels is how many labels of decisions made in shadow judge a challenger.
	// Default 300.
	MinShadowLabels int
	// ShadowMaxAge drops a challenger that has not been judged after this long. Default 14
	// days.
	ShadowMaxAge time.Duration
	// PromoteMargin is how much higher the challenger's inverse-propensity-weighted precision
	// at the target rate must be than the champion's for promotion. Default 0: any gain.
	PromoteMargin float64
	// ManifestWindow, when positive, holds back GREEN for a declaration that carries a bill of
	// lading whose manifest has not been joined yet: the decision is marked AwaitingManifest
	// (clearance holds its release), and Retarget revises it when the manifest arrives within
	// the window. Use ingest's JoinWindow. Zero: a GREEN decision is final at once.
	ManifestWindow time.Duration
	// SnapshotPath, when set, is where SaveSnapshot writes the engine's learnt state and where
	// WarmStart restores it from: a restart then replays only the history decided since the
	// snapshot instead of the whole WarmStartWindow.
	SnapshotPath string
}

// Service is targeting as the rest of portguard sees it: idempotent decisions for HTTP and
// Kafka, publication with a retry queue, audit, learning from the feedback topic, warm start,
// health and metrics. Decisions never wait on ClickHouse: audit entries and failed publications
// are queued and drained in the background.
type Service struct {
	e   *Engine
	d   ServiceDeps
	log *slog.Logger
	m   *metrics

	mu     sync.Mutex
	cache  map[string]Decision
	latest map[string]int // declaration number → highest version decided
	ring   []string
	next   int

	publishQ *backlog[Decision]
	auditQ   *backlog[AuditEntry]

	lc lifecycle

	degraded    atomic.Bool
	warm        atomic.Bool
	labels      atomic.Int64
	warmRunning atomic.Bool
}

// Health is the service's state for /readyz and the console.
type Health struct {
	Degraded       bool   `json:"degraded"` // running without ClickHouse-backed state
	WarmStarted    bool   `json:"warm_started"`
	ModelVersion   string `json:"model_version"`
	ShadowModel    string `json:"shadow_model,omitempty"` // challenger scored in shadow
	Rules          int    `json:"rules"`                  // rules in effect
	Profiles       int    `json:"profiles"`               // profiled attribute values
	LabelsApplied  int64  `json:"labels_applied"`
	Cached         int    `json:"cached_decisions"`
	PendingPublish int    `json:"pending_publish"`
	PendingAudit   int    `json:"pending_audit"`
}

// NewService wires an engine to its dependencies.
func NewService(e *Engine, deps ServiceDeps) (*Service, error) {
	if e == nil {
		return nil, errors.New("targeting: service needs an engine")
	}
	if deps.Publish == nil {
		return nil, errors.New("targeting: service needs a Publish function")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.PublishTimeout <= 0 {
		deps.PublishTimeout = 2 * time.Second
	}
	if deps.CacheSize <= 0 {
		deps.CacheSize = 50_000
	}
	if deps.RetryQueue <= 0 {
		deps.RetryQueue = 100_000
	}
	if deps.AuditLinger == 0 {
		deps.AuditLinger = 200 * time.Millisecond
	}
	if deps.WarmStartWindow <= 0 {
		deps.WarmStartWindow = 2 * e.cfg.HalfLife
	}
	if deps.WarmStartTimeout <= 0 {
		deps.WarmStartTimeout = 2 * time.Minute
	}
	if deps.RetrainEvery == 0 {
		deps.RetrainEvery = 24 * time.Hour
	}
	if deps.RetrainWindow <= 0 {
		deps.RetrainWindow = deps.WarmStartWindow
	}
	if deps.MinShadowLabels <= 0 {
		deps.MinShadowLabels = 300
	}
	if deps.ShadowMaxAge <= 0 {
		deps.ShadowMaxAge = 14 * 24 * time.Hour
	}
	m, err := newMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Service{
		e: e, d: deps, log: deps.Logger, m: m,
		cache:  make(map[string]Decision),
		latest: make(map[string]int),
		ring:   make([]string, deps.CacheSize),
	}
	s.publishQ = newBacklog(deps.RetryQueue, 500, func(ctx context.Context, ds []Decision) ([]Decision, error) {
		if err := deps.Publish(ctx, ds); err != nil {
			m.publishFailed.Inc()
			return ds, err
		}
		return nil, nil
	}, func(n int) { m.publishPending.Set(float64(n)) }, s.log.With("queue", "publish"))
	// Audit entries are appended a batch at a time; only the entries that failed are retried
	// (no duplicates).
	s.auditQ = newBacklog(deps.RetryQueue, 5000, func(ctx context.Context, es []AuditEntry) ([]AuditEntry, error) {
		if deps.Audit == nil {
			return nil, nil
		}
		if ba, ok := deps.Audit.(batchAuditor); ok {
			// One chained insert for the whole batch, in order.
			if err := ba.AppendBatch(ctx, es); err != nil {
				m.auditFailed.Inc()
				return es, err
			}
			return nil, nil
		}
		// One at a time, in order: a batch gathers for AuditLinger, and a decision and its
		// revision can be in the same one.
		for i := range es {
			if err := deps.Audit.Append(ctx, es[i]); err != nil {
				m.auditFailed.Inc()
				return es[i:], err
			}
		}
		return nil, nil
	}, nil, s.log.With("queue", "audit"))
	// At thousands of decisions a second, auditing each round trip's worth made a hundred
	// small inserts a second, and ClickHouse spent most of a core creating and merging their
	// parts; a round now gathers up to 5,000 entries for up to AuditLinger (in `bench http`,
	// ClickHouse's CPU per decision fell from ~300 µs to ~35 µs).
	// The entries wait in memory either way (the decision itself is in the outbox journal).
	s.auditQ.linger = deps.AuditLinger
	b := e.book
	b.mu.Lock()
	b.store, b.audit, b.now = deps.Rules, deps.Audit, deps.Now
	b.mu.Unlock()
	return s, nil
}

// batchAuditor is an Auditor that appends several entries at once, all or none (the audit
// chain does): decisions are audited in batches rather than one append each.
type batchAuditor interface {
	AppendBatch(ctx context.Context, es []AuditEntry) error
}

// Engine returns the engine the service decides with.
func (s *Service) Engine() *Engine { return s.e }

// Rules returns the rule book.
func (s *Service) Rules() *RuleBook { return s.e.book }

// Decide returns the decision for one declaration version, idempotently: the same number and
// version give the same decision (from the cache; after a restart it is decided again, and the
// keyed draws make it the same unless the models learnt meanwhile), except that a GREEN that
// awaited its manifest is revised when the declaration comes again joined to it (see
// Retarget). A new decision or revision is published
// (within PublishTimeout; if Kafka is down it goes to the retry queue and is still returned) and
// audited in the background. The error is non-nil only for an invalid declaration.
func (s *Service) Decide(ctx context.Context, d *ingest.Declaration) (Decision, error) {
	dec, fresh, err := s.decide(d)
	if err != nil || !fresh {
		return dec, err
	}
	s.publishOne(ctx, dec)
	return dec, nil
}

// publishOne publishes a new decision within PublishTimeout, or hands it to the retry queue.
func (s *Service) publishOne(ctx context.Context, dec Decision) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.d.PublishTimeout)
	defer cancel()
	if err := s.d.Publish(pctx, []Decision{dec}); err != nil {
		s.m.publishFailed.Inc()
		s.log.Warn("publish decision failed; queued for retry", "decision", dec.ID(), "revision", dec.Revision, "err", err)
		s.publishQ.push(dec)
	}
}

// Accept is the sink of the declarations stream: it decides each declaration (idempotently) and
// publishes all the decisions, including ones decided before (a redelivered batch must reach
// the decisions topic). It returns an error only when publication failed, so the consumer
// retries the batch without committing.
func (s *Service) Accept(ctx context.Context, ds []*ingest.Declaration) error {
	out := make([]Decision, 0, len(ds))
	for _, d := range ds {
		dec, _, err := s.decide(d)
		if err != nil {
			// Ingest validated it; a declaration targeting cannot read is logged, not retried.
			s.log.Error("declaration not decidable", "declaration", d.ID(), "err", err)
			continue
		}
		out = append(out, dec)
	}
	if len(out) == 0 {
		return nil
	}
	if err := s.d.Publish(ctx, out); err != nil {
		s.m.publishFailed.Inc()
		return fmt.Errorf("targeting: publish %d decisions: %w", len(out), err)
	}
	return nil
}

// decide returns the cached decision or makes, caches and audits a new one (fresh true).
func (s *Service) decide(d *ingest.Declaration) (Decision, bool, error) {
	if d == nil || d.Number == "" || d.Version < 1 {
		return Decision{}, false, &ingest.ValidationError{Kind: "declaration", Fields: []ingest.FieldError{{
			Path: "declaration_no", Code: "required", ZH: "缺少报关单号或版本", EN: "declaration number and version are required"}}}
	}
	id := d.ID()
	s.mu.Lock()
	if dec, ok := s.cache[id]; ok {
		s.mu.Unlock()
		// The same version again, now with its manifest: a GREEN that awaited it is revised.
		if rev, ok := s.revise(d, dec); ok {
			return rev, true, nil
		}
		return dec, false, nil
	}
	s.mu.Unlock()

	start := time.Now()
	dec := s.decideNow(d, s.d.Now())
	s.m.decideSeconds.Observe(time.Since(start).Seconds())

	s.mu.Lock()
	if prev, ok := s.cache[id]; ok {
		// Another goroutine decided the same version meanwhile: the first answer stands.
		s.mu.Unlock()
		return prev, false, nil
	}
	s.remember(id, d, dec)
	s.mu.Unlock()

	s.m.decided(&dec)
	if s.d.Audit != nil {
		s.auditQ.push(AuditEntry{Actor: "system", Action: "decision", Subject: id, Detail: auditDetail(&dec), At: dec.DecidedAt})
	}
	return dec, true, nil
}

// decideNow asks the engine and marks a GREEN decision that must wait for its manifest.
func (s *Service) decideNow(d *ingest.Declaration, now time.Time) Decision {
	dec := s.e.Decide(d, now)
	dec.Degraded = s.degraded.Load()
	if s.d.ManifestWindow > 0 && dec.Channel == Green && d.BillOfLading != "" && !d.Check.Joined {
		dec.AwaitingManifest = true
		dec.Reasons = append(dec.Reasons[:len(dec.Reasons):len(dec.Reasons)], Reason{Code: ReasonAwaitingManifest,
			ZH: "等待舱单核对后放行", EN: "release held until the manifest is cross-checked"})
	}
	return dec
}

// remember caches dec as the decision of id (s.mu held), replacing an earlier one.
func (s *Service) remember(id string, d *ingest.Declaration, dec Decision) {
	if _, ok := s.cache[id]; !ok {
		if old := s.ring[s.next]; old != "" {
			delete(s.cache, old)
		}
		s.ring[s.next] = id
		s.next = (s.next + 1) % len(s.ring)
	}
	s.cache[id] = dec
	if d.Version > s.latest[d.Number] {
		s.latest[d.Number] = d.Version
	}
	if len(s.latest) > 2*len(s.ring) {
		// Forget numbers whose decisions have left the cache.
		for n, v := range s.latest {
			if _, ok := s.cache[ingest.DeclarationID(n, v)]; !ok {
				delete(s.latest, n)
			}
		}
	}
}

// decisionAudit is what the audit chain keeps of a decision: enough to verify it later (the
// keyed draws can be recomputed from the number).
type decisionAudit struct {
	Channel      Channel   `json:"channel"`
	Action       Action    `json:"action"`
	Selection    Selection `json:"selection"`
	Score        float64   `json:"score"`
	Probability  float64   `json:"probability"`
	Random       bool      `json:"random"`
	Propensity   float64   `json:"propensity"`
	ModelVersion string    `json:"model_version"`
	Rules        []RuleHit `json:"rules,omitempty"`
	Degraded     bool      `json:"degraded,omitempty"`
	// AwaitingManifest: GREEN held until the manifest is cross-checked.
	AwaitingManifest bool `json:"awaiting_manifest,omitempty"`
}

func auditDetail(d *Decision) decisionAudit {
	return decisionAudit{Channel: d.Channel, Action: d.Action, Selection: d.Selection, Score: d.Score,
		Probability: d.Probability, Random: d.Random, Propensity: d.Propensity, ModelVersion: d.ModelVersion,
		Rules: d.RulesFired, Degraded: d.Degraded, AwaitingManifest: d.AwaitingManifest}
}

// Decision returns a remembered decision; version 0 means the latest version known.
func (s *Service) Decision(number string, version int) (Decision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if version == 0 {
		v, ok := s.latest[number]
		if !ok {
			return Decision{}, false
		}
		version = v
	}
	d, ok := s.cache[ingest.DeclarationID(number, version)]
	return d, ok
}

// feedbackMessage is the part of an inspection-results message targeting reads.
type feedbackMessage struct {
	Label *Outcome `json:"label"`
}

// FeedbackHandler consumes the inspection-results topic: each message's "label" updates the
// profiles. Malformed messages are logged, counted and skipped (learning is in memory and never
// fails transiently, so the handler never asks for a retry). A label without features borrows
// them from the cached decision.
func (s *Service) FeedbackHandler() ingest.Handler {
	return func(ctx context.Context, batch []kafka.Message) error {
		for i := range batch {
			s.Feedback(batch[i].Value)
		}
		return nil
	}
}

// Feedback applies one inspection-results message and reports whether it changed the profiles.
func (s *Service) Feedback(value []byte) bool {
	var fm feedbackMessage
	if err := json.Unmarshal(value, &fm); err != nil || fm.Label == nil || fm.Label.DeclarationNo == "" || fm.Label.Version < 1 {
		s.m.fbMalformed.Inc()
		reason := "no label with declaration_no and version"
		if err != nil {
			reason = err.Error()
		}
		s.log.Warn("malformed inspection result skipped", "reason", reason, "bytes", len(value))
		return false
	}
	o := *fm.Label
	dec, cached := s.Decision(o.DeclarationNo, o.Version)
	if cached {
		if len(o.Features) == 0 {
			o.Features = dec.Features
		}
		if o.Propensity == 0 {
			o.Propensity = dec.Propensity
		}
	}
	if s.e.learn(o) {
		s.m.fbApplied.Inc()
		s.labels.Add(1)
		if cached && dec.Shadow != nil {
			s.shadowLabel(dec.Shadow, o.Hit, o.Propensity)
		}
		return true
	}
	s.m.fbDuplicate.Inc()
	return false
}

// WarmStart loads the rules from the RuleStore and replays labelled history into the profiles,
// within WarmStartTimeout, logging progress. On failure the service keeps deciding with what it
// has, reports Degraded, and the error is returned for the caller to log.
func (s *Service) WarmStart(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.d.WarmStartTimeout)
	defer cancel()
	var errs []error
	if s.d.Rules != nil {
		if err := s.e.book.Load(ctx, s.d.Rules); err != nil {
			errs = append(errs, err)
		} else {
			s.log.Info("rules loaded", "rules", len(s.e.book.List("")), "in_effect", s.e.book.Len())
		}
	}
	since := s.d.Now().Add(-s.d.WarmStartWindow)
	if s.d.SnapshotPath != "" {
		start := time.Now()
		switch err := s.e.RestoreFile(s.d.SnapshotPath); {
		case err == nil:
			// Outcomes of decisions made after the snapshot are not in it; earlier ones are.
			if at := time.Unix(s.e.clock.Load(), 0); at.After(since) {
				since = at
			}
			s.log.Info("snapshot restored", "path", s.d.SnapshotPath, "model", s.e.ModelVersion(),
				"profiles", s.e.state.Load().prof.len(), "replay_since", since, "elapsed", time.Since(start).Round(time.Millisecond))
		case errors.Is(err, fs.ErrNotExist):
			s.log.Info("no snapshot yet; replaying history", "path", s.d.SnapshotPath)
		default:
			// A damaged snapshot is not fatal: history rebuilds the state.
			s.log.Error("snapshot not restored; replaying history", "err", err)
		}
	}
	if s.d.History != nil {
		start, last := time.Now(), time.Now()
		var n int64
		err := s.d.History.Outcomes(ctx, since, func(o Outcome) error {
			if s.e.learn(o) {
				n++
				s.m.warmLabels.Inc()
			}
			if time.Since(last) > 5*time.Second {
				last = time.Now()
				s.log.Info("warm start in progress", "labels", n, "elapsed", time.Since(start).Round(time.Millisecond))
			}
			return ctx.Err()
		})
		s.labels.Add(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("targeting: warm start after %d labels: %w", n, err))
		} else {
			s.log.Info("warm start done", "labels", n, "since", since, "elapsed", time.Since(start).Round(time.Millisecond))
		}
	}
	err := errors.Join(errs...)
	s.setDegraded(err != nil)
	s.warm.Store(err == nil)
	return err
}

// SaveSnapshot writes the engine's learnt state to ServiceDeps.SnapshotPath atomically; call it
// periodically and on shutdown. Without a SnapshotPath it does nothing.
func (s *Service) SaveSnapshot() error {
	if s.d.SnapshotPath == "" {
		return nil
	}
	start := time.Now()
	if err := s.e.SnapshotFile(s.d.SnapshotPath); err != nil {
		return err
	}
	s.log.Info("snapshot saved", "path", s.d.SnapshotPath, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil
}

// SetDegraded lets the caller report that ClickHouse-backed state is unavailable (its breaker is
// open); decisions made meanwhile say so.
func (s *Service) SetDegraded(v bool) { s.setDegraded(v) }

func (s *Service) setDegraded(v bool) {
	s.degraded.Store(v)
	if v {
		s.m.degraded.Set(1)
	} else {
		s.m.degraded.Set(0)
	}
}

// Health reports the service's state.
func (s *Service) Health() Health {
	s.mu.Lock()
	cached := len(s.cache)
	s.mu.Unlock()
	return Health{
		Degraded:       s.degraded.Load(),
		WarmStarted:    s.warm.Load(),
		ModelVersion:   s.e.ModelVersion(),
		ShadowModel:    s.e.ShadowVersion(),
		Rules:          s.e.book.Len(),
		Profiles:       s.e.state.Load().prof.len(),
		LabelsApplied:  s.labels.Load(),
		Cached:         cached,
		PendingPublish: s.publishQ.len(),
		PendingAudit:   s.auditQ.len(),
	}
}

// Flush waits until the retry and audit queues are empty or ctx ends; call it on shutdown after
// intake has stopped.
func (s *Service) Flush(ctx context.Context) error {
	return errors.Join(s.publishQ.wait(ctx), s.auditQ.wait(ctx))
}

// Close stops the background retries; what is still queued is dropped (and was logged).
func (s *Service) Close() {
	s.publishQ.close()
	s.auditQ.close()
}
