package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/portguard/portguard/clearance"
)

var _ clearance.Store = (*Store)(nil)

// SaveTasks implements clearance.Store: each task version is a row; the highest Version of an
// ID wins (ReplacingMergeTree(version)).
func (s *Store) SaveTasks(ctx context.Context, tasks []clearance.Task) error {
	err := s.insert(ctx, "save_tasks", `INSERT INTO tasks (id, version, declaration_no, decl_version, port,
 channel, action, priority, state, final, officer, created_at, updated_at, due_at, body)`,
		len(tasks), func(b driver.Batch, i int) error {
			t := &tasks[i]
			body, err := json.Marshal(t)
			if err != nil {
				return err
			}
			return b.Append(t.ID, u32(t.Version), t.DeclarationNo, u32(t.DeclVersion), t.Port,
				string(t.Channel), string(t.Action), int32(t.Priority), string(t.State), b2u(t.State.Final()),
				t.Officer, ts(t.CreatedAt), ts(t.UpdatedAt), ts(t.DueAt), string(body))
		})
	if err != nil {
		return fmt.Errorf("analytics: save tasks: %w", err)
	}
	return nil
}

// OpenTasks implements clearance.Store: the latest version of every task not in a final state.
// The latest version is chosen before the state filter (argMax), so a task whose newest version
// is final is not resurrected by an older open one.
func (s *Store) OpenTasks(ctx context.Context) ([]clearance.Task, error) {
	var out []clearance.Task
	err := s.stream(ctx, "open_tasks", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, `SELECT body FROM (
 SELECT id, argMax(body, version) AS body, argMax(final, version) AS fin FROM tasks GROUP BY id
) WHERE fin = 0 ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var body string
			if err := rows.Scan(&body); err != nil {
				return err
			}
			var t clearance.Task
			if err := json.Unmarshal([]byte(body), &t); err != nil {
				return callback(fmt.Errorf("task body does not decode: %w", err))
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: open tasks: %w", err)
	}
	return out, nil
}

// auditColumns: at_ns keeps the record's time to the nanosecond, because the hash covers it; at is
// the same instant in seconds for analysts.
const auditColumns = "seq, at_ns, actor, action, subject, detail, prev_hash, hash"

// AppendAudit implements clearance.Store. Records already stored with the same Seq and Hash are
// skipped (a retried append is harmless); a different record under a stored Seq is refused with
// an error wrapping clearance.ErrConflict, because the trail must never change.
func (s *Store) AppendAudit(ctx context.Context, recs []clearance.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	lo, hi := recs[0].Seq, recs[0].Seq
	for _, r := range recs {
		lo, hi = min(lo, r.Seq), max(hi, r.Seq)
	}
	stored := map[uint64]string{}
	err := s.do(ctx, "append_audit", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, "SELECT seq, hash FROM audit WHERE seq >= ? AND seq <= ?", lo, hi)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq uint64
			var h string
			if err := rows.Scan(&seq, &h); err != nil {
				return err
			}
			stored[seq] = h
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: append audit: %w", err)
	}
	fresh := make([]clearance.AuditRecord, 0, len(recs))
	for _, r := range recs {
		h, ok := stored[r.Seq]
		switch {
		case !ok:
			fresh = append(fresh, r)
		case h != r.Hash:
			return fmt.Errorf("analytics: append audit: seq %d is already stored with another hash: %w", r.Seq, clearance.ErrConflict)
		}
	}
	err = s.insert(ctx, "append_audit", "INSERT INTO audit (at, "+auditColumns+")", len(fresh), func(b driver.Batch, i int) error {
		r := &fresh[i]
		return b.Append(ts(r.At), r.Seq, r.At.UnixNano(), r.Actor, r.Action, r.Subject, r.Detail, r.PrevHash, r.Hash)
	})
	if err != nil {
		return fmt.Errorf("analytics: append audit: %w", err)
	}
	return nil
}

// LastAudit implements clearance.Store.
func (s *Store) LastAudit(ctx context.Context) (clearance.AuditRecord, bool, error) {
	var rec clearance.AuditRecord
	var ok bool
	err := s.do(ctx, "last_audit", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, "SELECT "+auditColumns+" FROM audit ORDER BY seq DESC LIMIT 1")
		if err != nil {
			return err
		}
		defer rows.Close()
		if rows.Next() {
			ok = true
			var err error
			if rec, err = scanAudit(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return clearance.AuditRecord{}, false, fmt.Errorf("analytics: last audit record: %w", err)
	}
	return rec, ok, nil
}

// AuditRecords implements clearance.Store: records with Seq ≥ from in Seq order, each once,
// optionally only those whose subject starts with subject.
func (s *Store) AuditRecords(ctx context.Context, from uint64, subject string, fn func(clearance.AuditRecord) error) error {
	q := "SELECT " + auditColumns + " FROM audit FINAL WHERE seq >= ?"
	args := []any{from}
	if subject != "" {
		q += " AND subject LIKE ?"
		args = append(args, likePrefix(subject))
	}
	q += " ORDER BY seq"
	err := s.stream(ctx, "audit_records", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanAudit(rows)
			if err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return callback(err)
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("analytics: audit records: %w", err)
	}
	return nil
}

// likePrefix escapes LIKE's wildcards in p and appends %.
func likePrefix(p string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(p) + "%"
}

func scanAudit(rows driver.Rows) (clearance.AuditRecord, error) {
	var r clearance.AuditRecord
	var ns int64
	if err := rows.Scan(&r.Seq, &ns, &r.Actor, &r.Action, &r.Subject, &r.Detail, &r.PrevHash, &r.Hash); err != nil {
		return r, err
	}
	r.At = time.Unix(0, ns).UTC()
	return r, nil
}
