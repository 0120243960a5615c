package hotreload

import (
	"context"
	"log/slog"
	"time"

	"github.com/evhost/evhost/host/watch"
)

// Debounce is how long a file must be quiet before its content is judged:
// short, so that a saved plugin serves within the targets of the
// hot-reload issue; a writer that pauses longer mid-write has its partial
// module refused (the old version keeps serving) and the final write
// loads.
const Debounce = 30 * time.Millisecond

// Options are the callbacks of a Reloader.
type Options struct {
	// ConfigFile returns the config file to watch, or "" for none (a
	// config given as a release is not a file).
	ConfigFile func() string
	// Targets returns the plugins' sources to watch.
	Targets func() []watch.Target
	// Config reloads the config file.
	Config func(ctx context.Context)
	// Path reloads the plugin whose source path is.
	Path   func(ctx context.Context, path string)
	Logger *slog.Logger
}

// Reloader watches the config file and every plugin's source, and reloads
// what changes, until Close.
type Reloader struct {
	o    Options
	w    *watch.Watcher
	done chan struct{}
}

// Start watches the targets Options name now; call Update when they
// change.
func Start(o Options) (*Reloader, error) {
	w, err := watch.New(watch.Options{Debounce: Debounce, Logger: o.Logger.With(slog.String("component", "watch"))})
	if err != nil {
		return nil, err
	}
	r := &Reloader{o: o, w: w, done: make(chan struct{})}
	r.Update()
	go func() {
		defer close(r.done)
		for c := range w.Changes() {
			r.onChange(c)
		}
	}()
	return r, nil
}

// Update gives the watcher the current targets. A nil Reloader does
// nothing.
func (r *Reloader) Update() {
	if r == nil {
		return
	}
	var targets []watch.Target
	if f := r.o.ConfigFile(); f != "" {
		targets = append(targets, watch.Target{Path: f})
	}
	targets = append(targets, r.o.Targets()...)
	if err := r.w.Set(targets); err != nil {
		r.o.Logger.Warn("watching plugin and config files", slog.Any("err", err))
	}
}

// onChange reloads what a change names.
func (r *Reloader) onChange(c watch.Change) {
	ctx := context.Background()
	if c.Removed {
		r.o.Logger.Warn("a watched file was removed; the loaded version keeps serving", slog.String("path", c.Path))
		return
	}
	if f := r.o.ConfigFile(); f != "" && c.Path == f {
		r.o.Logger.Info("config file changed", slog.String("path", c.Path))
		r.o.Config(ctx)
		return
	}
	r.o.Path(ctx, c.Path)
}

// Close stops the watcher and waits for a reload in progress. A nil
// Reloader does nothing.
func (r *Reloader) Close() {
	if r == nil {
		return
	}
	r.w.Close()
	<-r.done
}
