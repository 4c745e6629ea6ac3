package ingest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ProcessCPU is the CPU time this process has used (user + system).
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ChildrenCPU is the CPU time used so far by the running child processes whose command name
// contains name (the benchmark's clickhouse-server): read from /proc, since a running child is
// not in RUSAGE_CHILDREN.
func ChildrenCPU(name string) time.Duration {
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	me := os.Getpid()
	var total time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(b)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open || !strings.Contains(s[open+1:end], name) {
			continue
		}
		// Fields after the command: state ppid … utime (14th field) stime (15th), in clock ticks.
		f := strings.Fields(s[end+1:])
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != me {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	}
	return total
}

// LoadAverage is the one-minute load average (0 when unknown): benchmarks report it, so that
// a figure measured on a busy machine says so.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
