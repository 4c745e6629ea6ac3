package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/portguard/portguard/analytics"
	"github.com/portguard/portguard/clearance"
)

// errAuditBroken is returned (exit status 1) when the chain does not verify.
var errAuditBroken = errors.New("audit chain is broken")

// runAudit: `portguard audit verify` walks the whole hash chain in ClickHouse and names the first
// record that does not fit.
func runAudit(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: portguard audit verify [--clickhouse host:port] [--json]")
		return errors.New("audit: the only action is verify")
	}
	f := newFlags("audit verify", env, stderr)
	chcfg := clickhouseFlags(f)
	asJSON := f.boolean("json", false, "print the report as JSON")
	if err := f.parse(args[1:]); err != nil {
		return err
	}
	store, err := analytics.Open(ctx, chcfg(), slog.New(slog.NewTextHandler(stderr, nil)), nil)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	defer store.Close()
	rep, err := clearance.NewChain(store, nil).Verify(ctx)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if *asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(b))
	} else if rep.OK {
		fmt.Fprintf(stdout, "audit chain OK: %d records, head %s\n", rep.Records, rep.Head)
	} else {
		fmt.Fprintf(stdout, "audit chain BROKEN at record %d: %s (%d records checked; last good head %s)\n",
			rep.BrokenSeq, rep.Reason, rep.Records, rep.Head)
	}
	if !rep.OK {
		return errAuditBroken
	}
	return nil
}
