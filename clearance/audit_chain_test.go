package clearance_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/ingest/kafkatest"
	"github.com/portguard/portguard/targeting"
)

// fillChain appends n decision entries concurrently, as many targeting instances would, plus a
// login, and returns the head Seq.
func fillChain(t *testing.T, r *rig, n int) uint64 {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := decision(declNo(1000+i), 1, targeting.Green, r.clock.Now())
			errs <- r.svc.Audit().Append(ctx, targeting.AuditEntry{Actor: "system", Action: clearance.AuditDecision,
				Subject: d.ID(), Detail: d, At: r.clock.Now()})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := r.svc.Audit().Record(ctx, "officer1", clearance.AuditLogin, "officer1", map[string]string{"ip": "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	return r.svc.Audit().Head().Seq
}

func TestConcurrentAppendsFormOneUnbrokenChainAcrossRestarts(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	head := fillChain(t, r, 200)
	if head != 201 {
		t.Fatalf("head seq %d after 201 entries", head)
	}
	r.svc = r.start() // the chain continues from the stored head
	r.decide(decision(declNo(5), 1, targeting.Red, r.clock.Now()))
	rep, err := r.svc.Audit().Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || rep.Records != 203 || rep.Head != r.svc.Audit().Head().Hash {
		t.Fatalf("verify %+v", rep)
	}
	if n := r.db.Count(t, "audit", ""); n != 203 {
		t.Fatalf("%d audit rows, want 203", n)
	}
}

func TestVerifyNamesTheFirstTamperedEntry(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, r *rig)
		broken uint64
		reason string
	}{
		{"an entry changed in place by a mutation", func(t *testing.T, r *rig) {
			mutate(t, r, "ALTER TABLE audit UPDATE detail = '{\"forged\":true}' WHERE seq = 7")
		}, 7, "content"},
		{"a later entry changed too still reports the first", func(t *testing.T, r *rig) {
			mutate(t, r, "ALTER TABLE audit UPDATE actor = 'mallory' WHERE seq IN (9, 15)")
		}, 9, "content"},
		{"an entry rehashed to hide the change breaks the next link", func(t *testing.T, r *rig) {
			var rec clearance.AuditRecord
			r.store.AuditRecords(context.Background(), 4, "", func(a clearance.AuditRecord) error {
				if a.Seq == 4 {
					rec = a
				}
				return nil
			})
			rec.Actor = "mallory"
			rec.Hash = clearance.HashRecord(rec)
			forge(t, r, rec)
		}, 5, "prev_hash"},
		{"a deleted entry leaves a gap", func(t *testing.T, r *rig) {
			mutate(t, r, "ALTER TABLE audit DELETE WHERE seq = 12")
		}, 12, "expected seq 12"},
		{"deleted last entries are missed by the process that wrote them", func(t *testing.T, r *rig) {
			mutate(t, r, "ALTER TABLE audit DELETE WHERE seq >= 20")
		}, 20, "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, nil)
			fillChain(t, r, 20)
			if rep, err := r.svc.Audit().Verify(context.Background()); err != nil || !rep.OK {
				t.Fatalf("before tampering: %+v, %v", rep, err)
			}
			tc.tamper(t, r)
			var rep clearance.VerifyReport
			// Mutations apply asynchronously: poll until verify sees the change.
			kafkatest.WaitFor(t, 20*time.Second, "verify to notice the tampering", func() bool {
				var err error
				rep, err = r.svc.Audit().Verify(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return !rep.OK
			})
			if rep.BrokenSeq != tc.broken || !strings.Contains(rep.Reason, tc.reason) {
				t.Fatalf("report %+v, want seq %d and a reason mentioning %q", rep, tc.broken, tc.reason)
			}
		})
	}
}

func mutate(t *testing.T, r *rig, sql string) {
	t.Helper()
	if err := r.db.Conn.Exec(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// forge inserts a record under an existing Seq, bypassing the store (which refuses that):
// ReplacingMergeTree then shows the later row.
func forge(t *testing.T, r *rig, rec clearance.AuditRecord) {
	t.Helper()
	ctx := context.Background()
	b, err := r.db.Conn.PrepareBatch(ctx, "INSERT INTO audit (seq, at, at_ns, actor, action, subject, detail, prev_hash, hash)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(rec.Seq, rec.At, rec.At.UnixNano(), rec.Actor, rec.Action, rec.Subject, rec.Detail, rec.PrevHash, rec.Hash); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(fmt.Errorf("forge: %w", err))
	}
}

// BenchmarkChainAppendParallel measures appends through the group-committing writer into
// ClickHouse, with as many concurrent callers as -cpu × 16 (decisions arriving together).
func BenchmarkChainAppendParallel(b *testing.B) {
	r := benchChain(b)
	ctx := context.Background()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			if err := r.Append(ctx, targeting.AuditEntry{Actor: "system", Action: clearance.AuditDecision,
				Subject: fmt.Sprintf("2201%014d-1", i), Detail: `{"channel":"GREEN"}`}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	rep, err := r.Verify(ctx)
	if err != nil || !rep.OK {
		b.Fatalf("verify %+v %v", rep, err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}
