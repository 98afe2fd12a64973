//go:build unix && !linux

package procs

import "syscall"

// sysProcAttr puts the child in its own process group, so that Stop ends its
// children too. Only Linux can tie a child's life to its parent's.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
