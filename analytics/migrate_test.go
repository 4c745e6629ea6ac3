package analytics

import (
	"context"
	"testing"
)

func TestMigrateCreatesEveryTableAndIsIdempotent(t *testing.T) {
	s, db := mustStore(t)
	ctx := context.Background()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Fatalf("want at least 2 embedded migrations, got %d", len(ms))
	}
	// A second and third run must apply nothing and record nothing new.
	for range 2 {
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
	}
	if n := db.Count(t, "schema_migrations", ""); n != uint64(len(ms)) {
		t.Fatalf("schema_migrations holds %d rows after three runs, want %d", n, len(ms))
	}
	applied, err := s.AppliedMigrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if applied[m.Version] != m.Name {
			t.Errorf("migration %d recorded as %q, want %q", m.Version, applied[m.Version], m.Name)
		}
	}
	for _, table := range []string{"declarations", "declaration_items", "manifests", "decisions",
		"inspection_results", "releases", "dead_letters", "tasks", "audit", "rule_versions", "rules",
		"alerts", "decisions_daily", "decisions_daily_mv"} {
		if n := db.Count(t, "system.tables", "database = currentDatabase() AND name = '"+table+"'"); n != 1 {
			t.Errorf("table %s missing after migrate", table)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want int
	}{
		{"comments and blank lines are dropped and each ;-terminated line ends a statement", "-- c\nCREATE TABLE a (x UInt8) ENGINE = Memory;\n\nCREATE TABLE b (\n x UInt8\n) ENGINE = Memory;\n", 2},
		{"a last statement without a semicolon still counts", "SELECT 1;\nSELECT 2", 2},
		{"a file of comments has no statements", "-- only\n-- comments\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitStatements(tt.sql)
			if len(got) != tt.want {
				t.Fatalf("got %d statements %q, want %d", len(got), got, tt.want)
			}
			for _, st := range got {
				if st == "" || st[len(st)-1] == ';' {
					t.Errorf("statement %q is empty or keeps its semicolon", st)
				}
			}
		})
	}
}

// TestReRunAlterOfAnInterruptedMigrationIsTolerated: 18.16 has no ADD COLUMN IF NOT EXISTS, so a
// migration interrupted after its ALTER ran meets "column already exists" when it is run again;
// Migrate takes that as done, and only that.
func TestReRunAlterOfAnInterruptedMigrationIsTolerated(t *testing.T) {
	s, _ := mustStore(t)
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "CREATE TABLE t_alter (a String) ENGINE = MergeTree() ORDER BY a"); err != nil {
		t.Fatal(err)
	}
	const alter = "ALTER TABLE t_alter ADD COLUMN b String DEFAULT ''"
	if err := s.conn.Exec(ctx, alter); err != nil {
		t.Fatal(err)
	}
	err := s.conn.Exec(ctx, alter)
	if err == nil || !columnExists(alter, err) {
		t.Fatalf("second ADD COLUMN: %v, want an error columnExists recognizes", err)
	}
	other := s.conn.Exec(ctx, "ALTER TABLE t_missing ADD COLUMN b String")
	if other == nil || columnExists("ALTER TABLE t_missing ADD COLUMN b String", other) {
		t.Fatalf("a missing table (%v) must not pass for an existing column", other)
	}
	if columnExists("CREATE TABLE t_alter (a String) ENGINE = Memory", err) {
		t.Fatal("only ALTER … ADD COLUMN statements are excused")
	}
}
