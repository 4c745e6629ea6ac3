package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"os"
	"strings"
	"time"

	"github.com/portguard/portguard/targeting"
	"github.com/portguard/portguard/targeting/evaluate"
)

// readLabelled loads a labelled CSV through a mapping file, telling stderr about every skipped
// row (the first 20 in full) so that nothing is dropped silently.
func readLabelled(path string, m *evaluate.Mapping, stderr io.Writer) ([]evaluate.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	skipped := 0
	rows, err := evaluate.ReadLabelled(f, m, func(line int, reason string) {
		skipped++
		if skipped <= 20 {
			fmt.Fprintf(stderr, "%s:%d: skipped: %s\n", path, line, reason)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if skipped > 20 {
		fmt.Fprintf(stderr, "%s: %d rows skipped in all\n", path, skipped)
	}
	fmt.Fprintf(stderr, "%s: %d rows read\n", path, len(rows))
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no usable rows", path)
	}
	return rows, nil
}

// writeResult prints v as JSON on stdout and, when path is set, writes it there too.
func writeResult(stdout io.Writer, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if path != "" {
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintln(stdout, string(b))
	return err
}

// runEvaluate: `portguard evaluate --train A.csv --test B.csv --mapping M.yaml [--json out.json]`
// trains the targeting models on A with every label visible, scores B with the service's own
// decision code, and reports AUC, average precision and precision/recall at inspection rates.
func runEvaluate(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("evaluate", env, stderr)
	train := f.str("train", "", "labelled CSV to train on")
	test := f.str("test", "", "labelled CSV to score")
	mapping := f.str("mapping", "", "mapping file (YAML or JSON) naming the CSV columns")
	out := f.str("json", "", "also write the result to this file")
	if err := f.parse(args); err != nil {
		return err
	}
	if *train == "" || *test == "" || *mapping == "" {
		return errors.New("evaluate: --train, --test and --mapping are required")
	}
	m, err := evaluate.LoadMapping(*mapping)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	tr, err := readLabelled(*train, m, stderr)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	te, err := readLabelled(*test, m, stderr)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	start := time.Now()
	rep, err := evaluate.Evaluate(ctx, tr, te, targeting.DefaultConfig())
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	fmt.Fprintf(stderr, "evaluate: trained on %d, scored %d in %v\n", len(tr), len(te), time.Since(start).Round(time.Millisecond))
	return writeResult(stdout, *out, rep)
}

// runReplay: `portguard replay --input H.csv --mapping M.yaml --inspect-rate 0.10` replays the
// closed loop over labelled history with the real decision code, revealing labels only for what
// the engine selected, and compares it with pure random selection at the same rate.
func runReplay(ctx context.Context, args []string, env func(string) string, stdout, stderr io.Writer) error {
	f := newFlags("replay", env, stderr)
	input := f.str("input", "", "labelled CSV of history")
	mapping := f.str("mapping", "", "mapping file (YAML or JSON) naming the CSV columns")
	rate := f.float("inspect-rate", 0.10, "target share of consignments inspected")
	warmup := f.integer("warmup-days", 60, "fully labelled days at the start")
	delay := f.duration("feedback-delay", 0, "label delay after a decision (0 = end of the decision's week)")
	out := f.str("json", "", "also write the result to this file")
	chart := f.str("chart", "", "write an HTML chart of precision and recall per period to this file")
	if err := f.parse(args); err != nil {
		return err
	}
	if *input == "" || *mapping == "" {
		return errors.New("replay: --input and --mapping are required")
	}
	if *rate <= 0 || *rate >= 1 {
		return fmt.Errorf("replay: --inspect-rate %v must be between 0 and 1", *rate)
	}
	m, err := evaluate.LoadMapping(*mapping)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	rows, err := readLabelled(*input, m, stderr)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	start := time.Now()
	last := time.Now()
	rep, err := evaluate.Replay(ctx, rows, evaluate.ReplayOptions{InspectRate: *rate, WarmupDays: *warmup, FeedbackDelay: *delay},
		func(done, total int) {
			if time.Since(last) > 2*time.Second || done == total {
				last = time.Now()
				fmt.Fprintf(stderr, "replay: %d/%d declarations (%.0f%%, %.0f/s)\n", done, total,
					100*float64(done)/float64(max(total, 1)), float64(done)/time.Since(start).Seconds())
			}
		})
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if *chart != "" {
		if err := writeReplayChart(*chart, rep); err != nil {
			return fmt.Errorf("replay: chart: %w", err)
		}
		fmt.Fprintf(stderr, "replay: chart written to %s\n", *chart)
	}
	return writeResult(stdout, *out, rep)
}

var chartPage = template.Must(template.New("chart").Funcs(template.FuncMap{
	"x":   func(i, n int) float64 { return 40 + 900*float64(i)/float64(max(n-1, 1)) },
	"y":   func(v float64) float64 { return 320 - 300*v },
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
}).Parse(`<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>portguard replay</title>
<style>body{font-family:sans-serif;margin:2em}svg{background:#fafafa;border:1px solid #ddd}
.p{stroke:#c0392b;fill:none;stroke-width:2}.r{stroke:#2471a3;fill:none;stroke-width:2}</style>
<h1>闭环回放 / Closed-loop replay</h1>
<p>目标查验率 / target inspection rate {{pct .InspectRateTarget}} · 申报 / declarations {{.Declarations}} ·
查验 / inspected {{.Inspected}} · 查获 / hits {{.Hits}} · 查获率 / precision {{pct .Precision}} (随机 / random {{pct .Random.Precision}}) ·
召回 / recall {{pct .Recall}} (随机 / random {{pct .Random.Recall}})</p>
<svg width="960" height="340" role="img" aria-label="precision and recall per period">
<line x1="40" y1="320" x2="940" y2="320" stroke="#999"/><line x1="40" y1="20" x2="40" y2="320" stroke="#999"/>
<text x="5" y="24" font-size="11">100%</text><text x="10" y="320" font-size="11">0</text>
{{$n := len .Periods}}
<polyline class="p" points="{{range $i, $p := .Periods}}{{x $i $n}},{{y $p.Precision}} {{end}}"/>
<polyline class="r" points="{{range $i, $p := .Periods}}{{x $i $n}},{{y $p.Recall}} {{end}}"/>
</svg>
<p><span style="color:#c0392b">■</span> 查获率 precision &nbsp; <span style="color:#2471a3">■</span> 召回率 recall (per period)</p>
</html>
`))

func writeReplayChart(path string, rep evaluate.ReplayReport) error {
	var b strings.Builder
	if err := chartPage.Execute(&b, rep); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
