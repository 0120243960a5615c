// Package host is evhost as a Go library, and the composition root of the
// daemon: it turns a config.Config into a running event host (the wasm
// runtime and its plugins, the bus, the dispatcher, the HTTP API) and lets
// a Go program publish events and register native Go handlers beside the
// wasm ones.
//
// Architecture, dependencies pointing down:
//
//	host (this package: config -> components, Run, Close)
//	 ├─ httpapi   ingest and admin over HTTP
//	 ├─ dispatch  subscriptions -> bounded concurrent handler calls -> Ack/Nak/Term
//	 ├─ wasm      plugins: compile, check, pool, sandbox, ABI v1
//	 ├─ bus       the broker contract; natsbus (JetStream, embedded or a cluster), membus (in-process)
//	 ├─ config    TOML -> Config
//	 └─ event     the Event value, envelope and JSON codecs, patterns
//
// Only this package imports config; the others take their own options.
package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/gobuild"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/telemetry"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/host/watch"
	"go.opentelemetry.io/otel/trace"
)

// Options are the parts of a Host that do not come from the config.
type Options struct {
	// Logger receives the host's and the plugins' log lines. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Bus, when set, replaces the broker the config names (tests,
	// embedding). The Host closes it.
	Bus bus.Bus
	// Observer, when set, is told about every handled delivery.
	Observer dispatch.Observer
	// Watch reloads a plugin the moment its file (or Go source directory)
	// changes, and the config when the config file changes.
	Watch bool
	// Deployed puts the host in deploy mode (see deploy.go): the config
	// given to New supplies [host] and [broker] only, and the plugins,
	// defaults and webhooks come from the current release in the deploy
	// store of the NATS broker; each new release is applied as a config
	// reload. It needs a NATS broker.
	Deployed bool
	// TracerProvider, when set, makes the spans of ingest, handler runs
	// and webhook deliveries (an application's own OpenTelemetry set-up),
	// and [tracing] is ignored. The Host does not shut it down.
	TracerProvider trace.TracerProvider
}

// Host is a running set of subscriptions over one bus. Create it with New,
// register native handlers with Handle, then Start it (or Run it, which
// also serves the HTTP API), and Close it.
type Host struct {
	cfg      *config.Config
	log      *slog.Logger
	rt       *wasm.Runtime
	bus      bus.Bus
	nbus     *natsbus.Bus     // the same bus when it is NATS: KV spaces and run records live beside it
	runStore runlog.Store     // records of handler runs
	recorder *runlog.Recorder // feeds runStore from the dispatcher's workers
	metrics  *metrics         // served on /metrics (metrics.go)
	disp     *dispatch.Dispatcher
	tracer   *telemetry.Tracer // nil: tracing off

	draining atomic.Bool
	addr     atomic.Value // string

	reloadMu  sync.Mutex // one reload at a time
	watcher   *watch.Watcher
	watchDone chan struct{}
	kvMu      sync.Mutex
	kv        map[string]kv.Store  // per plugin, across its versions
	deploys   *natsbus.DeployStore // modules pinned by digest (kvMu)
	deploy    *deployState         // deploy mode, or nil

	mu      sync.Mutex
	api     *httpapi.Server
	plugins map[string]*pluginHandler
	natives []dispatch.Route
	hooks   webhookSet // the [[webhooks]] endpoints (webhooks.go)
	started bool
	closed  bool
}

