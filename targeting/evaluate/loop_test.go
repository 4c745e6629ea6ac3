package evaluate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portguard/portguard/ingest/synth"
	"github.com/portguard/portguard/targeting"
)

// csvRows generates rows declarations over days exactly as `portguard gen --rows rows --days
// days --seed seed` does and reads them back through the generated mapping, as `portguard
// evaluate` and `portguard replay` do: one goods item per row, extra attributes and numeric
// columns.
func csvRows(tb testing.TB, seed int64, rows, days int) []Row {
	tb.Helper()
	cfg := synth.DefaultConfig()
	cfg.Seed, cfg.Days, cfg.PerDay = seed, days, float64(rows)/float64(days)
	g := synth.New(cfg)
	var buf bytes.Buffer
	w := synth.NewCSVWriter(&buf)
	for range rows {
		if err := w.Write(g.Next()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	m, err := ParseMapping(synth.Mapping(), false)
	if err != nil {
		tb.Fatal(err)
	}
	out, err := ReadLabelled(&buf, m, func(line int, reason string) { tb.Fatalf("line %d: %s", line, reason) })
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// BenchmarkReplay replays the integrator's reference history (60,000 rows over a year, seed 3)
// at 10% and reports declarations per second with the loop's precision and inspected share.
func BenchmarkReplay(b *testing.B) {
	rows := csvRows(b, 3, 60000, 365)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		opts := ReplayOptions{InspectRate: 0.10}
		if v := os.Getenv("PG_NR"); v != "" {
			cfg := targeting.DefaultConfig()
			cfg.NegativeRatio, _ = strconv.ParseFloat(v, 64)
			opts.Config = &cfg
		}
		if v := os.Getenv("PG_RETRAIN"); v != "" {
			opts.RetrainEvery, _ = time.ParseDuration(v)
		}
		rep, err := Replay(context.Background(), rows, opts, nil)
		if err != nil {
			b.Fatal(err)
		}
		if os.Getenv("PG_PERIODS") != "" {
			var sb strings.Builder
			for _, p := range rep.Periods {
				fmt.Fprintf(&sb, " %.3f", float64(p.Inspected)/float64(max(p.Declarations, 1)))
			}
			b.Logf("weekly shares:%s", sb.String())
		}
		b.ReportMetric(float64(len(rows))/time.Since(t0).Seconds(), "decl/s")
		b.ReportMetric(rep.DeclarationsPerCPUS, "decl/cpu-s")
		b.ReportMetric(rep.Precision, "precision")
		b.ReportMetric(rep.InspectedShare, "share")
		b.ReportMetric(rep.Last90Days.InspectedShare, "share90")
		b.ReportMetric(rep.Recall, "recall")
		b.ReportMetric(rep.Last90Days.Precision, "prec90")
		b.ReportMetric(rep.Last90Days.Recall, "recall90")
		b.ReportMetric(float64(rep.Retrains), "retrains")
	}
}
