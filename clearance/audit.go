package clearance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/portguard/portguard/targeting"
)

// Audit actions clearance itself writes. Targeting writes "decision" and "rule.*"; web writes
// "login".
const (
	AuditTaskCreate     = "task.create"
	AuditTaskAssign     = "task.assign"
	AuditTaskReassign   = "task.reassign"
	AuditTaskStart      = "task.start"
	AuditTaskCancel     = "task.cancel"
	AuditWithdrawal     = "withdrawal"
	AuditResult         = "result"
	AuditLabResult      = "lab.result"
	AuditRelease        = "release"
	AuditOverride       = "override"
	AuditOverrideReview = "override.review"
	AuditLogin          = "login"
	AuditDecision       = "decision"
)

// HashRecord returns the hex SHA-256 of r's chain hash: its PrevHash followed by the canonical
// encoding of Seq, At (UTC, whole seconds, as ClickHouse's DateTime keeps it), Actor, Action,
// Subject and Detail, each length-prefixed so that no two different records encode alike.
// r.Hash itself is ignored.
func HashRecord(r AuditRecord) string {
	h := sha256.New()
	var buf [32]byte
	field := func(s string) {
		h.Write(strconv.AppendInt(buf[:0], int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
		h.Write([]byte{'\n'})
	}
	field(r.PrevHash)
	field(strconv.FormatUint(r.Seq, 10))
	field(r.At.UTC().Truncate(time.Second).Format(time.RFC3339))
	field(r.Actor)
	field(r.Action)
	field(r.Subject)
	field(r.Detail)
	return hex.EncodeToString(h.Sum(nil))
}

// VerifyReport is the outcome of walking the audit chain.
type VerifyReport struct {
	Records uint64 `json:"records"` // records checked
	OK      bool   `json:"ok"`
	// BrokenSeq is the Seq of the first record that does not fit the chain (0 when OK), and
	// Reason says why in plain English.
	BrokenSeq uint64 `json:"broken_seq,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Head      string `json:"head"` // hash of the last good record
}

// Chain is the hash-chained, append-only audit trail. It implements targeting.Auditor. Appends
// from any number of goroutines are serialised by one writer, which commits whatever is queued
// in one Store.AppendAudit call (group commit): many concurrent decisions cost one insert.
type Chain struct {
	store Store
	now   func() time.Time
	met   *metrics

	mu       sync.Mutex // guards pending and flushing
	pending  []*pendingAudit
	flushing bool

	headMu sync.Mutex // guards the fields below; held only by the flushing writer and readers
	head   AuditRecord
	loaded bool // head read from the store
}

type pendingAudit struct {
	rec  AuditRecord
	done chan error
}

// maxAuditBatch bounds one AppendAudit call.
const maxAuditBatch = 5000

// NewChain returns a chain over store. now defaults to time.Now. The head is read from the
// store on first use (or by Load).
func NewChain(store Store, now func() time.Time) *Chain {
	if now == nil {
		now = time.Now
	}
	m, _ := newMetrics(nil) // unregistered: cannot fail
	return &Chain{store: store, now: now, met: m}
}

// Load reads the head of the chain from the store.
func (c *Chain) Load(ctx context.Context) error {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	return c.loadLocked(ctx)
}

func (c *Chain) loadLocked(ctx context.Context) error {
	rec, ok, err := c.store.LastAudit(ctx)
	if err != nil {
		return fmt.Errorf("clearance: audit: read head: %w", err)
	}
	if !ok {
		rec = AuditRecord{}
	}
	c.head, c.loaded = rec, true
	return nil
}

// Head returns the last record written by this chain or read from the store.
func (c *Chain) Head() AuditRecord {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	return c.head
}

// Append implements targeting.Auditor. A zero e.At means now.
func (c *Chain) Append(ctx context.Context, e targeting.AuditEntry) error {
	r, err := c.entry(e.Actor, e.Action, e.Subject, e.Detail, e.At)
	if err != nil {
		return err
	}
	return c.appendRecords(ctx, []AuditRecord{r})
}

// AppendBatch appends entries in order with one store write (when no other writer is queued
// ahead) and returns once all are stored: the way for a caller deciding a batch of declarations
// to audit them without one round trip each.
func (c *Chain) AppendBatch(ctx context.Context, es []targeting.AuditEntry) error {
	recs := make([]AuditRecord, len(es))
	for i, e := range es {
		r, err := c.entry(e.Actor, e.Action, e.Subject, e.Detail, e.At)
		if err != nil {
			return err
		}
		recs[i] = r
	}
	return c.appendRecords(ctx, recs)
}

// Record appends one entry stamped now and returns once it is stored. detail is JSON-encoded (a
// string, []byte or json.RawMessage is kept as it is); an empty actor is "system".
func (c *Chain) Record(ctx context.Context, actor, action, subject string, detail any) error {
	r, err := c.entry(actor, action, subject, detail, time.Time{})
	if err != nil {
		return err
	}
	return c.appendRecords(ctx, []AuditRecord{r})
}

func (c *Chain) entry(actor, action, subject string, detail any, t time.Time) (AuditRecord, error) {
	var d string
	switch v := detail.(type) {
	case nil:
	case string:
		d = v
	case json.RawMessage:
		d = string(v)
	case []byte:
		d = string(v)
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return AuditRecord{}, fmt.Errorf("clearance: audit: encode detail of %s %s: %w", action, subject, err)
		}
		d = string(b)
	}
	if t.IsZero() {
		t = c.now()
	}
	if actor == "" {
		actor = "system"
	}
	return AuditRecord{At: t.UTC().Truncate(time.Second), Actor: actor, Action: action, Subject: subject, Detail: d}, nil
}

// appendRecords queues recs (Seq and hashes are assigned by the writer) and waits until they are
// stored. The caller whose records find no writer running becomes the writer and commits queued
// records until the queue is empty.
func (c *Chain) appendRecords(ctx context.Context, recs []AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	ps := make([]*pendingAudit, len(recs))
	done := make(chan error, len(recs))
	for i := range recs {
		ps[i] = &pendingAudit{rec: recs[i], done: done}
	}
	c.mu.Lock()
	c.pending = append(c.pending, ps...)
	lead := !c.flushing
	if lead {
		c.flushing = true
	}
	c.mu.Unlock()
	if lead {
		// The writer's store calls must not fail because this one caller went away.
		c.flush(context.WithoutCancel(ctx))
	}
	var first error
	for range recs {
		select {
		case err := <-done:
			if err != nil && first == nil {
				first = err
			}
		case <-ctx.Done():
			return fmt.Errorf("clearance: audit: %w", ctx.Err())
		}
	}
	return first
}

func (c *Chain) flush(ctx context.Context) {
	for {
		c.mu.Lock()
		batch := c.pending
		if len(batch) > maxAuditBatch {
			batch = batch[:maxAuditBatch:maxAuditBatch]
			c.pending = c.pending[maxAuditBatch:]
		} else {
			c.pending = nil
		}
		if len(batch) == 0 {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		err := c.write(ctx, batch)
		for _, p := range batch {
			p.done <- err
		}
	}
}

// write chains batch onto the head and stores it. On failure the head is re-read from the store
// before the next write: a failed insert may or may not have landed, and a chain continued from a
// guessed head would break.
func (c *Chain) write(ctx context.Context, batch []*pendingAudit) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if !c.loaded {
		if err := c.loadLocked(ctx); err != nil {
			return err
		}
	}
	recs := make([]AuditRecord, len(batch))
	prev := c.head
	for i, p := range batch {
		r := p.rec
		r.Seq = prev.Seq + 1
		r.PrevHash = prev.Hash
		r.Hash = HashRecord(r)
		recs[i] = r
		prev = r
	}
	if err := c.store.AppendAudit(ctx, recs); err != nil {
		c.loaded = false
		c.met.auditErrors.Inc()
		return fmt.Errorf("clearance: audit: append %d record(s): %w", len(recs), err)
	}
	c.head = prev
	c.met.auditRecords.Add(float64(len(recs)))
	return nil
}

// errStopWalk ends a walk early without an error.
var errStopWalk = errors.New("stop")

// Verify walks the whole chain from Seq 1 and reports the first record whose Seq, PrevHash or
// Hash does not fit. It returns an error only when the store cannot be read.
func (c *Chain) Verify(ctx context.Context) (VerifyReport, error) {
	var rep VerifyReport
	var prev AuditRecord
	err := c.store.AuditRecords(ctx, 1, "", func(r AuditRecord) error {
		if why := checkLink(prev, r); why != "" {
			rep.BrokenSeq, rep.Reason = r.Seq, why
			if r.Seq > prev.Seq+1 {
				rep.BrokenSeq = prev.Seq + 1 // the first missing one
			}
			return errStopWalk
		}
		rep.Records++
		prev = r
		return nil
	})
	if err != nil && !errors.Is(err, errStopWalk) {
		return rep, fmt.Errorf("clearance: audit: verify: %w", err)
	}
	rep.Head = prev.Hash
	rep.OK = rep.Reason == ""
	if rep.OK {
		// A chain cut short at its end (the last records removed) still links; compare with the
		// head this process wrote.
		if h := c.Head(); h.Seq > prev.Seq {
			rep.OK, rep.BrokenSeq = false, prev.Seq+1
			rep.Reason = fmt.Sprintf("records after seq %d are missing: this process wrote up to seq %d", prev.Seq, h.Seq)
		}
	}
	return rep, nil
}

// checkLink says why r does not follow prev ("" when it does). prev is the zero record before
// the first.
func checkLink(prev, r AuditRecord) string {
	switch {
	case r.Seq != prev.Seq+1:
		return fmt.Sprintf("expected seq %d, found seq %d (a record is missing or duplicated)", prev.Seq+1, r.Seq)
	case r.PrevHash != prev.Hash:
		return fmt.Sprintf("prev_hash %.12s… does not match the hash %.12s… of seq %d (the earlier record was changed or replaced)", r.PrevHash, prev.Hash, prev.Seq)
	case HashRecord(r) != r.Hash:
		return "stored hash does not match the record's content (the record was changed)"
	}
	return ""
}
