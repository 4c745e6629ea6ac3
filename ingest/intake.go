package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// Store keeps declarations and manifests durably. Inserts must be idempotent: the same
// declaration number and version inserted twice is one row (at-least-once delivery retries whole
// batches). analytics implements it. Any error is treated as transient: the batch goes to the
// spool and is offered again later.
type Store interface {
	InsertDeclarations(ctx context.Context, ds []*Declaration) error
	InsertManifests(ctx context.Context, ms []*Manifest) error
}

// Sink takes validated, normalized, joined declarations for a decision (targeting). It must be
// idempotent by Declaration.ID. An error is transient: the batch is offered again.
type Sink interface {
	Accept(ctx context.Context, ds []*Declaration) error
}

// WithdrawalSink takes withdrawals (撤单) to cancel open tasks (clearance). Idempotent; an error is
// transient.
type WithdrawalSink interface {
	Withdraw(ctx context.Context, ws []*Withdrawal) error
}

// Retargeter is told about a declaration that was already handed on when its manifest arrived:
// d carries the new cross-check, and targeting may decide again (and record the change). An
// error is transient.
type Retargeter interface {
	Retarget(ctx context.Context, d *Declaration) error
}

// RetargetFunc adapts a function to Retargeter.
type RetargetFunc func(ctx context.Context, d *Declaration) error

// Retarget calls f.
func (f RetargetFunc) Retarget(ctx context.Context, d *Declaration) error { return f(ctx, d) }

// Publisher publishes messages to Kafka; *Producer implements it.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
}

// Spool record kinds used by the intake.
const (
	spoolDeclaration = "declaration"
	spoolManifest    = "manifest"
)

// Intake is the ingest stage: it validates what arrives on the declarations, manifests and
// withdrawals topics (Handler, ManifestHandler, WithdrawalHandler) or over HTTP (Submit), sends
// what is invalid to dead letters, drops duplicates, joins declarations with manifests, stores
// everything durably (the Store, or the local spool while the Store is down) and hands
// declarations to the Sink. Run runs the background writer for Submit and the spool drain.
//
// Order of effects per Kafka batch: dead letters published, valid records stored (or spooled),
// then forwarded; the handler returns nil only when all of that is durable, so the consumer
// commits only then. A retry repeats the batch; storage and sinks are idempotent.
type Intake struct {
	cfg    Config
	v      *Validator
	store  Store
	sink   Sink
	dlq    Publisher
	topics Topics
	log    *slog.Logger
	reg    prometheus.Registerer
	m      *metrics
	spool  *Spool

	withdrawals WithdrawalSink
	retarget    Retargeter
	journal     Journal

	mu        sync.Mutex
	seen      *bounded[struct{}]              // declaration IDs already stored and forwarded
	latest    *bounded[int]                   // number → highest version seen
	withdrawn *bounded[struct{}]              // numbers withdrawn
	manifests *bounded[timed[*Manifest]]      // bill of lading → latest manifest
	pending   *bounded[timed[[]*Declaration]] // bill of lading → forwarded declarations awaiting their manifest
	seenMf    *bounded[struct{}]              // manifest content hashes already processed
	seenJoin  *bounded[struct{}]              // … already joined by JoinHandler
	deadSent  *bounded[struct{}]              // topic/partition/offset already dead-lettered

	queue   chan *Declaration // Submit → writer
	writeMu sync.Mutex        // one flush at a time
}

