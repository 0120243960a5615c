package registry_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// modules returns two different valid modules, both answering done to an
// event without data.
func modules(t *testing.T) (a, b []byte) {
	t.Helper()
	return wasmbuild.WATFile(t, filepath.Join("..", "wasm", "testdata", "echo.wat")),
		wasmbuild.WATFile(t, filepath.Join("..", "wasm", "testdata", "trivial.wat"))
}

func newRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	rt, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(context.Background()) })
	log := slog.New(slog.DiscardHandler)
	return registry.New(registry.Options{Loader: registry.NewLoader(rt, t.TempDir(), nil, log), Logger: log})
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func spec(name, path, guest string) registry.Spec {
	return registry.Spec{Name: name, Source: registry.Source{Path: path}, Guest: guest,
		Route: dispatch.Route{Patterns: []string{"t"}}}
}

func ev() *event.Event { return &event.Event{ID: "1", Source: "test", Type: "t", SpecVersion: "1.0"} }

// closed reports whether a version has been retired and its last instance
// closed.
func closed(p *wasm.Plugin) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// Apply builds aside and swaps in one step: an unchanged Guest keeps the
// running version, a changed one gets a new version and retires the old,
// and a load or a commit that fails leaves the running snapshot as it was.
func TestApplySwapsOneSnapshot(t *testing.T) {
	ctx := context.Background()
	a, _ := modules(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wasm")
	write(t, path, a)
	r := newRegistry(t)

	var committed []dispatch.Route
	commit := func(_ context.Context, rs []dispatch.Route) error { committed = rs; return nil }
	if err := r.Apply(ctx, []registry.Spec{spec("p", path, "g1")}, []dispatch.Route{{Name: "other"}}, commit); err != nil {
		t.Fatal(err)
	}
	s1 := r.Snapshot()
	p := s1.Plugin("p")
	if p == nil || len(committed) != 2 || committed[0].Name != "p" || committed[0].Kind != api.KindPlugin ||
		committed[0].Handler != dispatch.Handler(p) || committed[1].Name != "other" {
		t.Fatalf("committed routes %+v, plugin %v", committed, p)
	}
	v1 := p.Current()

	// Same guest: the running version stays, the snapshot is new.
	if err := r.Apply(ctx, []registry.Spec{spec("p", path, "g1")}, nil, commit); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot() == s1 || r.Snapshot().Plugin("p") != p || p.Current() != v1 {
		t.Fatal("an unchanged guest was reloaded")
	}

	// A plugin that does not load refuses the whole change.
	s2 := r.Snapshot()
	bad := []registry.Spec{spec("p", path, "g2"), spec("q", filepath.Join(dir, "missing.wasm"), "g1")}
	if err := r.Apply(ctx, bad, nil, commit); err == nil {
		t.Fatal("a missing module was accepted")
	}
	if r.Snapshot() != s2 || p.Current() != v1 || closed(v1) {
		t.Fatal("a refused change touched the running snapshot")
	}

	// A commit that fails refuses the change too.
	errCommit := errors.New("dispatcher says no")
	if err := r.Apply(ctx, []registry.Spec{spec("p", path, "g2")}, nil, func(context.Context, []dispatch.Route) error { return errCommit }); !errors.Is(err, errCommit) {
		t.Fatalf("err = %v, want the commit's", err)
	}
	if r.Snapshot() != s2 || p.Current() != v1 {
		t.Fatal("a refused commit touched the running snapshot")
	}

	// A changed guest: a new version in the same Plugin, the old retired.
	if err := r.Apply(ctx, []registry.Spec{spec("p", path, "g2")}, nil, commit); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().Plugin("p") != p || p.Current() == v1 {
		t.Fatal("a changed guest kept its version")
	}
	<-v1.Done()

	// Removed: retired with the change.
	v2 := p.Current()
	if err := r.Apply(ctx, nil, nil, commit); err != nil {
		t.Fatal(err)
	}
	if r.Snapshot().Plugin("p") != nil || len(committed) != 0 {
		t.Fatalf("removed plugin still runs: %+v", committed)
	}
	<-v2.Done()
}

// Reload swaps a new module in while calls run, and none of them fails; a
// module that does not load is refused and the old version keeps serving.
func TestReloadNeverFailsACall(t *testing.T) {
	ctx := context.Background()
	a, b := modules(t)
	path := filepath.Join(t.TempDir(), "p.wasm")
	write(t, path, a)
	r := newRegistry(t)
	if err := r.Apply(ctx, []registry.Spec{spec("p", path, "g")}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p := r.Snapshot().Plugin("p")

	stop := make(chan struct{})
	var wg sync.WaitGroup
	failures := make(chan dispatch.Outcome, 100)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if out := p.Handle(ctx, ev(), 1); out.Status != dispatch.Done {
					select {
					case failures <- out:
					default:
					}
				}
			}
		}()
	}
	for i := range 10 {
		next := a
		if i%2 == 0 {
			next = b
		}
		write(t, path, next)
		if err := r.Reload(ctx, "p"); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if p.Current().Hash() != wasm.Hash(next) {
			t.Fatalf("reload %d: serving %s", i, p.Current().Hash())
		}
	}
	close(stop)
	wg.Wait()
	close(failures)
	for out := range failures {
		t.Errorf("a call failed across a swap: %s %s", out.Status, out.Reason)
	}

	serving := p.Current()
	write(t, path, []byte("not wasm"))
	if err := r.Reload(ctx, "p"); err == nil {
		t.Fatal("garbage was swapped in")
	}
	if p.Current() != serving || p.LastRefusal() == nil || p.LastRefusal().Version != wasm.Hash([]byte("not wasm")) {
		t.Fatalf("after a refusal: serving %v, refusal %+v", p.Current() == serving, p.LastRefusal())
	}
	if got := p.Handle(ctx, ev(), 1); got.Status != dispatch.Done {
		t.Fatalf("the old version stopped serving: %+v", got)
	}
}

// A reload with the same module but a new config value (a JavaScript
// handler's source, read again from its file) swaps a new version in; a
// reload where neither changed keeps the running one.
func TestReloadSeesNewConfig(t *testing.T) {
	ctx := context.Background()
	a, _ := modules(t)
	dir := t.TempDir()
	path, src := filepath.Join(dir, "p.wasm"), filepath.Join(dir, "handler.js")
	write(t, path, a)
	write(t, src, []byte("v1"))
	r := newRegistry(t)
	s := spec("p", path, "g")
	s.Options = func() (wasm.PluginOptions, error) {
		b, err := os.ReadFile(src)
		return wasm.PluginOptions{Name: "p", Config: map[string]string{"source": string(b)}}, err
	}
	if err := r.Apply(ctx, []registry.Spec{s}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p := r.Snapshot().Plugin("p")
	v1 := p.Current()
	if err := r.Reload(ctx, "p"); err != nil || p.Current() != v1 {
		t.Fatalf("a reload with nothing changed: %v, swapped %v", err, p.Current() != v1)
	}
	write(t, src, []byte("v2"))
	if err := r.Reload(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	if p.Current() == v1 {
		t.Fatal("a new config value did not swap a new version in")
	}
	<-v1.Done()
}
