// Command portguard is the one binary of the port inspection-and-quarantine risk targeting and
// closed-loop clearance system: `portguard dev` runs everything on one machine, `portguard serve`
// runs the roles against real Kafka and ClickHouse, and the other subcommands migrate, benchmark,
// generate, evaluate, replay, backtest and verify the audit chain.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "portguard:", err)
		}
		os.Exit(1)
	}
}

// command is one subcommand: a file in this folder each.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"dev":      {"run everything on this machine: broker, ClickHouse, all roles, demo traffic", runDev},
		"serve":    {"run the roles against real Kafka and ClickHouse", runServe},
		"migrate":  {"apply the ClickHouse schema migrations", runMigrate},
		"audit":    {"verify the hash-chained audit trail: audit verify", runAudit},
		"bench":    {"measure: bench ingest|decide|http|analytics [--json]", runBench},
		"evaluate": {"train on labelled history A, score B: AUC, precision/recall at rates", runEvaluate},
		"replay":   {"replay the closed loop over labelled history at an inspection rate", runReplay},
		"backtest": {"run a draft rule over ClickHouse history: matches, hits, workload", runBacktest},
		"gen":      {"write a deterministic synthetic declaration stream (csv, jsonl, kafka)", runGen},
	}
}

// run is the whole program, so that tests can start it in-process on port 0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return errors.New("a subcommand is required")
		}
		return nil
	}
	c, ok := cmds[args[0]]
	if !ok {
		usage(stderr, cmds)
		return fmt.Errorf("unknown subcommand %q", args[0])
	}
	return c.run(ctx, args[1:], getenv, stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage: portguard <subcommand> [flags]\n\nsubcommands:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, cmds[n].summary)
	}
	b.WriteString("\nRun 'portguard <subcommand> -h' for its flags. Every flag also reads PORTGUARD_<NAME>.\n")
	io.WriteString(w, b.String())
}