// NewIntake checks cfg and opens the spool in cfg.SpoolDir. store, sink and dlq are required;
// log may be nil (discard); reg may be nil (metrics not exported).
func NewIntake(cfg Config, v *Validator, store Store, sink Sink, dlq Publisher, topics Topics, log *slog.Logger, reg prometheus.Registerer) (*Intake, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if v == nil || store == nil || sink == nil || dlq == nil {
		return nil, errors.New("ingest: intake needs a validator, a store, a sink and a dead-letter publisher")
	}
	if err := topics.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	sp, err := OpenSpool(cfg.SpoolDir, cfg.SpoolSegmentBytes)
	if err != nil {
		return nil, err
	}
	in := &Intake{
		cfg: cfg, v: v, store: store, sink: sink, dlq: dlq, topics: topics, log: log.With("component", "ingest"), reg: reg,
		spool:     sp,
		seen:      newBounded[struct{}](cfg.DedupEntries),
		latest:    newBounded[int](cfg.DedupEntries),
		withdrawn: newBounded[struct{}](cfg.DedupEntries / 10),
		manifests: newBounded[timed[*Manifest]](cfg.DedupEntries / 10),
		pending:   newBounded[timed[[]*Declaration]](cfg.DedupEntries / 10),
		seenMf:    newBounded[struct{}](cfg.DedupEntries / 10),
		seenJoin:  newBounded[struct{}](cfg.DedupEntries / 10),
		deadSent:  newBounded[struct{}](cfg.DedupEntries / 10),
		queue:     make(chan *Declaration, cfg.QueueSize),
	}
	in.m, err = newMetrics(reg, func() float64 { return float64(sp.Depth()) })
	if err != nil {
		sp.Close()
		return nil, err
	}
	if d := sp.Depth(); d > 0 {
		in.log.Info("spool holds records from an earlier run; they will be drained", "records", d, "dir", cfg.SpoolDir)
	}
	return in, nil
}

// SetWithdrawalSink sets where withdrawals go. Call before starting the consumers; without one,
// withdrawals only stop further versions of the declaration from being forwarded.
func (in *Intake) SetWithdrawalSink(w WithdrawalSink) { in.withdrawals = w }

// SetRetargeter sets who hears of late manifests. Call before starting the consumers; without
// one, late manifests only update the join state.
func (in *Intake) SetRetargeter(r Retargeter) { in.retarget = r }

// Journal makes a declaration accepted by Submit durable, on its way to the stage that stores
// it: an API instance's outbox to the accepted-declarations topic, which AcceptedHandler reads.
// The answer to an HTTP client then never outruns the disk, and API instances need not write to
// ClickHouse on the request path. A Journal returns once d is queued, in order before whatever
// the caller journals next; durable waits until it is on disk (or says why it is not). Admit's
// caller so journals the declaration and its decision with one wait for the disk.
type Journal func(ctx context.Context, d *Declaration) (durable func(context.Context) error, err error)

// SetJournal makes Submit hand accepted declarations to j instead of queueing them for this
// intake's own batched store. Call before serving.
func (in *Intake) SetJournal(j Journal) { in.journal = j }

// Spool is the intake's spool (for health reporting).
func (in *Intake) Spool() *Spool { return in.spool }

// TrackLag exports a consumer's lag as portguard_ingest_lag{topic=…}.
func (in *Intake) TrackLag(topic string, c interface{ Lag() int64 }) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "portguard", Subsystem: "ingest", Name: "lag",
		Help: "Messages behind the end of the topic.", ConstLabels: prometheus.Labels{"topic": topic}},
		func() float64 { return float64(c.Lag()) })
	return in.reg.Register(g)
}

// Submission is what Submit learnt about a declaration besides its normalized form.
type Submission struct {
	Declaration *Declaration
	// Duplicate: this number and version was accepted before; nothing was stored again.
	Duplicate bool
	// Stale: a higher version of the number was seen already; stored for the record only.
	Stale bool
	// Withdrawn: the declaration was withdrawn (撤单); stored for the record only.
	Withdrawn bool

	durable func(context.Context) error // nil: nothing to wait for
}

// Durable waits until the declaration is on disk in the journal; at once when there is no
// journal or nothing was journaled (a duplicate). When it fails the declaration is forgotten,
// so that the sender's retry is not taken for a duplicate.
func (s Submission) Durable(ctx context.Context) error {
	if s.durable == nil {
		return nil
	}
	return s.durable(ctx)
}

// Submit is the synchronous HTTP path: validate and normalize raw, join the manifest when it is
// known, and hand the declaration to the journal (see SetJournal), or else queue it for batched
// storage. It never waits for the Store (only for the journal, or under overload for room in the
// queue, or ctx). It returns the declaration or a
// *ValidationError. Deciding is the caller's business (targeting, synchronously).
func (in *Intake) Submit(ctx context.Context, raw []byte) (*Declaration, error) {
	s, err := in.SubmitInfo(ctx, raw)
	return s.Declaration, err
}

