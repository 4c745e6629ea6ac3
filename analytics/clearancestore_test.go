package analytics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portguard/portguard/clearance"
	"github.com/portguard/portguard/targeting"
)

func TestOpenTasksReturnsTheLatestVersionOfOpenTasksOnly(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	task := func(id string, v int, st clearance.TaskState) clearance.Task {
		return clearance.Task{ID: id, DeclarationNo: id, DeclVersion: 1, Port: "2201", Channel: targeting.Red,
			State: st, Version: v, Decision: testDecision(id, 1, targeting.Red, targeting.SelectedByRule, day0),
			CreatedAt: day0, UpdatedAt: day0.Add(time.Duration(v) * time.Minute)}
	}
	// T1 goes on to be released; T2 is assigned (its versions arrive out of order); T3 is new.
	batches := [][]clearance.Task{
		{task("T1", 1, clearance.TaskPending), task("T2", 2, clearance.TaskAssigned)},
		{task("T1", 2, clearance.TaskReleased), task("T2", 1, clearance.TaskPending), task("T3", 1, clearance.TaskPending)},
		{task("T1", 2, clearance.TaskReleased)}, // a retried save
	}
	for _, b := range batches {
		if err := s.SaveTasks(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	open, err := s.OpenTasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 2 || open[0].ID != "T2" || open[0].Version != 2 || open[0].State != clearance.TaskAssigned || open[1].ID != "T3" {
		t.Fatalf("open tasks = %+v, want T2 v2 assigned and T3", open)
	}
	if open[0].Decision.DeclarationNo != "T2" || !open[0].UpdatedAt.Equal(day0.Add(2*time.Minute)) {
		t.Fatalf("task body did not round-trip: %+v", open[0])
	}
}

func TestAuditTrailIsAppendOnly(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	if _, ok, err := s.LastAudit(ctx); err != nil || ok {
		t.Fatalf("empty trail: ok=%v err=%v", ok, err)
	}
	at := time.Date(2026, 3, 2, 8, 0, 0, 123456789, time.UTC)
	rec := func(seq uint64, subject, hash string) clearance.AuditRecord {
		return clearance.AuditRecord{Seq: seq, At: at.Add(time.Duration(seq) * time.Millisecond), Actor: "u",
			Action: "result", Subject: subject, Detail: `{"x":1}`, PrevHash: "h" + string(rune('0'+seq-1)), Hash: hash}
	}
	recs := []clearance.AuditRecord{rec(1, "2201_1-1", "h1"), rec(2, "2201%1-1", "h2"), rec(3, "2202-1", "h3")}
	if err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	t.Run("a retried append changes nothing", func(t *testing.T) {
		if err := s.AppendAudit(ctx, recs[1:]); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a different record under a stored seq is a conflict", func(t *testing.T) {
		if err := s.AppendAudit(ctx, []clearance.AuditRecord{rec(3, "x", "other")}); !errors.Is(err, clearance.ErrConflict) {
			t.Fatalf("err = %v, want clearance.ErrConflict", err)
		}
	})
	t.Run("the last record keeps its time to the nanosecond", func(t *testing.T) {
		last, ok, err := s.LastAudit(ctx)
		if err != nil || !ok || last != recs[2] {
			t.Fatalf("last = %+v ok=%v err=%v, want %+v", last, ok, err, recs[2])
		}
	})
	tests := []struct {
		name    string
		from    uint64
		subject string
		want    []uint64
	}{
		{"all records come in seq order, each once", 0, "", []uint64{1, 2, 3}},
		{"from skips earlier records", 2, "", []uint64{2, 3}},
		{"a subject prefix filters, and its _ and % are not wildcards", 0, "2201_", []uint64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			err := s.AuditRecords(ctx, tt.from, tt.subject, func(r clearance.AuditRecord) error {
				if r != recs[r.Seq-1] {
					t.Errorf("record %d = %+v, want %+v", r.Seq, r, recs[r.Seq-1])
				}
				got = append(got, r.Seq)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("seqs = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("seqs = %v, want %v", got, tt.want)
				}
			}
		})
	}
}
