package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/host/watch"
)

// Spec is one plugin as the registry runs it.
type Spec struct {
	// Name names the plugin and its subscription.
	Name string
	// Source is where its module comes from.
	Source Source
	// Guest fingerprints everything that makes a loaded version besides
	// the module's bytes: the source's location and the sandbox's options.
	// Apply keeps the running version of a plugin whose Guest is
	// unchanged (a new module under the same path is Reload's), and loads
	// a new one otherwise.
	Guest string
	// Options returns the runtime's options of a new version. Nil means
	// wasm.PluginOptions{Name: Name}.
	Options func() (wasm.PluginOptions, error)
	// Route is the plugin's subscription (delivery settings); the registry
	// sets its Name, Kind and Handler.
	Route dispatch.Route
}

// PluginOptions returns the runtime's options of a new version of s.
func (s *Spec) PluginOptions() (wasm.PluginOptions, error) { return s.options() }

func (s *Spec) options() (wasm.PluginOptions, error) {
	if s.Options == nil {
		return wasm.PluginOptions{Name: s.Name}, nil
	}
	return s.Options()
}

// Options configure a Registry.
type Options struct {
	// Loader loads the plugins. Required.
	Loader *Loader
	// Logger receives reloads and refusals; nil means slog.Default().
	Logger *slog.Logger
	// Reloaded, if set, is told the outcome of every Reload that found a
	// new module (nil error: swapped in; else refused).
	Reloaded func(err error)
}

// Snapshot is the running set of plugins and routes. It is immutable: a
// change makes a new one.
type Snapshot struct {
	specs   []Spec // in the order given to Apply
	plugins map[string]*Plugin
	routes  []dispatch.Route
}

var empty = &Snapshot{plugins: map[string]*Plugin{}}

// Plugin returns the plugin name, or nil.
func (s *Snapshot) Plugin(name string) *Plugin { return s.plugins[name] }

// Spec returns the spec of the plugin name.
func (s *Snapshot) Spec(name string) (Spec, bool) {
	for i := range s.specs {
		if s.specs[i].Name == name {
			return s.specs[i], true
		}
	}
	return Spec{}, false
}

// Specs returns the specs of the running plugins, in Apply's order. The
// caller must not modify them.
func (s *Snapshot) Specs() []Spec { return s.specs }

// Routes returns every route of the snapshot: the plugins', then the
// others given to Apply. The caller must not modify them.
func (s *Snapshot) Routes() []dispatch.Route { return s.routes }

// Stats returns the pool counters of each plugin's current version.
func (s *Snapshot) Stats() map[string]wasm.Stats {
	out := make(map[string]wasm.Stats, len(s.plugins))
	for name, p := range s.plugins {
		out[name] = p.Current().Stats()
	}
	return out
}

// Registry keeps the running Snapshot and changes it. It is safe for
// concurrent use; changes are made one at a time.
type Registry struct {
	loader   *Loader
	log      *slog.Logger
	reloaded func(error)

	mu  sync.Mutex // one change at a time
	cur atomic.Pointer[Snapshot]
}

// New returns a registry with no plugins.
func New(opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Registry{loader: opts.Loader, log: opts.Logger, reloaded: opts.Reloaded}
	r.cur.Store(empty)
	return r
}

// Snapshot returns the running snapshot.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Loader returns the registry's loader.
func (r *Registry) Loader() *Loader { return r.loader }

// Apply makes specs the running plugins, and their routes followed by
// extra the running routes. Every new plugin, and every plugin whose Guest
// changed, is loaded aside first, a few at a time; the others keep their
// running version. Then commit, if not nil, is given the new routes (the
// dispatcher applies them); then the new snapshot is stored, the replaced
// versions and the removed plugins retired. A plugin that fails to load,
// or a commit that fails, refuses the whole change: what was loaded is
// closed and the running snapshot stays.
func (r *Registry) Apply(ctx context.Context, specs []Spec, extra []dispatch.Route, commit func(context.Context, []dispatch.Route) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()

	fresh, err := r.loadChanged(ctx, old, specs)
	if err != nil {
		return err
	}
	next := &Snapshot{specs: append([]Spec(nil), specs...), plugins: make(map[string]*Plugin, len(specs))}
	for i := range next.specs {
		s := &next.specs[i]
		p := old.plugins[s.Name]
		if v, ok := fresh[s.Name]; ok && p == nil {
			p = newPlugin(s.Name, v)
		}
		next.plugins[s.Name] = p
		rt := s.Route
		rt.Name, rt.Kind, rt.Handler = s.Name, api.KindPlugin, p
		next.routes = append(next.routes, rt)
	}
	next.routes = append(next.routes, extra...)
	if commit != nil {
		if err := commit(ctx, next.routes); err != nil {
			for _, v := range fresh {
				v.wasm.Close()
			}
			return err
		}
	}
	// Swap: new versions into the plugins that keep running, then the
	// snapshot; retire what was replaced and what was removed (whose
	// routes the commit stopped).
	var retired []*version
	for name, v := range fresh {
		if p := old.plugins[name]; p != nil {
			retired = append(retired, p.swap(v))
		}
	}
	r.cur.Store(next)
	for name, p := range old.plugins {
		if next.plugins[name] == nil {
			retired = append(retired, p.cur.Load())
		}
	}
	for _, v := range retired {
		v.wasm.Close()
	}
	return nil
}

