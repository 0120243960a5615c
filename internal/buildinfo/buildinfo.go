// Package buildinfo reports the version of evhost built into a binary: the
// version, commit and commit date that a release build stamps in (make
// release, with -ldflags -X), and the versions of the Go toolchain and of
// the dependencies that matter to an operator (wazero, the NATS server).
//
// It imports only the standard library; anything may import it.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Module is evhost's module path.
const Module = "github.com/evhost/evhost"

// Set by a release build (.ci/release):
//
//	-ldflags "-X github.com/evhost/evhost/internal/buildinfo.version=v1.2.3 ..."
//
// They are empty in a build from a work tree (go run, go build, go test).
var (
	version string // git describe, or a Go pseudo-version of the commit
	commit  string // the full commit hash
	date    string // the commit's date (RFC 3339), never the build's clock
)

// Version returns the version of evhost in this binary: the one a release
// build stamped in; else the main module's when the binary is evhost's own
// and the build says (a go install of a tagged version); the dependency's
// when a program embeds evhost; and "(devel)" otherwise.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	v := bi.Main.Version
	if bi.Main.Path != Module {
		v = depVersion(bi, Module)
	}
	if v == "" {
		return "(devel)"
	}
	return v
}

// Info is what `evhost version` prints.
type Info struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"` // "" when not stamped
	Date       string `json:"date,omitempty"`   // the commit's date, RFC 3339
	Go         string `json:"go"`
	Platform   string `json:"platform"` // GOOS/GOARCH
	Wazero     string `json:"wazero"`
	NATSServer string `json:"nats_server"`
}

// Read returns the Info of this binary. A dependency that the build info
// does not list (a test binary without it) is "unknown".
func Read() Info {
	i := Info{Version: Version(), Commit: commit, Date: date, Go: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH, Wazero: "unknown", NATSServer: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := depVersion(bi, "github.com/tetratelabs/wazero"); v != "" {
			i.Wazero = v
		}
		if v := depVersion(bi, "github.com/nats-io/nats-server/v2"); v != "" {
			i.NATSServer = v
		}
	}
	return i
}

// depVersion returns the version of the module path in bi's dependencies
// (its replacement's, if replaced), or "".
func depVersion(bi *debug.BuildInfo, path string) string {
	for _, d := range bi.Deps {
		if d.Path == path {
			if d.Replace != nil && d.Replace.Version != "" {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}
