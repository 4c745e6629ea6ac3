package analytics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/portguard/portguard/analytics/chtest"
)

func TestMain(m *testing.M) { chtest.Main(m) }

// mustStore opens a migrated store on a fresh test database.
func mustStore(tb testing.TB) (*Store, *chtest.DB) {
	tb.Helper()
	db := chtest.New(tb)
	cfg := DefaultConfig()
	cfg.Addr, cfg.Database = db.Addr, db.Database
	s, err := Open(context.Background(), cfg, nil, prometheus.NewRegistry())
	if err != nil {
		tb.Fatalf("open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Migrate(ctx); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return s, db
}
