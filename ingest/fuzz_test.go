package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// seedFuzz adds every golden and malformed message of testdata to the corpus.
func seedFuzz(f *testing.F) {
	for _, dir := range []string{"golden", "malformed"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			f.Fatalf("no seed corpus in testdata/%s: %v", dir, err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

// checkRejection fails unless err is a *ValidationError whose every field error has a code and
// both messages.
func checkRejection(t *testing.T, err error) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("rejection is not a *ValidationError: %T %v", err, err)
	}
	if len(ve.Fields) == 0 {
		t.Fatal("rejection without any field error")
	}
	for _, fe := range ve.Fields {
		if fe.Code == "" || fe.ZH == "" || fe.EN == "" {
			t.Fatalf("field error without code or message: %+v", fe)
		}
	}
}

func FuzzDeclaration(f *testing.F) {
	seedFuzz(f)
	v := NewValidator(DefaultConfig())
	f.Fuzz(func(t *testing.T, raw []byte) {
		d, err := v.Declaration(raw)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if len(d.Items) < 1 || len(d.Items) > MaxItems || len(d.Number) != 18 || d.Version < 1 {
			t.Fatalf("accepted an invalid declaration: %+v", d)
		}
		for _, it := range d.Items {
			if len(it.HSCode) != 10 || !(it.ValueBase > 0) && it.DeclaredValue*1e6 > 1 {
				t.Fatalf("accepted an invalid item: %+v", it)
			}
		}
	})
}

func FuzzManifest(f *testing.F) {
	seedFuzz(f)
	v := NewValidator(DefaultConfig())
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := v.Manifest(raw)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if m.BillOfLading == "" || IMOProblem(m.VesselIMO) != "" || !(m.GrossWeightKg > 0) {
			t.Fatalf("accepted an invalid manifest: %+v", m)
		}
	})
}

func FuzzWithdrawal(f *testing.F) {
	seedFuzz(f)
	v := NewValidator(DefaultConfig())
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := v.Withdrawal(raw); err != nil {
			checkRejection(t, err)
		}
	})
}
