package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Outbox makes messages durable on local disk before anyone is told they were sent, then
// forwards them to Kafka in the background (the transactional-outbox pattern). The synchronous
// decision API uses it: a decision answered over HTTP must reach the decisions topic — clearance
// makes inspection tasks from it — even if Kafka is down at that moment or the process dies right
// after answering, and the answer must not wait for a broker round trip.
//
// Concurrent Publish calls are group-committed: one write and one fsync for all messages waiting
// at that moment. Forwarding is at least once (a crash between the Kafka acknowledgement and the
// removal of a spool segment sends again), so consumers must be idempotent, as all of portguard's
// are (by declaration number and version).
type Outbox struct {
	spool *Spool
	pub   Publisher
	log   *slog.Logger

	reqs   chan outboxReq
	kick   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

type outboxReq struct {
	framed []byte // journal lines, encoded by the caller
	n      int
	err    chan error
}

// outboxRecord is one spooled message.
type outboxRecord struct {
	Topic string          `json:"t"`
	Key   string          `json:"k"`
	Value json.RawMessage `json:"v"`
}

const outboxKind = "msg"

// OpenOutbox opens (or recovers) the outbox journal in dir. Messages left there by an earlier
// process are forwarded by Run. log may be nil.
func OpenOutbox(dir string, pub Publisher, log *slog.Logger) (*Outbox, error) {
	if pub == nil {
		return nil, errors.New("ingest: outbox needs a publisher")
	}
	sp, err := OpenSpool(dir, 16<<20)
	if err != nil {
		return nil, fmt.Errorf("ingest: outbox: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{spool: sp, pub: pub, log: log, reqs: make(chan outboxReq, 1024),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go o.commitLoop()
	return o, nil
}

// Publish returns once msgs are durable in the local journal; Run sends them to Kafka. It fails
// only if a value cannot be encoded, the local disk fails, or ctx ends first.
func (o *Outbox) Publish(ctx context.Context, msgs ...Message) error {
	durable, err := o.Enqueue(ctx, msgs...)
	if err != nil {
		return err
	}
	return durable(ctx)
}

// Enqueue is Publish without the wait: it returns once msgs are queued for the next commit, in
// order after everything enqueued before and before everything enqueued after, and durable
// waits for that commit. A caller journaling two things in turn (a declaration, then its
// decision) thus waits for the disk once: when the second is durable, the first was committed
// in the same write or an earlier one, and its durable returns at once. durable may be called
// again (it returns the same answer) but from one goroutine at a time.
func (o *Outbox) Enqueue(ctx context.Context, msgs ...Message) (durable func(context.Context) error, err error) {
	if len(msgs) == 0 {
		return func(context.Context) error { return nil }, nil
	}
	// Encode here, in the caller's goroutine: concurrent publishers encode in parallel and the
	// commit loop, which every publisher waits for, only writes and fsyncs.
	framed, err := frameOutbox(nil, msgs)
	if err != nil {
		return nil, err
	}
	r := outboxReq{framed: framed, n: len(msgs), err: make(chan error, 1)}
	select {
	case o.reqs <- r:
	case <-o.stop:
		return nil, errors.New("ingest: outbox is closed")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var (
		once   bool
		result error
	)
	return func(ctx context.Context) error {
		if once {
			return result
		}
		select { // a commit that happened wins over a context that ended
		case result = <-r.err:
			once = true
			return result
		default:
		}
		select {
		case result = <-r.err:
			once = true
			return result
		case <-ctx.Done():
			// The commit may still happen; the message would then be sent, which is harmless
			// (consumers are idempotent) — but the caller is told it may not have been.
			return ctx.Err()
		}
	}, nil
}

// jsonAppender is a value with a hand-written JSON encoder (a *targeting.Decision, a
// *Declaration): AppendJSON appends compact, valid JSON.
type jsonAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// recBufs are frameOutbox's scratch buffers for one record: a declaration or a decision is a
// few kilobytes, which grown from nothing cost a dozen allocations each.
var recBufs = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// frameOutbox appends the journal lines of msgs to dst.
func frameOutbox(dst []byte, msgs []Message) ([]byte, error) {
	rp := recBufs.Get().(*[]byte)
	defer func() {
		if cap(*rp) <= 1<<20 { // a huge message's buffer is not kept
			recBufs.Put(rp)
		}
	}()
	rec := (*rp)[:0]
	defer func() { *rp = rec[:0] }()
	for _, m := range msgs {
		rec = append(rec[:0], `{"t":`...)
		rec = appendJSONString(rec, m.Topic)
		rec = append(rec, `,"k":`...)
		rec = appendJSONString(rec, m.Key)
		rec = append(rec, `,"v":`...)
		if a, ok := m.Value.(jsonAppender); ok {
			// A hand-written encoder writes compact, valid JSON: no second pass over it.
			var err error
			if rec, err = a.AppendJSON(rec); err != nil {
				return nil, fmt.Errorf("ingest: outbox: encode message for %s: %w", m.Topic, err)
			}
		} else {
			var v []byte
			switch x := m.Value.(type) {
			case []byte:
				v = x
			case json.RawMessage:
				v = x
			default:
				b, err := json.Marshal(x)
				if err != nil {
					return nil, fmt.Errorf("ingest: outbox: encode message for %s: %w", m.Topic, err)
				}
				v = b
			}
			if !json.Valid(v) {
				return nil, fmt.Errorf("ingest: outbox: message for %s is not JSON", m.Topic)
			}
			rec = appendCompact(rec, v)
		}
		rec = append(rec, '}')
		dst = slices.Grow(dst, frameLen(outboxKind, rec))
		dst = appendFrame(dst, outboxKind, rec)
	}
	return dst, nil
}

// appendCompact appends valid JSON v without insignificant whitespace, so that the record stays
// on one journal line; json.Marshal's output (the usual case) is copied as it is.
func appendCompact(dst, v []byte) []byte {
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return append(dst, v...)
	}
	b := bytes.NewBuffer(dst)
	_ = json.Compact(b, v) // v is valid JSON
	return b.Bytes()
}

// commitLoop gathers every request waiting and commits them with one write and one fsync.
func (o *Outbox) commitLoop() {
	defer close(o.done)
	var batch []outboxReq
	var buf []byte
	for {
		select {
		case r := <-o.reqs:
			batch = append(batch[:0], r)
		case <-o.stop:
			return
		}
	gather:
		for len(batch) < 4096 {
			select {
			case r := <-o.reqs:
				batch = append(batch, r)
			default:
				break gather
			}
		}
		buf = buf[:0]
		n := 0
		for _, r := range batch {
			buf = append(buf, r.framed...)
			n += r.n
		}
		err := o.spool.appendFramed(buf, n, outboxKind)
		for _, r := range batch {
			r.err <- err
		}
		if cap(buf) > 4<<20 {
			buf = nil // don't pin a burst's buffer
		}
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
}

// Run forwards journaled messages to Kafka until ctx ends, in batches, retrying with backoff
// while Kafka is unavailable. On return, whatever was not forwarded stays in the journal for the
// next process.
func (o *Outbox) Run(ctx context.Context) error {
	wait := 100 * time.Millisecond
	for {
		err := o.Flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			o.log.Warn("outbox: forwarding to Kafka failed; will retry", "pending", o.spool.Depth(), "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			wait = min(wait*2, 5*time.Second)
			continue
		}
		wait = 100 * time.Millisecond
		select {
		case <-ctx.Done():
			return nil
		case <-o.kick:
		case <-time.After(time.Second):
		}
	}
}

// Flush forwards everything journaled so far, once: Run's step, and the last one at shutdown.
func (o *Outbox) Flush(ctx context.Context) error {
	return o.spool.DrainBatches(ctx, 1000, func(_ string, raws [][]byte) error {
		msgs := make([]Message, 0, len(raws))
		for _, raw := range raws {
			r, err := readOutboxRecord(raw)
			if err != nil {
				// Written by us and checksummed: cannot happen short of a bug; never block the
				// journal on one bad record.
				o.log.Error("outbox: undecodable record dropped", "err", err)
				continue
			}
			msgs = append(msgs, Message{Topic: r.Topic, Key: r.Key, Value: []byte(r.Value)})
		}
		return o.pub.Publish(ctx, msgs...)
	})
}

// readOutboxRecord reads a journal line written by frameOutbox. Its layout is known — topic,
// key, then the value, which was valid JSON when written and is checksummed since — so the
// value is sliced out rather than scanned again: json.Unmarshal into a RawMessage validates the
// whole value, which for a declaration is most of the forwarder's time. A line of any other
// shape is read by encoding/json.
func readOutboxRecord(raw []byte) (outboxRecord, error) {
	var r outboxRecord
	rest, ok := bytes.CutPrefix(raw, []byte(`{"t":`))
	if ok {
		r.Topic, rest, ok = cutJSONString(rest)
	}
	if ok {
		rest, ok = bytes.CutPrefix(rest, []byte(`,"k":`))
	}
	if ok {
		r.Key, rest, ok = cutJSONString(rest)
	}
	if ok {
		rest, ok = bytes.CutPrefix(rest, []byte(`,"v":`))
	}
	if ok {
		r.Value, ok = bytes.CutSuffix(rest, []byte(`}`))
		ok = ok && len(r.Value) > 0
	}
	if ok {
		return r, nil
	}
	r = outboxRecord{}
	err := json.Unmarshal(raw, &r)
	return r, err
}

// cutJSONString reads the JSON string at the start of b and returns it and what follows.
func cutJSONString(b []byte) (string, []byte, bool) {
	if len(b) == 0 || b[0] != '"' {
		return "", b, false
	}
	escaped := false
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\\':
			escaped = true
			i++
		case c == '"':
			if !escaped {
				return string(b[1:i]), b[i+1:], true
			}
			var s string
			if err := json.Unmarshal(b[:i+1], &s); err != nil {
				return "", b, false
			}
			return s, b[i+1:], true
		}
	}
	return "", b, false
}

// Pending is the number of journaled messages not yet forwarded.
func (o *Outbox) Pending() int64 { return o.spool.Depth() }

// Close stops accepting messages and closes the journal; unforwarded messages stay on disk.
func (o *Outbox) Close() error {
	o.closed.Do(func() { close(o.stop) })
	<-o.done
	return o.spool.Close()
}
