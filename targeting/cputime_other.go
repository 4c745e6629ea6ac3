//go:build !linux

package targeting

// threadCPU is unavailable off Linux: the CPU-time figures of BenchDecide are then 0.
func threadCPU() int64 { return 0 }
