//go:build !unix

package evaluate

// processCPU is not measured on this platform.
func processCPU() float64 { return 0 }
