package config

import (
	"strings"
	"time"
)

// DefaultBuildTimeout bounds a plugin's build when its table does not say
// (key build_timeout).
const DefaultBuildTimeout = 2 * time.Minute

// Build is how a plugin's module is built from its sources, for any
// language (keys build, build_dir, watch, build_timeout of a plugin's
// table). The daemon runs the build before it reads the module at Path,
// when it loads the plugin and whenever a file under Watch changes;
// `evhost call` and `evhost validate` run it first too.
type Build struct {
	// Command is the build, run by `sh -c` so that it reads as in a
	// terminal (key build, e.g. "cargo build --release --target
	// wasm32-wasi"); empty means no build. Its output is the plugin's
	// path, a .wasm file.
	Command string
	// Dir is the directory the build runs in, as written (key build_dir,
	// default: the config's directory); ResolvedDir is the same resolved
	// against Config.Dir.
	Dir         string
	ResolvedDir string
	// Watch are the files and directories whose change runs the build
	// and reloads the plugin (key watch, relative to the config's
	// directory; every file of a directory counts, but hidden ones and
	// editors' backups); ResolvedWatch are the same resolved against
	// Config.Dir. Empty means the build runs only when the plugin is
	// loaded or force-reloaded.
	Watch         []string
	ResolvedWatch []string
	// Timeout bounds one build (key build_timeout); 0 means
	// DefaultBuildTimeout. A build that overruns is killed with its
	// process group and refused.
	Timeout time.Duration
}

// pluginBuild decodes the build keys of a plugin's table into p.Build.
func (d *decoder) pluginBuild(c *Config, t *table, p *Plugin) {
	t.str("build", &p.Build.Command)
	if t.str("build_dir", &p.Build.Dir) {
		p.Build.ResolvedDir = c.Resolve(p.Build.Dir)
	}
	if t.strings("watch", &p.Build.Watch) {
		for _, w := range p.Build.Watch {
			p.Build.ResolvedWatch = append(p.Build.ResolvedWatch, c.Resolve(w))
		}
	}
	t.duration("build_timeout", &p.Build.Timeout)
	if p.Build.Command != "" && p.Build.ResolvedDir == "" {
		p.Build.ResolvedDir = c.Dir
	}
}

// pluginBuild checks the build keys of the plugin at path.
func (v *checker) pluginBuild(path string, p *Plugin) {
	b := &p.Build
	if b.Command == "" {
		for key, set := range map[string]bool{"build_dir": b.Dir != "", "watch": b.Watch != nil, "build_timeout": b.Timeout != 0} {
			if set {
				v.invalid(keyPath(path, key), "%s without build: say how to build the plugin (key build)", key)
			}
		}
		return
	}
	if strings.TrimSpace(b.Command) == "" {
		v.invalid(keyPath(path, "build"), "invalid build: an empty command")
	}
	switch {
	case p.Digest != "":
		v.invalid(keyPath(path, "build"), "build with a module pinned by digest: a digest is never built")
	case p.Path != "" && !p.IsWasmFile():
		v.invalid(keyPath(path, "path"), "invalid path %q: with build, path is the build's output, a .wasm file", p.Path)
	}
	if b.Timeout < 0 {
		v.invalid(keyPath(path, "build_timeout"), "invalid build_timeout %v: must be positive (0 means the default, 2m)", b.Timeout)
	}
	for i, w := range b.Watch {
		if strings.TrimSpace(w) == "" {
			v.invalid(indexPath(keyPath(path, "watch"), i), "invalid watch entry: an empty path")
		}
	}
}

// dropBuildKeys removes the build keys of a plugin's table pinned to a
// digest in a release: the daemons run the module evhost deploy built.
func dropBuildKeys(p map[string]any) {
	for _, k := range []string{"build", "build_dir", "watch", "build_timeout"} {
		delete(p, k)
	}
}