// SubmitInfo is Submit that also says whether the declaration was a duplicate, stale or
// withdrawn.
func (in *Intake) SubmitInfo(ctx context.Context, raw []byte) (Submission, error) {
	s, err := in.Admit(ctx, raw)
	if err == nil {
		err = s.Durable(ctx)
	}
	if err != nil {
		return Submission{}, err
	}
	return s, nil
}

// Admit is SubmitInfo that returns as soon as the declaration is queued in the journal, before
// it is on disk: the caller decides it, journals the decision behind it, and then calls
// Durable, so that one wait for the disk covers both. The declaration must not be answered for
// before Durable returns nil.
func (in *Intake) Admit(ctx context.Context, raw []byte) (Submission, error) {
	in.m.consumed.WithLabelValues("declaration").Inc()
	d, err := in.v.Declaration(raw)
	if err != nil {
		in.m.countInvalid("declaration", err)
		return Submission{}, err
	}
	in.m.valid.WithLabelValues("declaration").Inc()
	now := in.cfg.Now()
	in.mu.Lock()
	if _, dup := in.seen.get(d.ID()); dup {
		in.joinLocked(d, now)
		in.mu.Unlock()
		in.m.duplicates.WithLabelValues("declaration").Inc()
		return Submission{Declaration: d, Duplicate: true}, nil
	}
	sub := Submission{Declaration: d}
	_, sub.Withdrawn = in.withdrawn.get(d.Number)
	if v, ok := in.latest.get(d.Number); ok && v > d.Version {
		sub.Stale = true
	}
	in.joinLocked(d, now)
	in.acceptLocked(d, !sub.Stale && !sub.Withdrawn, now)
	in.mu.Unlock()
	if sub.Stale || sub.Withdrawn {
		in.m.stale.WithLabelValues("declaration").Inc()
	}
	if in.journal != nil {
		forget := func(err error) error {
			in.mu.Lock()
			in.seen.del(d.ID())
			in.mu.Unlock()
			return fmt.Errorf("ingest: journal declaration %s: %w", d.ID(), err)
		}
		durable, err := in.journal(ctx, d)
		if err != nil {
			return Submission{}, forget(err)
		}
		sub.durable = func(ctx context.Context) error {
			if err := durable(ctx); err != nil {
				return forget(err)
			}
			return nil
		}
		return sub, nil
	}
	select {
	case in.queue <- d:
	case <-ctx.Done():
		in.mu.Lock()
		in.seen.del(d.ID())
		in.mu.Unlock()
		return Submission{}, fmt.Errorf("ingest: queue declaration %s: %w", d.ID(), ctx.Err())
	}
	return sub, nil
}

// joinLocked fills d.Check from a manifest received within the join window.
func (in *Intake) joinLocked(d *Declaration, now time.Time) {
	if d.BillOfLading == "" {
		return
	}
	if t, ok := in.manifests.get(d.BillOfLading); ok && now.Sub(t.at) <= in.cfg.JoinWindow {
		d.Check = ComputeCrossCheck(d, t.v)
	}
}

// acceptLocked records d as processed; a forwarded declaration without its manifest waits for
// it (for a re-decision).
func (in *Intake) acceptLocked(d *Declaration, forwarded bool, now time.Time) {
	in.seen.put(d.ID(), struct{}{})
	if v, ok := in.latest.get(d.Number); !ok || d.Version > v {
		in.latest.put(d.Number, d.Version)
	}
	if !forwarded || d.Check.Joined || d.BillOfLading == "" {
		return
	}
	in.awaitManifestLocked(d, now, now)
}

// awaitManifestLocked puts d among the declarations waiting for their bill of lading's manifest,
// replacing an earlier version of its number; a bucket older than the join window starts again
// at at.
func (in *Intake) awaitManifestLocked(d *Declaration, at, now time.Time) {
	t, ok := in.pending.get(d.BillOfLading)
	if !ok || now.Sub(t.at) > in.cfg.JoinWindow {
		t = timed[[]*Declaration]{at: at}
	}
	kept := t.v[:0:0]
	for _, p := range t.v {
		if p.Number != d.Number {
			kept = append(kept, p)
		}
	}
	t.v = append(kept, d)
	in.pending.put(d.BillOfLading, t)
}

