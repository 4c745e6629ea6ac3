package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/analytics/chserver"
	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/web"
)

// runDev starts a whole portguard on this machine: an in-process Kafka-protocol broker on a fixed
// port, a private ClickHouse (or --clickhouse), every role, a synthetic declaration stream with
// hidden ground truth and a simulated officer who inspects from that truth.
func runDev(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("dev", env, stderr)
	defDir := filepath.Join(os.TempDir(), "portguard-dev")
	if h, err := os.UserHomeDir(); err == nil {
		defDir = filepath.Join(h, ".local", "state", "portguard", "dev")
	}
	listen := f.str("listen", "127.0.0.1:8080", "HTTP listen address (console and API)")
	kafkaPort := f.integer("kafka-port", 19092, "port of the in-process Kafka-protocol broker")
	chAddr := f.str("clickhouse", "", "use this ClickHouse (host:port, native protocol) instead of starting one")
	chPort := f.integer("clickhouse-port", 19000, "native port of the private ClickHouse started when --clickhouse is empty")
	dataDir := f.str("data-dir", defDir, "where the broker, ClickHouse and spools keep their data")
	rate := f.float("rate", 3, "synthetic declarations per second (0 = none)")
	seed := f.integer("seed", 1, "seed of the synthetic stream")
	officerDelay := f.duration("officer-delay", 5*time.Second, "how long the simulated officer takes per inspection (0 = no simulated officer)")
	jobsEvery := f.duration("jobs-every", time.Minute, "how often enterprise grades and early-warning alerts are recomputed (0 = never)")
	verbose := f.boolean("verbose", false, "log at debug level")
	joinWindow := f.duration("join-window", devJoinWindow, "how long a declaration and its manifest wait for each other (a GREEN consignment awaiting its manifest is released after it)")
	policyFile := f.str("policy", "", "JSON file of the targeting policy (see deploy/policy.example.json; default: built-in rates)")
	if err := f.parse(args); err != nil {
		return err
	}
	policy, err := loadPolicy(*policyFile)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	topics := ingest.DefaultTopics()
	if err := os.MkdirAll(filepath.Join(*dataDir, "kafka"), 0o755); err != nil {
		return err
	}
	broker, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*kafkaPort),
		kfake.DataDir(filepath.Join(*dataDir, "kafka")), kfake.SeedTopics(6, topics.All()...),
		kfake.DefaultNumPartitions(6))
	if err != nil {
		return fmt.Errorf("start broker on port %d: %w", *kafkaPort, err)
	}
	defer broker.Close()
	brokerAddr := broker.ListenAddrs()[0]

	chcfg := analytics.DefaultConfig()
	if *chAddr == "" {
		srv, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(*dataDir, "clickhouse"), TCPPort: *chPort})
		if err != nil {
			return fmt.Errorf("start private ClickHouse: %w", err)
		}
		defer srv.Stop()
		chcfg.Addr = srv.Addr()
	} else {
		chcfg.Addr = *chAddr
	}
	if err := migrate(ctx, chcfg, log); err != nil {
		return err
	}

	users, creds := web.DevUsers()
	a, err := newApp(ctx, appConfig{
		Listen: *listen, Brokers: []string{brokerAddr}, Topics: topics, ClickHouse: chcfg,
		DataDir: *dataDir, RandomKey: "portguard-dev-random-key-NOT-FOR-PRODUCTION", InstanceID: "dev",
		Users: users, Dev: true, JobsEvery: *jobsEvery, Policy: policy, JoinWindow: *joinWindow,
	}, log)
	if err != nil {
		return err
	}
	printBanner(stdout, a.URL(), brokerAddr, chcfg.Addr, topics, creds)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.Run(gctx) })
	truth := newTruthBook()
	if *rate > 0 {
		g.Go(func() error { return feed(gctx, a.producer, topics, *rate, int64(*seed), truth, log) })
	}
	if *officerDelay > 0 {
		g.Go(func() error { return simulateOfficer(gctx, a, truth, *officerDelay, log) })
	}
	err = g.Wait()
	fmt.Fprintln(stdout, "portguard dev: stopped")
	return err
}

func printBanner(w io.Writer, url, broker, ch string, topics ingest.Topics, creds []web.Credential) {
	fmt.Fprintf(w, "\nportguard dev is running  (Ctrl-C stops everything)\n\n")
	fmt.Fprintf(w, "  console         %s/console/\n", url)
	for _, c := range creds {
		if c.Kind != "api_key" {
			fmt.Fprintf(w, "    login         %-12s password %-16s %s\n", c.Name, c.Secret, c.Describe)
		}
	}
	fmt.Fprintf(w, "  API             %s/v1   (OpenAPI: %s/v1/openapi.json)\n", url, url)
	for _, c := range creds {
		if c.Kind == "api_key" {
			fmt.Fprintf(w, "    API key       %s   (header Authorization: Bearer <key>; %s)\n", c.Secret, c.Describe)
		}
	}
	fmt.Fprintf(w, "  Kafka           %s   e.g. kcat -b %s -t %s -C\n", broker, broker, topics.Decisions)
	fmt.Fprintf(w, "  ClickHouse      %s   e.g. clickhouse-client --port %s -q 'SELECT count() FROM declarations'\n\n",
		ch, portOf(ch))
}

func portOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return addr
}
