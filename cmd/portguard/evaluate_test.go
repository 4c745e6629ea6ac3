package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genCSV writes rows of labelled history with `portguard gen` and returns the CSV and mapping.
func genCSV(t *testing.T, rows string) (csvPath, mapping string) {
	t.Helper()
	dir := t.TempDir()
	csvPath = filepath.Join(dir, "h.csv")
	if err := run(context.Background(), []string{"gen", "--rows", rows, "--days", "150", "--seed", "4", "--out", csvPath},
		func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	return csvPath, filepath.Join(dir, "h.mapping.yaml")
}

func TestEvaluateAndReplayCommandsReportTheIssuesJSON(t *testing.T) {
	csvPath, mapping := genCSV(t, "6000")
	raw, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	header, body := lines[0], lines[1:]
	cut := len(body) * 3 / 4
	dir := filepath.Dir(csvPath)
	train, test := filepath.Join(dir, "train.csv"), filepath.Join(dir, "test.csv")
	// One broken row in the test file must be reported with its line number and skipped.
	os.WriteFile(train, []byte(header+strings.Join(body[:cut], "")), 0o644)
	os.WriteFile(test, []byte(header+"not,a,row\n"+strings.Join(body[cut:], "")), 0o644)

	var out, errOut syncBuffer
	evJSON := filepath.Join(dir, "ev.json")
	err = run(context.Background(), []string{"evaluate", "--train", train, "--test", test, "--mapping", mapping, "--json", evJSON},
		func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("evaluate: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "test.csv:2: skipped") {
		t.Errorf("the broken row on line 2 was not reported:\n%s", errOut.String())
	}
	var ev struct {
		AUC float64 `json:"auc"`
		AP  float64 `json:"average_precision"`
		At  []struct {
			Rate, Precision, Recall float64
		} `json:"at"`
	}
	b, _ := os.ReadFile(evJSON)
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("evaluate --json: %v", err)
	}
	if len(ev.At) != 6 || ev.At[0].Rate != 0.01 || ev.At[5].Rate != 0.30 || ev.AUC <= 0.5 || ev.AP <= 0 {
		t.Errorf("evaluate result: %+v", ev)
	}

	out, errOut = syncBuffer{}, syncBuffer{}
	chart := filepath.Join(dir, "replay.html")
	err = run(context.Background(), []string{"replay", "--input", csvPath, "--mapping", mapping, "--inspect-rate", "0.2",
		"--warmup-days", "30", "--chart", chart}, func(string) string { return "" }, &out, &errOut)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	var rp map[string]any
	if err := json.Unmarshal([]byte(out.String()), &rp); err != nil {
		t.Fatalf("replay output: %v", err)
	}
	for _, k := range []string{"inspect_rate_target", "declarations", "inspected", "hits", "precision", "recall", "recall_base", "periods", "last_90_days"} {
		if _, ok := rp[k]; !ok {
			t.Errorf("replay output lacks %q", k)
		}
	}
	if !strings.Contains(errOut.String(), "replay: 6000/6000 declarations (100%") {
		t.Errorf("replay showed no final progress line:\n%s", errOut.String())
	}
	if html, err := os.ReadFile(chart); err != nil || !strings.Contains(string(html), "<polyline") {
		t.Errorf("no chart written: %v", err)
	}
}

func TestAMappingNamingAMissingColumnFailsFast(t *testing.T) {
	csvPath, mapping := genCSV(t, "50")
	m, _ := os.ReadFile(mapping)
	bad := filepath.Join(filepath.Dir(mapping), "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(string(m), "label: FRAUD", "label: NO_SUCH_COLUMN", 1)), 0o644)
	err := run(context.Background(), []string{"replay", "--input", csvPath, "--mapping", bad},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "NO_SUCH_COLUMN") {
		t.Fatalf("err = %v, want it to name the missing column", err)
	}
}
