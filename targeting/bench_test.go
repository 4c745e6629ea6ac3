package targeting

import (
	"runtime"
	"testing"
)

// BenchmarkDecide decides realistic three-item declarations with 10,000 active rules and
// 1,000,000 known enterprises; it reports the live heap of that state.
func BenchmarkDecide(b *testing.B) {
	f, err := newBenchFixture(10_000, 1_000_000)
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc), "heap-bytes")
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f.e.Decide(f.decls[i%len(f.decls)], f.now)
		i++
	}
}

// BenchmarkDecideSmall is BenchmarkDecide with 100,000 enterprises, quick to set up for profiling.
func BenchmarkDecideSmall(b *testing.B) {
	f, err := newBenchFixture(10_000, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f.e.Decide(f.decls[i%len(f.decls)], f.now)
		i++
	}
}

// BenchmarkDecideParallel measures the same under concurrent callers.
func BenchmarkDecideParallel(b *testing.B) {
	f, err := newBenchFixture(10_000, 100_000)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			f.e.Decide(f.decls[i%len(f.decls)], f.now)
			i++
		}
	})
}
