package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portguard/portguard/ingest"
	"github.com/portguard/portguard/ingest/synth"
)

// runGen: `portguard gen` writes a deterministic synthetic declaration stream with hidden ground
// truth — labelled CSV plus its mapping file, JSON lines of wire messages, or a Kafka stream at a
// given rate.
func runGen(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("gen", env, stderr)
	format := f.str("format", "csv", "csv (labelled, with a mapping file), jsonl (wire messages) or kafka")
	out := f.str("out", "", "output file (csv, jsonl); - or empty for standard output")
	rows := f.integer("rows", 100000, "declarations to generate (kafka: 0 = until stopped)")
	seed := f.integer("seed", 1, "seed: the same seed and flags give the same stream")
	start := f.str("start", "2024-01-01", "declaration date of the first row (YYYY-MM-DD)")
	days := f.integer("days", 365, "length of the simulated period in days")
	perDay := f.float("per-day", 0, "mean declarations per day (0 = rows spread over the period)")
	drift := f.float("drift-at", 0.6, "fraction of the period when new non-compliance patterns appear (1 = none)")
	brokers := f.str("kafka-brokers", "127.0.0.1:19092", "kafka format: bootstrap brokers")
	rate := f.float("rate", 100, "kafka format: declarations per second")
	if err := f.parse(args); err != nil {
		return err
	}
	t0, err := time.Parse("2006-01-02", *start)
	if err != nil {
		return fmt.Errorf("gen: --start: %w", err)
	}
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Start, cfg.Days, cfg.DriftAt = int64(*seed), t0.UTC(), *days, *drift
	if *perDay > 0 {
		cfg.PerDay = *perDay
	} else if *rows > 0 {
		cfg.PerDay = float64(*rows) / float64(*days)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	g := synth.New(cfg)

	if *format == "kafka" {
		p := ingest.NewProducer(splitList(*brokers))
		defer p.Close()
		topics := ingest.DefaultTopics()
		tick := time.NewTicker(time.Duration(float64(time.Second) / *rate))
		defer tick.Stop()
		for n := 0; *rows == 0 || n < *rows; n++ {
			select {
			case <-ctx.Done():
				fmt.Fprintf(stderr, "gen: stopped after %d declarations\n", n)
				return nil
			case <-tick.C:
			}
			s := g.Next()
			msgs := []ingest.Message{{Topic: topics.Declarations, Key: s.Decl.Number, Value: g.JSON(s)}}
			if s.Manifest != nil {
				msgs = append(msgs, ingest.Message{Topic: topics.Manifests, Key: s.Manifest.BillOfLading, Value: s.Manifest})
			}
			if err := p.Publish(ctx, msgs...); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
		}
		return nil
	}

	var w io.Writer = stdout
	if *out != "" && *out != "-" {
		file, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("gen: %w", err)
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	begin := time.Now()
	progress := func(n int) {
		if n%500000 == 0 && n > 0 {
			el := time.Since(begin).Seconds()
			fmt.Fprintf(stderr, "gen: %d/%d rows (%.0f rows/s)\n", n, *rows, float64(n)/el)
		}
	}
	switch *format {
	case "csv":
		cw := synth.NewCSVWriter(bw)
		for n := range *rows {
			if err := cw.Write(g.Next()); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			progress(n)
		}
		if err := cw.Flush(); err != nil {
			return err
		}
		if *out != "" && *out != "-" {
			mp := strings.TrimSuffix(*out, filepath.Ext(*out)) + ".mapping.yaml"
			if err := os.WriteFile(mp, synth.Mapping(), 0o644); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			fmt.Fprintf(stderr, "gen: mapping file %s\n", mp)
		}
	case "jsonl":
		for n := range *rows {
			if err := synth.WriteJSONLines(bw, g.Next()); err != nil {
				return fmt.Errorf("gen: %w", err)
			}
			progress(n)
		}
	default:
		return fmt.Errorf("gen: unknown --format %q (csv, jsonl or kafka)", *format)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	el := time.Since(begin)
	fmt.Fprintf(stderr, "gen: %d rows in %v (%.0f rows/s)\n", *rows, el.Round(time.Millisecond), float64(*rows)/el.Seconds())
	return nil
}
