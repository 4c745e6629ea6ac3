//go:build unix

package synth

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used: benchmarks report it per operation as well,
// because wall time per operation is meaningless on a machine shared with other work.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
