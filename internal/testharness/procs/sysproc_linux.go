package procs

import "syscall"

// sysProcAttr puts the child in its own process group, so that Stop ends its
// children too, and has the kernel kill it when the thread that started it
// dies: Go never ends an OS thread that is not locked by a goroutine, so in
// practice that is when the harness process dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