// AcceptedHandler returns the handler for the accepted-declarations topic (see Journal): the
// declarations there were validated and decided by an API instance, so they are only stored —
// idempotently, spooled while ClickHouse is down — never forwarded to targeting again. A message
// that is not such a declaration goes to the dead letters with the reason.
func (in *Intake) AcceptedHandler() Handler { return in.handleAccepted }

func (in *Intake) handleAccepted(ctx context.Context, batch []kafka.Message) error {
	const kind = "accepted"
	in.m.consumed.WithLabelValues(kind).Add(float64(len(batch)))
	ds := make([]*Declaration, 0, len(batch))
	var dead []Message
	for i := range batch {
		d := &Declaration{}
		err := json.Unmarshal(batch[i].Value, d)
		if err == nil && (d.Number == "" || d.Version < 1) {
			err = errors.New("ingest: an accepted declaration needs its number and version")
		}
		if err != nil {
			in.m.countInvalid(kind, err)
			dead = append(dead, in.deadLetter(&batch[i], fmt.Errorf("ingest: not an accepted declaration: %w", err)))
			continue
		}
		ds = append(ds, d)
	}
	in.m.valid.WithLabelValues(kind).Add(float64(len(ds)))
	if err := in.publishDead(ctx, kind, dead); err != nil {
		return err
	}
	return in.storeDeclarations(ctx, ds)
}

// Handler returns the handler for the declarations topic.
func (in *Intake) Handler() Handler { return in.handleDeclarations }

// ManifestHandler returns the handler for the manifests topic that does everything: dead-letters
// bad manifests, stores the good ones and joins them (ManifestStoreHandler and JoinHandler at
// once), for a process that is the only one reading manifests.
func (in *Intake) ManifestHandler() Handler {
	return func(ctx context.Context, b []kafka.Message) error { return in.handleManifests(ctx, b, true, true) }
}

// ManifestStoreHandler returns the ingest stage's handler for the manifests topic, read in the
// stage's shared consumer group: it dead-letters bad manifests and stores the good ones once,
// but joins nothing — JoinHandler does that on every instance.
func (in *Intake) ManifestStoreHandler() Handler {
	return func(ctx context.Context, b []kafka.Message) error { return in.handleManifests(ctx, b, true, false) }
}

// JoinHandler returns the handler every instance runs on the manifests topic in a consumer
// group of its own: the manifest join state is per process, and a declaration may be decided on
// any instance — over HTTP on an API-only instance, or from whichever partition of the
// declarations topic an ingest instance holds — while its manifest lands on another. Each
// instance so sees every manifest: it joins declarations that come after it, and re-targets the
// GREEN decisions it made that wait for it. It stores nothing and skips what it cannot read
// (ManifestStoreHandler dead-letters that).
func (in *Intake) JoinHandler() Handler {
	return func(ctx context.Context, b []kafka.Message) error { return in.handleManifests(ctx, b, false, true) }
}

// WithdrawalHandler returns the handler for the withdrawals topic.
func (in *Intake) WithdrawalHandler() Handler { return in.handleWithdrawals }

