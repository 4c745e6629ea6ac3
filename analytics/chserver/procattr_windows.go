package chserver

import "syscall"

// childProcAttr: Windows has neither process groups of this kind nor a parent-death signal;
// ClickHouse does not run there either, but the package still builds.
func childProcAttr() *syscall.SysProcAttr { return nil }
