//go:build !linux && !windows

package chserver

import "syscall"

// childProcAttr puts the server in its own process group (see the Linux version). Elsewhere
// there is no parent-death signal: a server whose parent was killed outright keeps running until
// stopped by hand.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