func (in *Intake) handleDeclarations(ctx context.Context, batch []kafka.Message) error {
	start := time.Now()
	const kind = "declaration"
	in.m.consumed.WithLabelValues(kind).Add(float64(len(batch)))
	var (
		dead  []Message
		fresh []*Declaration
		ids   = make(map[string]bool, len(batch))
		top   = map[string]int{} // number → highest version in this batch
	)
	decoded := in.validateAll(batch)
	valid := 0
	in.mu.Lock()
	for i, r := range decoded {
		d, err := r.d, r.err
		if err != nil {
			in.m.countInvalid(kind, err)
			dead = append(dead, in.deadLetter(&batch[i], err))
			continue
		}
		valid++
		if _, dup := in.seen.get(d.ID()); dup || ids[d.ID()] {
			in.m.duplicates.WithLabelValues(kind).Inc()
			continue
		}
		ids[d.ID()] = true
		fresh = append(fresh, d)
		top[d.Number] = max(top[d.Number], d.Version)
	}
	in.m.valid.WithLabelValues(kind).Add(float64(valid))
	// Only the newest version of a number is forwarded: an amendment overtakes its predecessor,
	// and an older version arriving late is stored for the record only.
	var forward []*Declaration
	now := in.cfg.Now()
	for _, d := range fresh {
		latest, _ := in.latest.get(d.Number)
		_, withdrawn := in.withdrawn.get(d.Number)
		if withdrawn || d.Version < max(latest, top[d.Number]) {
			in.m.stale.WithLabelValues(kind).Inc()
			continue
		}
		in.joinLocked(d, now)
		forward = append(forward, d)
	}
	in.mu.Unlock()

	if err := in.publishDead(ctx, kind, dead); err != nil {
		return err
	}
	if err := in.storeDeclarations(ctx, fresh); err != nil {
		return err
	}
	if len(forward) > 0 {
		if err := in.sink.Accept(ctx, forward); err != nil {
			return fmt.Errorf("ingest: hand %d declaration(s) on: %w", len(forward), err)
		}
	}
	in.mu.Lock()
	fwd := make(map[*Declaration]bool, len(forward))
	for _, d := range forward {
		fwd[d] = true
	}
	var late []*Declaration
	for _, d := range fresh {
		in.acceptLocked(d, fwd[d], now)
		if u := in.lateJoinLocked(d, fwd[d]); u != nil {
			late = append(late, u)
		}
	}
	in.mu.Unlock()
	for i, u := range late {
		if err := in.retarget.Retarget(ctx, u); err != nil {
			// Forget what was not re-targeted, so that the retried batch hands it on again.
			in.mu.Lock()
			for _, x := range late[i:] {
				in.seen.del(x.ID())
			}
			in.mu.Unlock()
			return fmt.Errorf("ingest: retarget %s after its manifest: %w", u.ID(), err)
		}
		in.m.retargeted.Inc()
	}
	in.m.batch.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return nil
}

// lateJoinLocked catches the manifest that arrived while d was being decided: after the join
// and before d was pending, so the manifest handler did not see d. It takes d off the pending
// list and returns it with its cross-check, to be re-targeted; nil when there is nothing to do.
// Checking here, under the same lock that made d pending, means that exactly one of this and the
// manifest handler re-targets d.
func (in *Intake) lateJoinLocked(d *Declaration, forwarded bool) *Declaration {
	if in.retarget == nil || !forwarded || d.Check.Joined || d.BillOfLading == "" {
		return nil
	}
	t, ok := in.manifests.get(d.BillOfLading)
	if !ok || in.cfg.Now().Sub(t.at) > in.cfg.JoinWindow {
		return nil
	}
	if p, ok := in.pending.get(d.BillOfLading); ok {
		kept := p.v[:0:0]
		for _, x := range p.v {
			if x != d {
				kept = append(kept, x)
			}
		}
		if p.v = kept; len(kept) == 0 {
			in.pending.del(d.BillOfLading)
		} else {
			in.pending.put(d.BillOfLading, p)
		}
	}
	u := *d
	u.Check = ComputeCrossCheck(&u, t.v)
	return &u
}

// decoded is one message's validation result.
type decoded struct {
	d   *Declaration
	err error
}

// parallelValidation is the smallest batch worth splitting across cores.
const parallelValidation = 64

// validateAll validates every message of batch, on every core when the batch is large enough
// (validation is pure CPU and independent per message), and returns the results in order.
func (in *Intake) validateAll(batch []kafka.Message) []decoded {
	out := make([]decoded, len(batch))
	run := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i].d, out[i].err = in.v.Declaration(batch[i].Value)
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(batch)/parallelValidation)
	if workers <= 1 {
		run(0, len(batch))
		return out
	}
	var wg sync.WaitGroup
	per := (len(batch) + workers - 1) / workers
	for lo := per; lo < len(batch); lo += per {
		wg.Go(func() { run(lo, min(lo+per, len(batch))) })
	}
	run(0, min(per, len(batch)))
	wg.Wait()
	return out
}

