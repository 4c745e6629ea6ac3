package analytics

import (
	"bufio"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one embedded DDL file, applied once and recorded in schema_migrations.
type Migration struct {
	Version    int      // from the file name's leading number
	Name       string   // file name
	Statements []string // split on lines that end with ";"
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("analytics: migration %s: name must start with a positive number and _", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("analytics: migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: v, Name: base, Statements: splitStatements(string(b))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// splitStatements cuts SQL into statements at lines ending with ";" and drops "--" comment lines.
// The format is deliberately simple: ClickHouse's native protocol runs one statement per call.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	sc := bufio.NewScanner(strings.NewReader(sql))
	for sc.Scan() {
		line := sc.Text()
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Migrate applies the embedded migrations not yet recorded in schema_migrations, in order, and
// records each after all its statements ran. Running it again does nothing. Statements use
// IF NOT EXISTS where ClickHouse allows it, so a migration interrupted half-way can be re-run;
// a future ALTER must be written so that it is safe to repeat as well.
func (s *Store) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	err = s.do(ctx, "migrate", func(ctx context.Context) error {
		return s.conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime('UTC')
) ENGINE = ReplacingMergeTree() ORDER BY version`)
	})
	if err != nil {
		return fmt.Errorf("analytics: migrate: %w", err)
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if _, ok := applied[m.Version]; ok {
			continue
		}
		for i, st := range m.Statements {
			err := s.do(ctx, "migrate", func(ctx context.Context) error { return s.conn.Exec(ctx, st) })
			if err != nil && columnExists(st, err) {
				// ADD COLUMN IF NOT EXISTS fails on 18.16: a migration interrupted after its
				// ALTER ran is re-run with the column already there, which is what it wanted.
				err = nil
			}
			if err != nil {
				return fmt.Errorf("analytics: migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		err := s.do(ctx, "migrate", func(ctx context.Context) error {
			b, err := s.conn.PrepareBatch(ctx, "INSERT INTO schema_migrations (version, name, applied_at)")
			if err != nil {
				return err
			}
			defer b.Abort()
			if err := b.Append(uint32(m.Version), m.Name, time.Now().UTC()); err != nil {
				return err
			}
			return b.Send()
		})
		if err != nil {
			return fmt.Errorf("analytics: record migration %s: %w", m.Name, err)
		}
		s.log.Info("applied migration", "version", m.Version, "name", m.Name, "statements", len(m.Statements))
	}
	return nil
}

// columnExists reports whether err is ClickHouse refusing an ALTER TABLE … ADD COLUMN because
// the column is there already (code 44 on 18.16, 15 DUPLICATE_COLUMN on current releases).
func columnExists(stmt string, err error) bool {
	up := strings.ToUpper(stmt)
	if !strings.HasPrefix(strings.TrimSpace(up), "ALTER TABLE") || !strings.Contains(up, "ADD COLUMN") {
		return false
	}
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && (ex.Code == 44 || ex.Code == 15) && strings.Contains(ex.Message, "already exists")
}

// AppliedMigrations returns the versions recorded in schema_migrations with their file names.
func (s *Store) AppliedMigrations(ctx context.Context) (map[int]string, error) {
	out := map[int]string{}
	err := s.do(ctx, "migrations", func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, "SELECT version, any(name) FROM schema_migrations GROUP BY version")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var v uint32
			var n string
			if err := rows.Scan(&v, &n); err != nil {
				return err
			}
			out[int(v)] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: read applied migrations: %w", err)
	}
	return out, nil
}
