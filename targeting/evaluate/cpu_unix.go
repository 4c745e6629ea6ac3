//go:build unix

package evaluate

import "syscall"

// processCPU returns the CPU time the process has used (user + system), in seconds; 0 when it
// cannot be read.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
