package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"sync"
	"time"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/wasm"
)

// PluginInfo describes a plugin as GET /v1/plugins shows it.
type PluginInfo struct {
	Name     string     `json:"name"`
	Path     string     `json:"path"`
	Events   []string   `json:"events"`
	Kind     string     `json:"kind,omitempty"`
	Version  string     `json:"version,omitempty"` // sha256 of the module serving now
	LoadedAt time.Time  `json:"loaded_at,omitzero"`
	Stats    wasm.Stats `json:"stats"`
	// LastRefusal is the last new version that was refused (the old one
	// kept serving), if any since the current one was loaded.
	LastRefusal *Refusal `json:"last_refusal,omitempty"`
}

// Refusal records a refused reload.
type Refusal struct {
	Time    time.Time `json:"time"`
	Version string    `json:"version,omitempty"`
	Error   string    `json:"error"`
}

// Plugins returns what serves each plugin now.
func (h *Host) Plugins() []PluginInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []PluginInfo
	for i := range h.cfg.Plugins {
		p := &h.cfg.Plugins[i]
		info := PluginInfo{Name: p.Name, Path: p.Path, Events: p.Events}
		if ph, ok := h.plugins[p.Name]; ok {
			v := ph.cur.Load()
			info.Kind, info.Version, info.LoadedAt, info.Stats = v.Kind().String(), v.Hash(), v.LoadedAt(), v.Stats()
			info.LastRefusal = ph.lastRefusal()
		}
		out = append(out, info)
	}
	return out
}

// ReloadPlugin loads the plugin name again from its path (building a Go
// source directory first). If the module's content is unchanged nothing
// happens. A new version is compiled, checked and pre-warmed off to the
// side, then swapped in atomically: calls that start after the swap run on
// it, calls in flight finish on the old version, which is closed when its
// last call returns. A version that fails any check is refused with a log
// line and the old one keeps serving; the refusal is returned and kept for
// GET /v1/plugins.
func (h *Host) ReloadPlugin(ctx context.Context, name string) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	p := h.cfg.Plugin(name)
	ph := h.plugins[name]
	h.mu.Unlock()
	if p == nil || ph == nil {
		return fmt.Errorf("host: no running plugin %q", name)
	}
	start := time.Now()
	bin, src, err := h.readPlugin(ctx, p, h.dataDir())
	if err == nil && wasm.Hash(bin) == ph.cur.Load().Hash() {
		return nil // same content: a touch, or a rebuild to the same bytes
	}
	var v *wasm.Plugin
	if err == nil {
		var opts wasm.PluginOptions
		if opts, err = h.pluginOptions(p); err == nil {
			v, err = h.rt.Load(ctx, bin, opts)
		}
	}
	if err != nil {
		h.metrics.reload("plugin", err)
		ph.refuse(err, bin)
		h.log.Error("plugin reload refused; the old version keeps serving",
			slog.String("plugin", name), slog.String("version", ph.cur.Load().Hash()[:12]), slog.Any("err", err))
		return err
	}
	old := ph.swap(v)
	h.mu.Lock()
	ph.srcHash = src
	h.mu.Unlock()
	old.Close()
	h.metrics.reload("plugin", nil)
	h.log.Info("plugin reloaded", slog.String("plugin", name), slog.String("from", old.Hash()[:12]),
		slog.String("to", v.Hash()[:12]), slog.Duration("took", time.Since(start)))
	return nil
}

// Reload reads the config file again and applies it: plugins and
// subscriptions added, removed and changed are built new, swapped in, and
// the old ones retired. An invalid config, or one whose new plugins fail
// to load, is refused as a whole (the error has file:line:column where the
// config is at fault) and the running one stays. In deploy mode it applies
// the current release instead, if the host does not run it yet.
func (h *Host) Reload(ctx context.Context) (err error) {
	if h.deploy != nil {
		return h.reloadRelease(ctx)
	}
	defer func() { h.metrics.reload("config", err) }()
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	file := h.cfg.File
	h.mu.Unlock()
	cfg, err := config.Load(file)
	if err != nil {
		h.log.Error("config reload refused; the running config stays", slog.Any("err", err))
		return err
	}
	return h.apply(ctx, cfg)
}