// loadChanged loads, a few at a time, the plugins of specs that old does
// not run with the same Guest.
func (r *Registry) loadChanged(ctx context.Context, old *Snapshot, specs []Spec) (map[string]*version, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		fresh = map[string]*version{}
		sem   = make(chan struct{}, max(1, runtime.NumCPU()))
	)
	for i := range specs {
		s := &specs[i]
		if prev, ok := old.Spec(s.Name); ok && old.plugins[s.Name] != nil && prev.Guest == s.Guest {
			continue // the watcher reloads its module if the file changed
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			v, err := r.loader.load(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				where := s.Source.Path
				if s.Source.Engine != nil {
					where = "JavaScript engine"
				}
				errs = append(errs, fmt.Errorf("plugin %q (%s): %w", s.Name, where, err))
				return
			}
			fresh[s.Name] = v
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for _, v := range fresh {
			v.wasm.Close()
		}
		return nil, err
	}
	return fresh, nil
}

// Reload loads the plugin name again from its source (building a Go
// source directory first). If the module's content is unchanged nothing
// happens. A new version is compiled, checked and pre-warmed aside, then
// swapped in atomically: calls that start after the swap run on it, calls
// in flight finish on the old version, which is closed when its last call
// returns. A version that fails any check is refused with a log line and
// the old one keeps serving; the refusal is returned and kept for
// Plugin.LastRefusal.
func (r *Registry) Reload(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := r.cur.Load()
	spec, ok := snap.Spec(name)
	p := snap.plugins[name]
	if !ok || p == nil {
		return fmt.Errorf("registry: no running plugin %q", name)
	}
	start := time.Now()
	bin, srcs, err := r.loader.read(ctx, spec.Source)
	var opts wasm.PluginOptions
	if err == nil {
		opts, err = spec.options() // reads config_file values again
	}
	cfg := configDigest(opts.Config)
	if cur := p.cur.Load(); err == nil && wasm.Hash(bin) == cur.wasm.Hash() && cfg == cur.cfg {
		return nil // same content: a touch, or a rebuild to the same bytes
	}
	var w *wasm.Plugin
	if err == nil {
		w, err = r.loader.rt.Load(ctx, bin, opts)
	}
	if r.reloaded != nil {
		r.reloaded(err)
	}
	if err != nil {
		p.refuse(err, bin)
		r.log.Error("plugin reload refused; the old version keeps serving",
			slog.String("plugin", name), slog.String("version", p.Current().Hash()[:12]), slog.Any("err", err))
		return err
	}
	old := p.swap(&version{wasm: w, srcs: srcs, cfg: cfg})
	old.wasm.Close()
	r.log.Info("plugin reloaded", slog.String("plugin", name), slog.String("from", old.wasm.Hash()[:12]),
		slog.String("to", w.Hash()[:12]), slog.Bool("new_config", cfg != old.cfg), slog.Duration("took", time.Since(start)))
	return nil
}

// ReloadPath reloads every running plugin whose source is path: its .wasm
// file or Go source directory, or one of its build's watch paths.
func (r *Registry) ReloadPath(ctx context.Context, path string) {
	for _, s := range r.Snapshot().Specs() {
		for _, t := range s.Source.targets() {
			if filepath.Clean(t.Path) == filepath.Clean(path) {
				r.Reload(ctx, s.Name)
				break
			}
		}
	}
}

// targets returns what the watcher watches for s: its .wasm file or Go
// source directory, or its build's watch paths (a module pinned by digest
// never changes).
func (s Source) targets() []watch.Target {
	switch {
	case s.Digest != "":
		return nil
	case s.Build != nil:
		return s.Build.targets()
	case s.Engine != nil:
		return nil // the engine's module does not change while evhost runs
	}
	return []watch.Target{{Path: s.Path, Dir: !s.IsWasmFile()}}
}

// Targets returns what the file watcher must watch: each running plugin's
// .wasm file, Go source directory or build's watch paths, with the hash of
// the content its version came from. A path two plugins watch is given
// once (ReloadPath reloads both).
func (r *Registry) Targets() []watch.Target {
	snap := r.Snapshot()
	var ts []watch.Target
	seen := map[string]bool{}
	for _, s := range snap.specs {
		for _, t := range s.Source.targets() {
			if seen[filepath.Clean(t.Path)] {
				continue
			}
			seen[filepath.Clean(t.Path)] = true
			if p := snap.plugins[s.Name]; p != nil {
				t.Hash = p.cur.Load().srcs[t.Path]
			}
			ts = append(ts, t)
		}
	}
	return ts
}

// Close retires every running version. The registry must not be used
// after.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.cur.Load().plugins {
		p.Current().Close()
	}
	r.cur.Store(empty)
}
