package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/targeting"
)

// runServe runs the roles against an existing Kafka and ClickHouse (production).
func runServe(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("serve", env, stderr)
	listen := f.str("listen", ":8080", "HTTP listen address")
	brokers := f.str("kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	prefix := f.str("topic-prefix", "", "prefix for every topic name (default names: portguard.declarations, …)")
	chcfg := clickhouseFlags(f)
	dataDir := f.str("data-dir", "/var/lib/portguard", "local spool and snapshot directory")
	randomKey := f.str("random-key", "", "secret key of the random selection draw (HMAC); required")
	usersFile := f.str("users-file", "", "JSON file of console users and API keys")
	jobsEvery := f.duration("jobs-every", time.Hour, "how often this instance recomputes enterprise grades and early-warning alerts (0 = never: run them on one instance)")
	instance := f.str("instance-id", "", "this instance's name, for its feedback consumer group (default: hostname)")
	joinWindow := f.duration("join-window", 72*time.Hour, "how long a declaration and its manifest (舱单) wait for each other; a GREEN consignment with a bill of lading is released when its manifest has been cross-checked, or when this window passes without one")
	stagesFlag := f.str("stages", "all", "background stages this instance runs besides the API and targeting: all, none (an API-only instance), or a list of ingest,clearance,recorder; each must run somewhere")
	policyFile := f.str("policy", "", "JSON file of the targeting policy: inspection rates or daily capacities per port, random-control rates and grade multipliers, objective (see deploy/policy.example.json; default: built-in rates)")
	if err := f.parse(args); err != nil {
		return err
	}
	if _, err := parseStages(*stagesFlag); err != nil {
		return fmt.Errorf("serve: --stages: %w", err)
	}
	policy, err := loadPolicy(*policyFile)
	if err != nil {
		return err
	}
	if *joinWindow <= 0 {
		return errors.New("serve: --join-window must be positive (e.g. 72h)")
	}
	if len(*randomKey) < 16 {
		return errors.New("serve: --random-key (PORTGUARD_RANDOM_KEY) must be a secret of at least 16 characters")
	}
	if *usersFile == "" {
		return errors.New("serve: --users-file (PORTGUARD_USERS_FILE) is required; see deploy/users.example.json")
	}
	users, err := loadUsers(*usersFile, env)
	if err != nil {
		return err
	}
	if *instance == "" {
		*instance, _ = os.Hostname()
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	topics := ingest.DefaultTopics()
	if *prefix != "" {
		topics = topics.WithPrefix(*prefix)
	}
	cfg := appConfig{Listen: *listen, Brokers: splitList(*brokers), Topics: topics, ClickHouse: chcfg(),
		DataDir: *dataDir, RandomKey: *randomKey, InstanceID: *instance, Users: users, JobsEvery: *jobsEvery, Policy: policy,
		JoinWindow: *joinWindow, Stages: *stagesFlag}
	log.Info("starting", "stages", cfg.Stages, "listen", cfg.Listen, "brokers", cfg.Brokers, "clickhouse", cfg.ClickHouse.Addr,
		"database", cfg.ClickHouse.Database, "data_dir", cfg.DataDir, "instance", cfg.InstanceID,
		"random_key", "***", "clickhouse_password", mask(cfg.ClickHouse.Password))
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "portguard serving on %s\n", a.URL())
	return a.Run(ctx)
}

// loadPolicy reads the --policy file; none means the built-in defaults.
func loadPolicy(path string) (targeting.Policy, error) {
	if path == "" {
		return targeting.Policy{}, nil
	}
	return targeting.LoadPolicy(path)
}

func mask(s string) string {
	if s == "" {
		return ""
	}
	return "***"
}