func (in *Intake) handleManifests(ctx context.Context, batch []kafka.Message, store, join bool) error {
	start := time.Now()
	const kind = "manifest"
	seen := in.seenMf
	if !store {
		seen = in.seenJoin // the store handler in this process keeps its own
	} else {
		in.m.consumed.WithLabelValues(kind).Add(float64(len(batch)))
	}
	var (
		dead   []Message
		fresh  []*Manifest
		sent   []time.Time // when each fresh manifest was written to the topic
		hashes []string
	)
	in.mu.Lock()
	inBatch := map[string]bool{}
	for i := range batch {
		m, err := in.v.Manifest(batch[i].Value)
		if err != nil {
			if store {
				in.m.countInvalid(kind, err)
				dead = append(dead, in.deadLetter(&batch[i], err))
			}
			continue
		}
		if store {
			in.m.valid.WithLabelValues(kind).Inc()
		}
		h := manifestHash(m)
		if _, dup := seen.get(h); dup || inBatch[h] {
			if store {
				in.m.duplicates.WithLabelValues(kind).Inc()
			}
			continue
		}
		inBatch[h] = true
		fresh = append(fresh, m)
		sent = append(sent, batch[i].Time)
		hashes = append(hashes, h)
	}
	in.mu.Unlock()

	if store {
		if err := in.publishDead(ctx, kind, dead); err != nil {
			return err
		}
		if err := in.storeManifests(ctx, fresh); err != nil {
			return err
		}
	}
	if join {
		now := in.cfg.Now()
		for i, m := range fresh {
			// A manifest is as old as its message: a new instance's join group reads the topic
			// from its start, and a manifest of last week must not join as if it came today.
			at := now
			if t := sent[i]; !t.IsZero() && t.Before(now) {
				at = t
			}
			in.mu.Lock()
			in.manifests.put(m.BillOfLading, timed[*Manifest]{v: m, at: at})
			t, ok := in.pending.get(m.BillOfLading)
			in.mu.Unlock()
			if !ok || now.Sub(t.at) > in.cfg.JoinWindow {
				continue
			}
			for _, d := range t.v {
				upd := *d
				upd.Check = ComputeCrossCheck(&upd, m)
				if in.retarget != nil {
					if err := in.retarget.Retarget(ctx, &upd); err != nil {
						return fmt.Errorf("ingest: retarget %s after its manifest: %w", d.ID(), err)
					}
					in.m.retargeted.Inc()
				}
			}
			in.mu.Lock()
			in.pending.del(m.BillOfLading)
			in.mu.Unlock()
		}
	}
	in.mu.Lock()
	for _, h := range hashes {
		seen.put(h, struct{}{})
	}
	in.mu.Unlock()
	if store {
		in.m.batch.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	} else {
		in.m.consumed.WithLabelValues("manifest_join").Add(float64(len(batch))) // counted once joined
	}
	return nil
}

// manifestHash identifies a manifest's content without its arrival stamp, so a redelivered
// message is recognized and an amended manifest is not.
func manifestHash(m *Manifest) string {
	c := *m
	c.ReceivedAt = time.Time{}
	b, _ := json.Marshal(&c)
	sum := sha256.Sum256(b)
	return string(sum[:16])
}

func (in *Intake) handleWithdrawals(ctx context.Context, batch []kafka.Message) error {
	start := time.Now()
	const kind = "withdrawal"
	in.m.consumed.WithLabelValues(kind).Add(float64(len(batch)))
	var (
		dead  []Message
		fresh []*Withdrawal
		nums  = map[string]bool{}
	)
	for i := range batch {
		w, err := in.v.Withdrawal(batch[i].Value)
		if err != nil {
			in.m.countInvalid(kind, err)
			dead = append(dead, in.deadLetter(&batch[i], err))
			continue
		}
		in.m.valid.WithLabelValues(kind).Inc()
		if nums[w.Number] {
			in.m.duplicates.WithLabelValues(kind).Inc()
			continue
		}
		nums[w.Number] = true
		fresh = append(fresh, w)
	}
	if err := in.publishDead(ctx, kind, dead); err != nil {
		return err
	}
	if err := in.storeWithdrawals(ctx, fresh); err != nil {
		return err
	}
	if in.withdrawals != nil && len(fresh) > 0 {
		if err := in.withdrawals.Withdraw(ctx, fresh); err != nil {
			return fmt.Errorf("ingest: hand %d withdrawal(s) on: %w", len(fresh), err)
		}
	}
	in.mu.Lock()
	for _, w := range fresh {
		in.withdrawn.put(w.Number, struct{}{})
	}
	in.mu.Unlock()
	in.m.batch.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return nil
}

