package synth

import (
	"io"
	"testing"
)

// BenchmarkNext measures generating one sample (declaration, manifest, truth).
func BenchmarkNext(b *testing.B) {
	g := New(DefaultConfig())
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		g.Next()
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkNextJSON measures generating and encoding one sample as JSON lines, the work of
// `portguard gen --format jsonl` per row.
func BenchmarkNextJSON(b *testing.B) {
	g := New(DefaultConfig())
	buf := make([]byte, 0, 8192)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s := g.Next()
		buf = AppendJSON(buf[:0], s.Decl)
		if s.Manifest != nil {
			buf = AppendManifestJSON(buf, s.Manifest)
		}
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkNextCSV measures generating and writing one labelled CSV row.
func BenchmarkNextCSV(b *testing.B) {
	g := New(DefaultConfig())
	w := NewCSVWriter(io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := w.Write(g.Next()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew measures building the default world (5,000 importers) and calibrating it.
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		New(DefaultConfig())
	}
}
