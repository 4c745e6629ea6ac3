//go:build !linux

package ingest

import "time"

// processCPU is not measured here; the benchmark then reports 0 CPU time.
func processCPU() time.Duration { return 0 }

// childrenCPU is not measured here.
func childrenCPU(string) time.Duration { return 0 }

// LoadAverage is not known here.
func LoadAverage() float64 { return 0 }
