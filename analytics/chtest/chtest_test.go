package chtest_test

import (
	"context"
	"testing"

	"github.com/portguard/portguard/analytics/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

func TestEachTestGetsItsOwnDatabase(t *testing.T) {
	a, b := chtest.New(t), chtest.New(t)
	if a.Database == b.Database {
		t.Fatalf("two tests share database %s", a.Database)
	}
	ctx := context.Background()
	if err := a.Conn.Exec(ctx, "CREATE TABLE x (n UInt32) ENGINE = MergeTree ORDER BY n"); err != nil {
		t.Fatal(err)
	}
	if err := a.Conn.Exec(ctx, "INSERT INTO x (n) SELECT number + 1 FROM system.numbers LIMIT 2"); err != nil {
		t.Fatal(err)
	}
	if got := a.Count(t, "x", ""); got != 2 {
		t.Fatalf("count = %d, want 2", got)
	}
	if err := b.Conn.Exec(ctx, "SELECT * FROM x"); err == nil {
		t.Fatal("table x is visible from the other test's database")
	}
}