// New builds a host from cfg: it opens the bus, creates the wasm runtime
// with its compilation cache under the data directory, and loads (building
// Go source directories first) every enabled plugin. Nothing runs until
// Start.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *Host, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// h, not a named result: a failure returns nil, and the deferred Close
	// must still see what was built so far.
	h := &Host{cfg: cfg, log: opts.Logger, plugins: map[string]*pluginHandler{}}
	h.metrics = newMetrics(h)
	defer func() {
		if err != nil {
			h.Close(context.Background())
		}
	}()
	dataDir := cfg.Host.ResolvedDataDir
	if dataDir == "" {
		dataDir = "data"
	}
	h.bus = opts.Bus
	if h.bus == nil {
		if h.bus, h.nbus, err = openBus(ctx, cfg, dataDir, h.log); err != nil {
			return nil, err
		}
	} else if nb, ok := opts.Bus.(*natsbus.Bus); ok {
		h.nbus = nb
	}
	if opts.TracerProvider != nil {
		h.tracer = telemetry.New(opts.TracerProvider)
	} else if h.tracer, err = telemetry.Open(cfg.Tracing); err != nil {
		return nil, err
	}
	if opts.Deployed {
		if err := h.openDeploy(ctx); err != nil {
			return nil, err
		}
	}
	h.rt, err = wasm.NewRuntime(ctx, wasm.RuntimeOptions{
		CacheDir: filepath.Join(dataDir, "cache", "wazero"),
		Logger:   h.log,
	})
	if err != nil {
		return nil, err
	}
	if err := h.loadPlugins(ctx, dataDir); err != nil {
		return nil, err
	}
	if err := h.openRuns(ctx, cfg); err != nil {
		return nil, err
	}
	h.disp = dispatch.New(h.bus, dispatch.Options{Logger: h.log, Observer: observer{m: h.metrics, rec: h.recorder, next: opts.Observer}})
	if opts.Watch {
		if err := h.startWatching(); err != nil {
			return nil, err
		}
	}
	if h.deploy != nil {
		if err := h.startReleaseWatch(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// loadPlugins loads every enabled plugin, a few at a time.
func (h *Host) loadPlugins(ctx context.Context, dataDir string) error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, max(1, runtime.NumCPU()))
	)
	for i := range h.cfg.Plugins {
		p := &h.cfg.Plugins[i]
		if !p.Enabled {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ph, err := h.loadPlugin(ctx, p, dataDir)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("plugin %q (%s): %w", p.Name, p.Path, err))
				return
			}
			h.plugins[p.Name] = ph
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (h *Host) loadPlugin(ctx context.Context, p *config.Plugin, dataDir string) (*pluginHandler, error) {
	start := time.Now()
	bin, src, err := h.readPlugin(ctx, p, dataDir)
	if err != nil {
		return nil, err
	}
	opts, err := h.pluginOptions(p)
	if err != nil {
		return nil, err
	}
	v, err := h.rt.Load(ctx, bin, opts)
	if err != nil {
		return nil, err
	}
	h.log.Info("plugin loaded", slog.String("plugin", p.Name), slog.String("kind", v.Kind().String()),
		slog.String("version", v.Hash()[:12]), slog.Duration("took", time.Since(start)))
	ph := &pluginHandler{name: p.Name, srcHash: src}
	ph.cur.Store(v)
	return ph, nil
}

// readPlugin returns the module bytes of p: the module of its digest from
// the deploy store (cached under the data directory), its .wasm file, or
// the build of its Go package directory; and the content hash of that
// source, as the watcher computes it.
func (h *Host) readPlugin(ctx context.Context, p *config.Plugin, dataDir string) (bin []byte, src string, err error) {
	if p.Digest != "" {
		bin, err = h.fetchModule(ctx, p.Digest, dataDir)
		return bin, watch.HashBytes(bin), err
	}
	if p.IsWasmFile() {
		bin, err = os.ReadFile(p.ResolvedPath)
		return bin, watch.HashBytes(bin), err
	}
	fi, err := os.Stat(p.ResolvedPath)
	if err != nil {
		return nil, "", err
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("path is neither a .wasm file nor a Go package directory")
	}
	src, err = watch.Hash(watch.Target{Path: p.ResolvedPath, Dir: true})
	if err != nil {
		return nil, "", err
	}
	bin, err = gobuild.Build(ctx, p.ResolvedPath, filepath.Join(dataDir, "tmp"))
	return bin, src, err
}