// apply swaps in cfg (see Reload).
func (h *Host) apply(ctx context.Context, cfg *config.Config) error {
	h.mu.Lock()
	oldCfg := h.cfg
	cfg.Host = oldCfg.Host // the listener, data dir and token need a restart
	cfg.Broker = oldCfg.Broker
	h.mu.Unlock()

	// Build every new or changed plugin off to the side first.
	fresh := map[string]*pluginHandler{}
	var errs []error
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if !p.Enabled {
			continue
		}
		op := oldCfg.Plugin(p.Name)
		h.mu.Lock()
		ph := h.plugins[p.Name]
		h.mu.Unlock()
		if ph != nil && op != nil && op.Enabled && sameGuest(op, p) {
			continue // the watcher reloads its module if the file changed
		}
		nph, err := h.loadPlugin(ctx, p, h.dataDir())
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q (%s): %w", p.Name, p.Path, err))
			continue
		}
		fresh[p.Name] = nph
	}
	if len(errs) > 0 {
		for _, nph := range fresh {
			nph.cur.Load().Close()
		}
		err := errors.Join(errs...)
		h.log.Error("config reload refused; the running config stays", slog.Any("err", err))
		return err
	}

	// Swap: new versions into the handlers of running plugins at once; new
	// plugins and the new config become visible once their routes are
	// subscribed, so that whoever sees a new plugin can count on its
	// subscription receiving the events published from then on.
	var retired []*wasm.Plugin
	h.mu.Lock()
	next := maps.Clone(h.plugins)
	for name, nph := range fresh {
		if ph, ok := next[name]; ok {
			retired = append(retired, ph.swap(nph.cur.Load()))
			ph.srcHash = nph.srcHash
		} else {
			next[name] = nph
		}
	}
	removed := map[string]*pluginHandler{}
	for name, ph := range next {
		if p := cfg.Plugin(name); p == nil || !p.Enabled {
			removed[name] = ph
			delete(next, name)
		}
	}
	routes := h.routesOf(cfg, next)
	started := h.started
	h.mu.Unlock()
	if started {
		h.metrics.applied(routes)
		if err := h.disp.Apply(ctx, routes); err != nil {
			h.log.Error("applying the reloaded routes", slog.Any("err", err))
			return err
		}
	}
	h.mu.Lock()
	h.plugins, h.cfg = next, cfg
	h.mu.Unlock()
	// The removed routes have stopped: retire their plugins too.
	for _, ph := range removed {
		retired = append(retired, ph.cur.Load())
	}
	for _, v := range retired {
		v.Close()
	}
	h.updateWatch()
	h.log.Info("config reloaded", slog.Int("plugins", len(h.plugins)), slog.Int("new_versions", len(fresh)),
		slog.Int("removed", len(removed)))
	return nil
}

// sameGuest reports whether two configs of a plugin load the same guest:
// same module path and same sandbox options. Delivery settings (events,
// concurrency, retries) are applied by the dispatcher without a reload of
// the module.
func sameGuest(a, b *config.Plugin) bool {
	return a.ResolvedPath == b.ResolvedPath && a.Digest == b.Digest &&
		a.GuestLimits == b.GuestLimits &&
		a.Timeout == b.Timeout && a.Concurrency == b.Concurrency &&
		reflect.DeepEqual(a.Config, b.Config) &&
		reflect.DeepEqual(a.Env, b.Env) &&
		reflect.DeepEqual(a.Emits, b.Emits) &&
		reflect.DeepEqual(a.AllowedHosts, b.AllowedHosts) &&
		a.KV == b.KV
}

func (h *Host) dataDir() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.Host.ResolvedDataDir == "" {
		return "data"
	}
	return h.cfg.Host.ResolvedDataDir
}

// refusals keeps a plugin handler's last refused reload.
type refusals struct {
	mu   sync.Mutex
	last *Refusal
}

func (ph *pluginHandler) refuse(err error, bin []byte) {
	r := &Refusal{Time: time.Now().UTC(), Error: err.Error()}
	if bin != nil {
		r.Version = wasm.Hash(bin)
	}
	ph.refusals.mu.Lock()
	ph.refusals.last = r
	ph.refusals.mu.Unlock()
}

func (ph *pluginHandler) lastRefusal() *Refusal {
	ph.refusals.mu.Lock()
	defer ph.refusals.mu.Unlock()
	if ph.refusals.last == nil || ph.refusals.last.Time.Before(ph.cur.Load().LoadedAt()) {
		return nil
	}
	r := *ph.refusals.last
	return &r
}
