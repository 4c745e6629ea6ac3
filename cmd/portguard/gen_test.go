package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenWritesTheSameCSVForTheSameSeedAndAMappingBesideIt(t *testing.T) {
	dir := t.TempDir()
	gen := func(name, seed string) []byte {
		t.Helper()
		out := filepath.Join(dir, name+".csv")
		err := run(context.Background(), []string{"gen", "--rows", "2000", "--seed", seed, "--out", out},
			func(string) string { return "" }, io.Discard, io.Discard)
		if err != nil {
			t.Fatalf("gen: %v", err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, name+".mapping.yaml")); err != nil {
			t.Errorf("no mapping file beside %s: %v", out, err)
		}
		return b
	}
	a, b, c := gen("a", "5"), gen("b", "5"), gen("c", "6")
	if !bytes.Equal(a, b) {
		t.Error("two runs with seed 5 wrote different files")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 5 and 6 wrote the same file")
	}
	if lines := strings.Count(string(a), "\n"); lines != 2001 {
		t.Errorf("%d lines, want a header and 2000 rows", lines)
	}
}

func TestGenRejectsAnUnknownFormat(t *testing.T) {
	err := run(context.Background(), []string{"gen", "--format", "xml", "--rows", "1", "--out", filepath.Join(t.TempDir(), "x")},
		func(string) string { return "" }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown --format") {
		t.Fatalf("err = %v, want unknown --format", err)
	}
}
