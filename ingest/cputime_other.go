//go:build !linux

package ingest

import "time"

// ProcessCPU is not measured here; the benchmark then reports 0 CPU time.
func ProcessCPU() time.Duration { return 0 }

// ChildrenCPU is not measured here.
func ChildrenCPU(string) time.Duration { return 0 }

// LoadAverage is not known here.
func LoadAverage() float64 { return 0 }
