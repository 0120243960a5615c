package host

import (
	"context"
	"log/slog"
	"time"

	"github.com/evhost/evhost/host/watch"
)

// reloadDebounce is how long a file must be quiet before its content is
// judged: short, so that a saved plugin serves within the targets of the
// hot-reload issue; a writer that pauses longer mid-write has its partial
// module refused (the old version keeps serving) and the final write
// loads.
const reloadDebounce = 30 * time.Millisecond

// watcher reloads what changes on disk: the config file, and each
// plugin's .wasm file or Go source directory.
type watcher struct {
	h    *Host
	w    *watch.Watcher
	done chan struct{}
}

// startWatching watches the config file and every plugin's source, and
// reloads what changes, until Close.
func (h *Host) startWatching() (*watcher, error) {
	w, err := watch.New(watch.Options{Debounce: reloadDebounce, Logger: h.log.With(slog.String("component", "watch"))})
	if err != nil {
		return nil, err
	}
	wt := &watcher{h: h, w: w, done: make(chan struct{})}
	wt.update()
	go func() {
		defer close(wt.done)
		for c := range w.Changes() {
			wt.onChange(c)
		}
	}()
	return wt, nil
}

// update gives the watcher the current targets: the config file (unless
// the config is a release) and the registry's plugin sources.
func (wt *watcher) update() {
	if wt == nil {
		return
	}
	var targets []watch.Target
	if f := wt.h.cfg.Load().File; f != "" && wt.h.follower == nil {
		targets = append(targets, watch.Target{Path: f})
	}
	targets = append(targets, wt.h.reg.Targets()...)
	if err := wt.w.Set(targets); err != nil {
		wt.h.log.Warn("watching plugin and config files", slog.Any("err", err))
	}
}

// onChange reloads what a change names.
func (wt *watcher) onChange(c watch.Change) {
	ctx := context.Background()
	if c.Removed {
		wt.h.log.Warn("a watched file was removed; the loaded version keeps serving", slog.String("path", c.Path))
		return
	}
	if c.Path == wt.h.cfg.Load().File {
		wt.h.log.Info("config file changed", slog.String("path", c.Path))
		wt.h.Reload(ctx)
		return
	}
	wt.h.reg.ReloadPath(ctx, c.Path)
}

// stop stops the watcher and waits for a reload in progress.
func (wt *watcher) stop() {
	if wt == nil {
		return
	}
	wt.w.Close()
	<-wt.done
}
