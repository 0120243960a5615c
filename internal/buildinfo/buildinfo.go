// Package buildinfo reports the version of evhost built into a binary.
package buildinfo

import "runtime/debug"

// Module is evhost's module path.
const Module = "github.com/evhost/evhost"

// Version returns the version of evhost's module in this binary: the main
// module's when the binary is evhost's own (the daemon, a test), the
// dependency's when a program embeds evhost, and "(devel)" when the build
// does not say (a build from a work tree).
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	if bi.Main.Path != Module {
		v = ""
		for _, d := range bi.Deps {
			if d.Path == Module {
				v = d.Version
				if d.Replace != nil && d.Replace.Version != "" {
					v = d.Replace.Version
				}
				break
			}
		}
	}
	if v == "" {
		return "(devel)"
	}
	return v
}
