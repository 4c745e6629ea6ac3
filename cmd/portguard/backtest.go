package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// runBacktest: `portguard backtest --rule rule.json [--from --to]` runs a draft rule over the
// declarations stored in ClickHouse with the service's decision code: matches and selections per
// day, hit rate among matches that were inspected (and the random-control estimate), and the
// extra daily workload per port.
func runBacktest(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("backtest", env, stderr)
	rulePath := f.str("rule", "", "the rule as JSON (the body of POST /v1/rules)")
	now := time.Now().UTC()
	from := f.str("from", now.AddDate(0, 0, -90).Format(time.DateOnly), "first day, inclusive (YYYY-MM-DD)")
	to := f.str("to", now.Format(time.DateOnly), "last day, inclusive (YYYY-MM-DD)")
	randomKey := f.str("random-key", "", "the production random-selection key, so percentage draws match (default: the development key)")
	out := f.str("json", "", "also write the result to this file")
	chcfg := clickhouseFlags(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if *rulePath == "" {
		return errors.New("backtest: --rule is required")
	}
	raw, err := os.ReadFile(*rulePath)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	var r targeting.Rule
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("backtest: %s: %w", *rulePath, err)
	}
	t0, err1 := time.Parse(time.DateOnly, *from)
	t1, err2 := time.Parse(time.DateOnly, *to)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("backtest: --from/--to: %w", err)
	}
	cfg := targeting.DefaultConfig()
	if *randomKey != "" {
		cfg.RandomKey = []byte(*randomKey)
	}
	store, err := analytics.Open(ctx, chcfg(), slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	defer store.Close()
	bt := evaluate.Backtester{Config: cfg, History: store}
	rep, err := bt.Backtest(ctx, evaluate.BacktestQuery{Rule: r, From: t0, To: t1, Progress: func(n int) {
		fmt.Fprintf(stderr, "backtest: %d declarations…\n", n)
	}})
	if err != nil {
		return err
	}
	return writeResult(stdout, *out, rep)
}
