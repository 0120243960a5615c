//go:build unix

package registry

import (
	"os/exec"
	"syscall"
)

// killGroup makes a cancelled build kill its whole process group: sh, and
// the cargo, npm or compiler it started, which would otherwise keep running
// and hold the output pipe open.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
