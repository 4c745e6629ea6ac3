package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// runBench: `portguard bench ingest|decide|http|analytics [--json]`. Each benchmark is
// self-contained (it starts its own broker and ClickHouse where it needs them), writes progress
// to stderr and prints its result last on stdout — one JSON object with --json.
func runBench(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	kinds := map[string]func(context.Context, []string, func(string) string, io.Writer) (any, error){
		"ingest":    benchIngest,
		"decide":    benchDecide,
		"http":      benchHTTP,
		"analytics": benchAnalytics,
	}
	if len(args) == 0 || kinds[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: portguard bench ingest|decide|http|analytics [--json] [flags]")
		return errors.New("bench: name what to measure")
	}
	jsonOut := false
	rest := args[1:]
	for i, a := range rest {
		if a == "--json" || a == "-json" {
			jsonOut = true
			rest = append(rest[:i:i], rest[i+1:]...)
			break
		}
	}
	if prof := env("PORTGUARD_CPUPROFILE"); prof != "" {
		// Profile before optimizing: the whole benchmark, load generator included.
		pf, err := os.Create(prof)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); pf.Close() }()
	}
	if prof := env("PORTGUARD_BLOCKPROFILE"); prof != "" {
		// Where goroutines wait: the latency of a service that is not CPU-bound hides here.
		runtime.SetBlockProfileRate(int(100 * time.Microsecond))
		defer func() {
			if pf, err := os.Create(prof); err == nil {
				_ = pprof.Lookup("block").WriteTo(pf, 0)
				pf.Close()
			}
		}()
	}
	if prof := env("PORTGUARD_MEMPROFILE"); prof != "" {
		// What allocates (go tool pprof -sample_index=alloc_space): the garbage collector's
		// work is proportional to it.
		defer func() {
			if pf, err := os.Create(prof); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(pf, 0)
				pf.Close()
			}
		}()
	}
	res, err := kinds[args[0]](ctx, rest, env, stderr)
	if err != nil {
		return fmt.Errorf("bench %s: %w", args[0], err)
	}
	if jsonOut {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintln(stdout, string(b))
	return nil
}

func benchIngest(ctx context.Context, args []string, env func(string) string, stderr io.Writer) (any, error) {
	f := newFlags("bench ingest", env, stderr)
	n := f.integer("declarations", 50000, "declarations per run")
	if err := f.parse(args); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	return ingest.Bench(ctx, stderr, ingest.BenchOptions{
		Declarations: *n, Log: log,
		OpenStore: func(ctx context.Context, addr string) (ingest.Store, error) {
			cfg := analytics.DefaultConfig()
			cfg.Addr = addr
			s, err := analytics.Open(ctx, cfg, log, nil)
			if err != nil {
				return nil, err
			}
			return s, s.Migrate(ctx)
		},
	})
}

func benchDecide(ctx context.Context, args []string, env func(string) string, stderr io.Writer) (any, error) {
	f := newFlags("bench decide", env, stderr)
	if err := f.parse(args); err != nil {
		return nil, err
	}
	return targeting.BenchDecide(ctx, stderr)
}

func benchAnalytics(ctx context.Context, args []string, env func(string) string, stderr io.Writer) (any, error) {
	f := newFlags("bench analytics", env, stderr)
	rows := f.integer("rows", 10_000_000, "declarations to load")
	if err := f.parse(args); err != nil {
		return nil, err
	}
	srv, stop, err := privateClickHouse(ctx)
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg := analytics.DefaultConfig()
	cfg.Addr = srv.Addr()
	s, err := analytics.Open(ctx, cfg, slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return nil, err
	}
	return analytics.Bench(ctx, s, stderr, *rows)
}

// privateClickHouse starts a throwaway ClickHouse in a temporary directory for a benchmark.
func privateClickHouse(ctx context.Context) (*chserver.Server, func(), error) {
	dir, err := os.MkdirTemp("", "portguard-bench-ch-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := chserver.Start(ctx, chserver.Options{Dir: dir})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	return srv, func() { srv.Stop(); os.RemoveAll(dir) }, nil
}
