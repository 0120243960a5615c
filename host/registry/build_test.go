package registry_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/watch"
)

// A source with a Build runs it before each read: the plugin loads from
// the build's output, a reload after an edit of a watched file builds and
// swaps the new module in, and a failing or overrunning build is refused
// with its output while the old version keeps serving.
func TestBuildSource(t *testing.T) {
	ctx := context.Background()
	a, b := modules(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "m.wasm"), a)
	out := filepath.Join(dir, "out", "p.wasm")
	build := &registry.Build{Command: `mkdir -p out && cp src/m.wasm out/p.wasm && echo built`, Dir: dir, Watch: []string{src}}
	s := spec("p", out, "g")
	s.Source.Build = build
	r := newRegistry(t)
	if err := r.Apply(ctx, []registry.Spec{s}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p := r.Snapshot().Plugin("p")
	v1 := p.Current().Hash()

	// The watcher's target is the watched directory, every file counted,
	// with the hash of what the version was built from.
	ts := r.Targets()
	if len(ts) != 1 || ts[0].Path != src || !ts[0].Dir || ts[0].Filter == nil || !ts[0].Filter("lib.rs") || ts[0].Filter(".m.swp") {
		t.Fatalf("targets: %+v", ts)
	}
	if h, err := watch.Hash(ts[0]); err != nil || h != ts[0].Hash {
		t.Fatalf("target hash %q, content %q (%v)", ts[0].Hash, h, err)
	}

	write(t, filepath.Join(src, "m.wasm"), b)
	if err := r.Reload(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if v2 := p.Current().Hash(); v2 == v1 {
		t.Fatal("the rebuilt module was not swapped in")
	}
	v2 := p.Current().Hash()

	// A failing build: refused with its output; the old version serves.
	failing := *build
	failing.Command = `echo "error[E0425]: cannot find value x" >&2; exit 3`
	s2 := s
	s2.Guest, s2.Source.Build = "g2", &failing
	if err := r.Apply(ctx, []registry.Spec{s2}, nil, nil); err == nil || !strings.Contains(err.Error(), "cannot find value x") {
		t.Fatalf("a failing build in Apply: %v", err)
	}
	build.Command = `echo "error[E0425]: cannot find value x" >&2; exit 3`
	err := r.Reload(ctx, "p")
	if err == nil || !strings.Contains(err.Error(), "error[E0425]: cannot find value x") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("reload of a failing build: %v", err)
	}
	if ref := p.LastRefusal(); ref == nil || !strings.Contains(ref.Error, "cannot find value x") {
		t.Fatalf("last refusal: %+v", ref)
	}
	if p.Current().Hash() != v2 {
		t.Fatal("a failed build replaced the running version")
	}

	// A build that overruns its timeout is killed, with what it started.
	build.Command, build.Timeout = `sleep 30 & wait`, 200*time.Millisecond
	start := time.Now()
	err = r.Reload(ctx, "p")
	if err == nil || !strings.Contains(err.Error(), "timed out after 200ms") || time.Since(start) > 10*time.Second {
		t.Fatalf("reload of an overrunning build after %v: %v", time.Since(start), err)
	}
}

// Two plugins that watch the same path make one watch target, and a
// change there reloads both.
func TestBuildSharedWatch(t *testing.T) {
	ctx := context.Background()
	a, b := modules(t)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "m.wasm"), a)
	var specs []registry.Spec
	for _, name := range []string{"p", "q"} {
		s := spec(name, filepath.Join(dir, name+".wasm"), "g")
		s.Source.Build = &registry.Build{Command: "cp m.wasm " + name + ".wasm", Dir: dir, Watch: []string{filepath.Join(dir, "m.wasm")}}
		specs = append(specs, s)
	}
	r := newRegistry(t)
	if err := r.Apply(ctx, specs, nil, nil); err != nil {
		t.Fatal(err)
	}
	if ts := r.Targets(); len(ts) != 1 || ts[0].Dir {
		t.Fatalf("targets: %+v", ts)
	}
	before := r.Snapshot().Plugin("q").Current().Hash()
	write(t, filepath.Join(dir, "m.wasm"), b)
	r.ReloadPath(ctx, filepath.Join(dir, "m.wasm"))
	for _, name := range []string{"p", "q"} {
		if r.Snapshot().Plugin(name).Current().Hash() == before {
			t.Errorf("%s was not rebuilt", name)
		}
	}
}
