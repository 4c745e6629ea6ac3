package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/portguard/portguard/analytics"
)

// clickhouseFlags registers the flags that say where ClickHouse is.
func clickhouseFlags(f *flags) func() analytics.Config {
	def := analytics.DefaultConfig()
	addr := f.str("clickhouse", def.Addr, "ClickHouse native-protocol address host:port")
	db := f.str("clickhouse-db", def.Database, "ClickHouse database")
	user := f.str("clickhouse-user", def.Username, "ClickHouse user")
	pass := f.str("clickhouse-password", "", "ClickHouse password")
	lag := f.duration("rollup-lag", 30*time.Second, "how stale dashboard rollups may be; kept fresh in the background (0 = exact: each dashboard query rolls up first)")
	return func() analytics.Config {
		c := def
		c.Addr, c.Database, c.Username, c.Password = *addr, *db, *user, *pass
		c.RollupLag = *lag
		return c
	}
}

func runMigrate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("migrate", env, stderr)
	chcfg := clickhouseFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := migrate(ctx, chcfg(), log); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

func migrate(ctx context.Context, cfg analytics.Config, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	s, err := analytics.Open(ctx, cfg, log, nil)
	if err != nil {
		return fmt.Errorf("migrate: open %s: %w", cfg.Addr, err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
