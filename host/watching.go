package host

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/evhost/evhost/host/watch"
)

// reloadDebounce is how long a file must be quiet before its content is
// judged: short, so that a saved plugin serves within the targets of the
// hot-reload issue; a writer that pauses longer mid-write has its partial
// module refused (the old version keeps serving) and the final write
// loads.
const reloadDebounce = 30 * time.Millisecond

// startWatching watches the config file and every plugin's path, and
// reloads what changes, until Close.
func (h *Host) startWatching() error {
	w, err := watch.New(watch.Options{Debounce: reloadDebounce, Logger: h.log.With(slog.String("component", "watch"))})
	if err != nil {
		return err
	}
	h.watcher = w
	h.updateWatch()
	h.watchDone = make(chan struct{})
	go func() {
		defer close(h.watchDone)
		for c := range w.Changes() {
			h.onChange(c)
		}
	}()
	return nil
}

// updateWatch gives the watcher the current targets: the config file and
// each plugin's .wasm file or Go source directory.
func (h *Host) updateWatch() {
	if h.watcher == nil {
		return
	}
	h.mu.Lock()
	targets := []watch.Target{}
	if h.cfg.File != "" && h.deploy == nil { // in deploy mode the config is a release
		targets = append(targets, watch.Target{Path: h.cfg.File})
	}
	for i := range h.cfg.Plugins {
		p := &h.cfg.Plugins[i]
		if !p.Enabled || p.Digest != "" { // a module pinned by digest never changes
			continue
		}
		t := watch.Target{Path: p.ResolvedPath, Dir: !p.IsWasmFile()}
		if ph, ok := h.plugins[p.Name]; ok {
			t.Hash = ph.srcHash
		}
		targets = append(targets, t)
	}
	h.mu.Unlock()
	if err := h.watcher.Set(targets); err != nil {
		h.log.Warn("watching plugin and config files", slog.Any("err", err))
	}
}

// onChange reloads what a change names.
func (h *Host) onChange(c watch.Change) {
	ctx := context.Background()
	h.mu.Lock()
	isConfig := c.Path == h.cfg.File
	var names []string
	for i := range h.cfg.Plugins {
		if filepath.Clean(h.cfg.Plugins[i].ResolvedPath) == filepath.Clean(c.Path) {
			names = append(names, h.cfg.Plugins[i].Name)
		}
	}
	h.mu.Unlock()
	if c.Removed {
		h.log.Warn("a watched file was removed; the loaded version keeps serving", slog.String("path", c.Path))
		return
	}
	if isConfig {
		h.log.Info("config file changed", slog.String("path", c.Path))
		h.Reload(ctx)
		return
	}
	for _, name := range names {
		h.ReloadPlugin(ctx, name)
	}
}

// stopWatching stops the watcher and waits for a reload in progress.
func (h *Host) stopWatching() {
	if h.watcher == nil {
		return
	}
	h.watcher.Close()
	<-h.watchDone
}
