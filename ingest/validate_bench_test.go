package ingest

import "testing"

func BenchmarkValidatorDeclaration(b *testing.B) {
	raw := mustRead(b, "golden/declaration_import.json")
	v := NewValidator(DefaultConfig())
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := v.Declaration(raw); err != nil {
			b.Fatal(err)
		}
	}
}