// maxDeadLetterValue bounds the original bytes kept in a dead letter (base64 makes them 4/3).
const maxDeadLetterValue = 512 << 10

// deadLetter wraps a rejected message with its origin and every problem found.
func (in *Intake) deadLetter(km *kafka.Message, err error) Message {
	dl := DeadLetter{
		Schema: SchemaDeadLetterV1, SourceTopic: km.Topic, Partition: km.Partition, Offset: km.Offset,
		Key: string(km.Key), Value: km.Value, Reason: err.Error(), At: in.cfg.Now().UTC(),
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		dl.Errors = ve.Fields
	}
	if len(dl.Value) > maxDeadLetterValue {
		// Kafka refuses messages near 1 MB; an oversized original is kept in part, marked so.
		dl.Value, dl.Truncated = dl.Value[:maxDeadLetterValue], true
	}
	if len(dl.Reason) > 2000 {
		dl.Reason = dl.Reason[:2000] + "…"
	}
	return Message{Topic: in.topics.DeadLetters, Key: string(km.Key), Value: dl}
}

// publishDead publishes the batch's dead letters, except those a failed earlier attempt of the
// same batch already published (a retry must not duplicate them).
func (in *Intake) publishDead(ctx context.Context, kind string, dead []Message) error {
	if len(dead) == 0 {
		return nil
	}
	keys := make([]string, 0, len(dead))
	todo := dead[:0:0]
	in.mu.Lock()
	for _, m := range dead {
		dl := m.Value.(DeadLetter)
		k := dl.SourceTopic + "/" + strconv.Itoa(dl.Partition) + "/" + strconv.FormatInt(dl.Offset, 10)
		if _, sent := in.deadSent.get(k); !sent {
			todo = append(todo, m)
			keys = append(keys, k)
		}
	}
	in.mu.Unlock()
	if len(todo) == 0 {
		return nil
	}
	if err := in.dlq.Publish(ctx, todo...); err != nil {
		return fmt.Errorf("ingest: publish %d dead letter(s): %w", len(todo), err)
	}
	in.mu.Lock()
	for _, k := range keys {
		in.deadSent.put(k, struct{}{})
	}
	in.mu.Unlock()
	in.m.deadLettered.WithLabelValues(kind).Add(float64(len(todo)))
	return nil
}

// storeDeclarations makes ds durable: in the Store, or when the Store fails, in the spool.
func (in *Intake) storeDeclarations(ctx context.Context, ds []*Declaration) error {
	if len(ds) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, in.cfg.StoreTimeout)
	err := in.insertDeclarations(sctx, ds)
	cancel()
	if err == nil {
		in.m.stored.WithLabelValues(spoolDeclaration).Add(float64(len(ds)))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	recs := make([]any, len(ds))
	for i, d := range ds {
		recs[i] = d
	}
	return in.spoolRecords(ctx, spoolDeclaration, recs, err)
}

func (in *Intake) storeManifests(ctx context.Context, ms []*Manifest) error {
	if len(ms) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, in.cfg.StoreTimeout)
	err := in.store.InsertManifests(sctx, ms)
	cancel()
	if err == nil {
		in.m.stored.WithLabelValues(spoolManifest).Add(float64(len(ms)))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	recs := make([]any, len(ms))
	for i, m := range ms {
		recs[i] = m
	}
	return in.spoolRecords(ctx, spoolManifest, recs, err)
}

func (in *Intake) spoolRecords(ctx context.Context, kind string, recs []any, storeErr error) error {
	in.log.Warn("store failed, spooling the batch", "kind", kind, "records", len(recs), "err", storeErr)
	if err := in.spool.Append(ctx, kind, recs...); err != nil {
		return fmt.Errorf("ingest: store failed (%v) and spool failed: %w", storeErr, err)
	}
	in.m.spooled.WithLabelValues(kind).Add(float64(len(recs)))
	return nil
}

