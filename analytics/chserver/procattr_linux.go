package chserver

import "syscall"

// childProcAttr puts the server in its own process group, so that a Ctrl-C to portguard dev
// reaches us first and we stop the server in order rather than having it killed mid-write; and
// has the kernel stop it if we die without stopping it (a SIGKILLed test or dev).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
