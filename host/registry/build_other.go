//go:build !unix

package registry

import "os/exec"

// killGroup does nothing where process groups are not available: a
// cancelled build kills sh only.
func killGroup(*exec.Cmd) {}