// Run runs the background writer of submitted declarations and the spool drain until ctx ends,
// then flushes what is queued (bounded by StoreTimeout). It returns nil on cancellation. Call Close
// after it returned.
func (in *Intake) Run(ctx context.Context) error {
	flush := time.NewTicker(in.cfg.FlushInterval)
	defer flush.Stop()
	drain := time.NewTicker(in.cfg.DrainInterval)
	defer drain.Stop()
	var buf []*Declaration
	write := func(ctx context.Context) {
		if len(buf) == 0 {
			return
		}
		in.writeMu.Lock()
		err := in.storeDeclarations(ctx, buf)
		in.writeMu.Unlock()
		if err != nil {
			// Neither store nor spool took them: keep them and try again on the next tick.
			in.log.Error("cannot make submitted declarations durable; will retry", "records", len(buf), "err", err)
			return
		}
		buf = buf[:0]
	}
	in.DrainSpool(ctx)
	for {
		select {
		case d := <-in.queue:
			buf = append(buf, d)
			if len(buf) >= in.cfg.BatchSize {
				write(ctx)
			}
		case <-flush.C:
			write(ctx)
		case <-drain.C:
			in.DrainSpool(ctx)
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), in.cfg.StoreTimeout)
			defer cancel()
			for len(in.queue) > 0 {
				buf = append(buf, <-in.queue)
			}
			write(fctx)
			if len(buf) > 0 {
				in.log.Error("submitted declarations lost at shutdown", "records", len(buf))
			}
			return nil
		}
	}
}

// Flush makes every declaration queued by Submit so far durable, without waiting for Run's
// next tick: for shutdown and tests. It returns the error of the store and the spool failing.
func (in *Intake) Flush(ctx context.Context) error {
	var buf []*Declaration
	for {
		select {
		case d := <-in.queue:
			buf = append(buf, d)
			continue
		default:
		}
		break
	}
	in.writeMu.Lock()
	defer in.writeMu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), in.cfg.BatchSize)
		if err := in.storeDeclarations(ctx, buf[:n]); err != nil {
			// Put back what is not durable so that Run tries again.
			for _, d := range buf {
				select {
				case in.queue <- d:
				default:
				}
			}
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// DrainSpool offers the spooled records back to the Store, oldest first, stopping at the first
// failure (the Store is still down). Run calls it periodically; it returns the error.
func (in *Intake) DrainSpool(ctx context.Context) error {
	if in.spool.Depth() == 0 {
		return nil
	}
	err := in.spool.DrainBatches(ctx, in.cfg.BatchSize, func(kind string, raws [][]byte) error {
		// Spooled records may be stored already (an insert that timed out yet landed, a drain
		// cut short by a crash).
		sctx, cancel := context.WithTimeout(WithRedelivery(ctx), in.cfg.StoreTimeout)
		defer cancel()
		switch kind {
		case spoolDeclaration:
			ds := make([]*Declaration, 0, len(raws))
			for _, r := range raws {
				d := &Declaration{}
				if err := json.Unmarshal(r, d); err != nil {
					in.log.Error("dropping an unreadable spooled declaration", "err", err)
					continue
				}
				ds = append(ds, d)
			}
			if err := in.insertDeclarations(sctx, ds); err != nil {
				return err
			}
		case spoolManifest:
			ms := make([]*Manifest, 0, len(raws))
			for _, r := range raws {
				m := &Manifest{}
				if err := json.Unmarshal(r, m); err != nil {
					in.log.Error("dropping an unreadable spooled manifest", "err", err)
					continue
				}
				ms = append(ms, m)
			}
			if err := in.store.InsertManifests(sctx, ms); err != nil {
				return err
			}
		case spoolWithdrawal:
			if err := in.drainWithdrawals(sctx, raws); err != nil {
				return err
			}
		default:
			in.log.Error("dropping a spooled record of unknown kind", "kind", kind)
			return nil
		}
		in.m.stored.WithLabelValues(kind).Add(float64(len(raws)))
		return nil
	})
	if err != nil && ctx.Err() == nil {
		in.log.Info("spool not drained yet", "records", in.spool.Depth(), "err", err)
	} else if err == nil {
		in.log.Info("spool drained")
	}
	return err
}

// Close closes the spool. Call after Run returned.
func (in *Intake) Close() error { return in.spool.Close() }
