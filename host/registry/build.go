package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/host/watch"
)

// DefaultBuildTimeout bounds a Build whose Timeout is zero.
const DefaultBuildTimeout = 2 * time.Minute

// buildOutputMax is how much of a failed build's output its error keeps:
// the end, where compilers put the summary.
const buildOutputMax = 16 << 10

// Build is how a source's module is built, for a plugin in any language: a
// command whose output is the Source's Path.
type Build struct {
	// Command is run by `sh -c` in Dir, with evhost's environment.
	Command string
	// Dir is the build's working directory (resolved).
	Dir string
	// Watch are the files and directories (resolved) whose change runs the
	// build again: a directory counts every file but hidden ones and
	// editors' backups ([watch.AnyFile]).
	Watch []string
	// Timeout bounds one build; zero means DefaultBuildTimeout.
	Timeout time.Duration
}

// buildLocks serialises the builds that run in one directory: two plugins
// built in the same directory, or a reload racing a config change, must
// not run cargo or npm over each other.
var buildLocks sync.Map // dir -> *sync.Mutex

// run runs the build and returns an error holding its output when it
// fails or overruns its timeout.
func (b *Build) run(ctx context.Context) error {
	mu, _ := buildLocks.LoadOrStore(b.Dir, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultBuildTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", b.Command)
	cmd.Dir = b.Dir
	cmd.Env = os.Environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	killGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timed out after %v (build_timeout)", timeout)
	}
	msg := out.Bytes()
	if len(msg) > buildOutputMax {
		msg = append([]byte("[...]\n"), msg[len(msg)-buildOutputMax:]...)
	}
	return fmt.Errorf("build %q in %s failed after %v: %w\n%s", b.Command, b.Dir, time.Since(start).Round(time.Millisecond), err,
		strings.TrimSpace(string(msg)))
}

// targets returns the watch targets of the build.
func (b *Build) targets() []watch.Target {
	ts := make([]watch.Target, 0, len(b.Watch))
	for _, p := range b.Watch {
		fi, err := os.Stat(p)
		// A path that does not exist yet is taken for a directory.
		dir := err != nil || fi.IsDir()
		ts = append(ts, watch.Target{Path: p, Dir: dir, Filter: watch.AnyFile})
	}
	return ts
}

// hashes returns the content hashes of the build's watch targets, by path,
// leaving out those that cannot be read.
func (b *Build) hashes() map[string]string {
	m := map[string]string{}
	for _, t := range b.targets() {
		if h, err := watch.Hash(t); err == nil {
			m[t.Path] = h
		}
	}
	return m
}