// pluginOptions maps a plugin's config to the runtime's options.
func (h *Host) pluginOptions(p *config.Plugin) (wasm.PluginOptions, error) {
	o := wasm.PluginOptions{
		Name:         p.Name,
		Timeout:      p.Timeout,
		MemoryLimit:  uint64(p.Memory),
		MaxEmits:     p.MaxEmits,
		MaxDepth:     p.MaxDepth,
		MaxLogBytes:  int(p.MaxLogBytes),
		MinInstances: p.MinInstances,
		MaxInstances: p.MaxInstances,
		MaxCalls:     p.MaxCalls,
		MaxAge:       p.MaxAge,
		Env:          p.Env,
		Logger:       h.log.With(slog.String("subscription", p.Name)), // the plugin serves the subscription of its name
		Config:       map[string]string{},
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = max(1, p.Concurrency)
	}
	if o.MaxCalls <= 0 {
		o.MaxCalls = math.MaxInt
	}
	if o.MaxAge <= 0 {
		o.MaxAge = math.MaxInt64
	}
	for k := range p.Config {
		if v, ok := p.ConfigText(k); ok {
			o.Config[k] = v
		}
	}
	if p.KV.Enabled {
		s, err := h.kvStore(p)
		if err != nil {
			return o, fmt.Errorf("kv: %w", err)
		}
		o.KV = s
	}
	if len(p.AllowedHosts) > 0 {
		c, err := h.httpCapability(p, o.Timeout)
		if err != nil {
			return o, fmt.Errorf("allowed_hosts: %w", err)
		}
		o.HTTP = c
	}
	if p.Emits != nil {
		pats, err := event.ParsePatterns(p.Emits)
		if err != nil {
			return o, fmt.Errorf("emits: %w", err)
		}
		o.AllowEmit = func(t string) bool { return event.MatchAny(pats, t) }
	}
	return o, nil
}

// kvStore returns the plugin's key-value space, the same for every version
// of the plugin: a JetStream KV bucket when the broker is NATS (shared by
// every daemon and kept across restarts), else one in memory.
func (h *Host) kvStore(p *config.Plugin) (kv.Store, error) {
	h.kvMu.Lock()
	defer h.kvMu.Unlock()
	if h.kv == nil {
		h.kv = map[string]kv.Store{}
	}
	if s, ok := h.kv[p.Name]; ok {
		return s, nil
	}
	var s kv.Store
	if h.nbus != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		s, err = natsbus.KV(ctx, h.nbus, p.Name, natsbus.KVOptions{MaxValueSize: int(p.KV.MaxValueBytes), MaxBytes: int64(p.KV.MaxBytes)})
		if err != nil {
			return nil, err
		}
	} else {
		s = kv.NewMemory(int(p.KV.MaxBytes))
	}
	h.kv[p.Name] = s
	return s, nil
}

// Handle registers a native Go handler as a subscription named name, for
// the event types that patterns select, beside the config's plugins. It
// must be called before Start. The route takes the [defaults] limits.
func (h *Host) Handle(name string, patterns []string, fn NativeFunc) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		return errors.New("host: Handle after Start")
	}
	if _, clash := h.plugins[name]; clash {
		return fmt.Errorf("host: a plugin is already named %q", name)
	}
	r := h.route(name, patterns, h.cfg.Defaults.DeliveryLimits)
	r.Handler = &nativeHandler{name: name, fn: fn, maxDepth: h.cfg.Defaults.MaxDepth}
	h.natives = append(h.natives, r)
	return nil
}

func (h *Host) route(name string, patterns []string, l config.DeliveryLimits) dispatch.Route {
	return dispatch.Route{
		Name:        name,
		Patterns:    patterns,
		Concurrency: l.Concurrency,
		Queue:       l.Queue,
		MaxAttempts: l.MaxAttempts,
		// A worker holds up to a batch of deliveries: the ack wait covers
		// them all running to their timeout.
		AckWait: max(l.AckWait, 10*l.Timeout),
		Backoff: bus.Backoff{Initial: l.Backoff, Max: l.MaxBackoff, Jitter: 0.2},
	}
}

