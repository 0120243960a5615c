package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/specs"
)

// ReloadPlugin loads the plugin name again from its source and swaps the
// new version in if its module changed (see registry.Registry.Reload): a
// version that fails any check is refused and the old one keeps serving.
func (h *Host) ReloadPlugin(ctx context.Context, name string) error {
	if err := h.reg.Reload(ctx, name); err != nil {
		return fmt.Errorf("host: %w", err)
	}
	return nil
}

// ReloadAll reloads the config, then every plugin whose module changed:
// what SIGHUP and POST /v1/admin/reload do.
func (h *Host) ReloadAll(ctx context.Context) error {
	if err := h.Reload(ctx); err != nil {
		return err
	}
	var errs []error
	for _, p := range h.Plugins() {
		if h.reg.Snapshot().Plugin(p.Name) == nil {
			continue // disabled
		}
		if err := h.ReloadPlugin(ctx, p.Name); err != nil {
			errs = append(errs, fmt.Errorf("plugin %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
}

// Reload reads the config file again and applies it: plugins and
// subscriptions added, removed and changed are built new, swapped in, and
// the old ones retired. An invalid config, or one whose new plugins fail
// to load, is refused as a whole (the error has file:line:column where the
// config is at fault) and the running one stays. In deploy mode it applies
// the current release instead, if the host does not run it yet.
func (h *Host) Reload(ctx context.Context) (err error) {
	if h.follower != nil {
		return h.follower.Reload(ctx)
	}
	defer func() { h.metrics.Reload("config", err) }()
	cfg, err := config.Load(h.cfg.Load().File)
	if err != nil {
		h.log.Error("config reload refused; the running config stays", slog.Any("err", err))
		return err
	}
	return h.apply(ctx, cfg)
}

// apply makes cfg the running config: the registry builds every new or
// changed plugin aside, the dispatcher takes the new routes (when the host
// has started), and the new snapshot and config are swapped in. [host] and
// [broker] stay as they are: the listener, data dir, token and broker
// need a restart.
func (h *Host) apply(ctx context.Context, cfg *config.Config) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	old := h.cfg.Load()
	cfg.Host, cfg.Broker = old.Host, old.Broker
	h.mu.Lock()
	started, natives := h.started, h.natives
	h.mu.Unlock()
	commit := h.commit
	if !started {
		commit = nil
	}
	before := len(h.reg.Snapshot().Specs())
	if err := h.reg.Apply(ctx, specs.Plugins(cfg, h.specEnv()), h.otherRoutes(cfg, natives), commit); err != nil {
		h.log.Error("config reload refused; the running config stays", slog.Any("err", err))
		return err
	}
	h.cfg.Store(cfg)
	h.sched.Apply(specs.Schedules(cfg))
	h.srcs.Apply(specs.Sources(cfg))
	h.watcher.Update()
	h.log.Info("config reloaded", slog.Int("plugins", len(h.reg.Snapshot().Specs())), slog.Int("before", before))
	return nil
}

// DeleteSubscription deletes the subscription name, which must not be
// running: its position and the events it holds are dropped (its dead
// letters are kept). A disabled or removed plugin or webhook keeps its
// subscription until then, and handles what arrived meanwhile when it is
// enabled again.
func (h *Host) DeleteSubscription(ctx context.Context, name string) error {
	return h.disp.Delete(ctx, name)
}

// PauseSubscription pauses the subscription name for every daemon sharing
// it: its events wait (and queue up to its limits) until
// ResumeSubscription. The pause is kept by the bus, across restarts on a
// durable one.
func (h *Host) PauseSubscription(ctx context.Context, name string) error {
	return h.disp.Pause(ctx, name)
}

// ResumeSubscription resumes a paused subscription: its events are handled
// in order.
func (h *Host) ResumeSubscription(ctx context.Context, name string) error {
	return h.disp.Resume(ctx, name)
}

// configFile is the config file to watch: none when the config is a
// release.
func (h *Host) configFile() string {
	if h.follower != nil {
		return ""
	}
	return h.cfg.Load().File
}
