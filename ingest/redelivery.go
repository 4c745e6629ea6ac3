package ingest

import (
	"context"
	"encoding/json"
	"fmt"
)

// Exactly once at the row level. Kafka delivers at least once: after a crash between a batch's
// insert and its offset commit, after a failed attempt that is retried, and when the spool is
// drained (a timed-out insert may have landed, and a drain interrupted by a crash starts its
// segment again), records that are already stored arrive again. The in-memory duplicate filter
// does not survive a restart, and ReplacingMergeTree only collapses the second row at some later
// merge, so analysts counting rows without FINAL would see it. Those batches — and only those:
// the check costs a read — are inserted with the Store's Once variant, which leaves out what
// the tables hold already.
//
// The Consumer knows when a batch may be a redelivery: every message of a partition below the
// partition's high-water mark at the moment this process found it discontinuous — its first read
// in this process (it resumes from the last committed offset, which may be behind what an
// earlier process stored, by more than one batch) or a jump (a rebalance gave it back after
// another member read on) — and every retry of a failed batch. One
// case stays invisible: another member that read a partition past our last commit and died
// without committing, and the partition came back to us at exactly our own commit point; its
// rows are then collapsed by the next merge, as before.

// redeliveryKey marks a context whose records may have been made durable before.
type redeliveryKey struct{}

// WithRedelivery returns ctx marked: the records handled under it may have been stored by an
// earlier attempt or process. The Consumer marks the batches it hands on this way; handlers pass
// the context to their stores.
func WithRedelivery(ctx context.Context) context.Context {
	return context.WithValue(ctx, redeliveryKey{}, true)
}

// MayBeRedelivered reports whether ctx was marked by WithRedelivery.
func MayBeRedelivered(ctx context.Context) bool {
	b, _ := ctx.Value(redeliveryKey{}).(bool)
	return b
}

// OnceStore is a Store that can insert only what it does not hold yet, for batches that may have
// been stored before (MayBeRedelivered). InsertDeclarationsOnce must leave the tables as one
// InsertDeclarations of ds into empty tables would: every row present exactly once, also when
// an earlier attempt stored part of ds (say the header rows but not all goods lines). Errors
// are transient, as for Store.
type OnceStore interface {
	InsertDeclarationsOnce(ctx context.Context, ds []*Declaration) error
}

// WithdrawalStore is a Store that also keeps withdrawals (撤单). The intake stores them through
// the same path as declarations (spooled while the store is down) when its Store implements it.
// InsertWithdrawals must be idempotent at the row level: a withdrawal (number and time) stored
// before is not stored again. Errors are transient.
type WithdrawalStore interface {
	InsertWithdrawals(ctx context.Context, ws []*Withdrawal) error
}

// spoolWithdrawal is the spool record kind of withdrawals.
const spoolWithdrawal = "withdrawal"

// insertDeclarations stores ds, leaving out rows stored before when ctx says the batch may be
// a redelivery and the Store can tell.
func (in *Intake) insertDeclarations(ctx context.Context, ds []*Declaration) error {
	if o, ok := in.store.(OnceStore); ok && MayBeRedelivered(ctx) {
		return o.InsertDeclarationsOnce(ctx, ds)
	}
	return in.store.InsertDeclarations(ctx, ds)
}

// storeWithdrawals makes ws durable: in the Store, or when it fails, in the spool. Without a
// WithdrawalStore there is nothing to do.
func (in *Intake) storeWithdrawals(ctx context.Context, ws []*Withdrawal) error {
	st, ok := in.store.(WithdrawalStore)
	if !ok || len(ws) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, in.cfg.StoreTimeout)
	err := st.InsertWithdrawals(sctx, ws)
	cancel()
	if err == nil {
		in.m.stored.WithLabelValues(spoolWithdrawal).Add(float64(len(ws)))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	recs := make([]any, len(ws))
	for i, w := range ws {
		recs[i] = w
	}
	return in.spoolRecords(ctx, spoolWithdrawal, recs, err)
}

// drainWithdrawals offers spooled withdrawals to the Store again.
func (in *Intake) drainWithdrawals(ctx context.Context, raws [][]byte) error {
	st, ok := in.store.(WithdrawalStore)
	if !ok {
		in.log.Error("dropping spooled withdrawals: the store does not keep withdrawals", "records", len(raws))
		return nil
	}
	ws := make([]*Withdrawal, 0, len(raws))
	for _, r := range raws {
		w := &Withdrawal{}
		if err := json.Unmarshal(r, w); err != nil {
			in.log.Error("dropping an unreadable spooled withdrawal", "err", err)
			continue
		}
		ws = append(ws, w)
	}
	if err := st.InsertWithdrawals(ctx, ws); err != nil {
		return fmt.Errorf("ingest: store %d spooled withdrawal(s): %w", len(ws), err)
	}
	return nil
}