// routes returns every subscription: the plugins', the webhooks' and the
// native ones.
func (h *Host) routes() []dispatch.Route { return h.routesOf(h.cfg, h.plugins) }

// routesOf returns the subscriptions of the plugins of cfg that plugins
// serve, of the enabled webhooks of cfg, and the native ones.
func (h *Host) routesOf(cfg *config.Config, plugins map[string]*pluginHandler) []dispatch.Route {
	var rs []dispatch.Route
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		ph, ok := plugins[p.Name]
		if !ok {
			continue
		}
		r := h.route(p.Name, p.Events, p.DeliveryLimits)
		r.Handler = h.tracer.Wrap(p.Name, telemetry.KindPlugin, ph)
		rs = append(rs, r)
	}
	rs = append(rs, h.webhookRoutes(cfg)...)
	for _, r := range h.natives {
		r.Handler = h.tracer.Wrap(r.Name, telemetry.KindNative, r.Handler)
		rs = append(rs, r)
	}
	return rs
}

// Start subscribes every route and starts dispatching.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host: closed")
	}
	if h.started {
		return nil
	}
	routes := h.routes()
	h.metrics.applied(routes)
	if err := h.disp.Apply(ctx, routes); err != nil {
		return err
	}
	h.started = true
	return nil
}

// Publish publishes one event, filling in a missing id (a random UUID),
// source ("evhost://go") and time, and specversion 1.0.
func (h *Host) Publish(ctx context.Context, ev *event.Event) (bus.PubAck, error) {
	event.Stamp(ev, "evhost://go", time.Now())
	span := h.tracer.Publish(ctx, "go", ev)
	ack, err := h.bus.Publish(ctx, ev)
	telemetry.End(span, err)
	h.metrics.ingestOne("go", ev, ack, err)
	return ack, err
}

// Bus returns the host's bus.
func (h *Host) Bus() bus.Bus { return h.bus }

// Plugin returns the version of the plugin name that serves calls now.
func (h *Host) Plugin(name string) *wasm.Plugin {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ph, ok := h.plugins[name]; ok {
		return ph.cur.Load()
	}
	return nil
}

// Close stops dispatching (in-flight calls finish, or are stopped when ctx
// ends), then closes the bus and the plugins. It is idempotent.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.stopWatching()
	h.stopReleaseWatch()
	var errs []error
	if h.disp != nil {
		errs = append(errs, h.disp.Close(ctx))
	}
	if h.recorder != nil {
		errs = append(errs, h.recorder.Close(ctx))
	}
	if h.runStore != nil {
		errs = append(errs, h.runStore.Close(ctx))
	}
	if h.bus != nil {
		errs = append(errs, h.bus.Close(ctx))
	}
	if h.rt != nil {
		errs = append(errs, h.rt.Close(ctx))
	}
	errs = append(errs, h.tracer.Shutdown(ctx))
	return errors.Join(errs...)
}

// CallOnce loads the plugin name of cfg on its own and runs it on one
// event, for `evhost call`: nothing is published. The plugin's log lines go
// to logger.
func CallOnce(ctx context.Context, cfg *config.Config, name string, ev *event.Event, logger *slog.Logger) (wasm.Result, *wasm.Plugin, error) {
	p := cfg.Plugin(name)
	if p == nil {
		return wasm.Result{}, nil, fmt.Errorf("host: no plugin %q in %s", name, cfg.File)
	}
	dataDir := cfg.Host.ResolvedDataDir
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: filepath.Join(dataDir, "cache", "wazero"), Logger: logger})
	if err != nil {
		return wasm.Result{}, nil, err
	}
	defer rt.Close(context.Background())
	h := &Host{cfg: cfg, log: logger, rt: rt}
	ph, err := h.loadPlugin(ctx, p, dataDir)
	if err != nil {
		return wasm.Result{}, nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	v := ph.cur.Load()
	event.Stamp(ev, "evhost://cli", time.Now())
	return v.Call(ctx, ev), v, nil
}
