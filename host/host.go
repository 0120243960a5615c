package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/evhost/evhost/host/admin"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/broker"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/deploy"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/history"
	"github.com/evhost/evhost/host/hotreload"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/metrics"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/replay"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/schedule"
	"github.com/evhost/evhost/host/sources"
	"github.com/evhost/evhost/host/specs"
	"github.com/evhost/evhost/host/telemetry"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/host/webhooks"
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
	// Deployed puts the host in deploy mode (package deploy): the config
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
// also serves the HTTP API), and Close it. It holds the daemon's parts and
// wires them; each part keeps its own state.
type Host struct {
	log  *slog.Logger
	cfg  atomic.Pointer[config.Config] // the running config; [host] and [broker] never change
	bus  bus.Bus
	nbus *natsbus.Bus // the same bus when it is NATS: KV spaces, run records and releases live beside it

	rt       *wasm.Runtime
	reg      *registry.Registry // plugins and routes
	hooks    *webhooks.Set      // [[webhooks]] endpoints
	dyn      *webhooks.Runtime  // the webhooks created over the admin API
	srcs     *sources.Set       // [sources]: inbound webhooks, NATS subjects
	disp     *dispatch.Dispatcher
	metrics  *metrics.Metrics
	tracer   *telemetry.Tracer // nil: tracing off
	runs     runlog.Store      // records of handler runs
	recorder *runlog.Recorder  // feeds runs from the dispatcher's workers
	replayer *replay.Replayer
	modules  *deploy.Modules     // modules pinned by digest
	follower *deploy.Follower    // deploy mode, or nil
	kv       *broker.KVSpaces    // the plugins' key-value spaces
	pub      bus.Publisher       // the Go API's: counted and traced
	watcher  *hotreload.Reloader // Options.Watch, or nil
	sched    *schedule.Runner    // [[schedules]]
	history  *history.History    // the status page's hour of samples

	reloadMu sync.Mutex // one config change at a time
	draining atomic.Bool
	addr     atomic.Value // string

	mu      sync.Mutex
	api     *httpapi.Server
	natives []dispatch.Route
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
	h := &Host{log: opts.Logger}
	h.cfg.Store(cfg)
	defer func() {
		if err != nil {
			h.Close(context.Background())
		}
	}()
	dataDir := cfg.Host.Data()
	if h.bus = opts.Bus; h.bus == nil {
		if h.bus, h.nbus, err = broker.Open(ctx, cfg, dataDir, h.log); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	} else if nb, ok := opts.Bus.(*natsbus.Bus); ok {
		h.nbus = nb
	}
	h.kv = broker.NewKVSpaces(h.nbus)
	if opts.TracerProvider != nil {
		h.tracer = telemetry.New(opts.TracerProvider)
	} else if h.tracer, err = telemetry.Open(specs.Tracing(cfg.Tracing)); err != nil {
		return nil, err
	}
	mo := metrics.Options{Plugins: h.pluginStats, Wasm: h.wasmStats}
	mo.Pending, mo.Paused, mo.Backlog = h.busStates()
	h.metrics = metrics.New(mo)
	h.pub = h.metrics.Publisher("go", h.tracer.Publisher("go", h.bus))
	h.modules = &deploy.Modules{Dir: filepath.Join(dataDir, "deploy"), Open: broker.DeployStore(h.nbus), Logger: h.log}
	if opts.Deployed {
		if h.nbus == nil {
			return nil, errors.New("host: deploy mode needs a NATS broker (kind \"nats\", or \"embedded\" for one daemon)")
		}
		h.follower, cfg, err = deploy.Follow(ctx, deploy.FollowerOptions{
			Local: cfg, Modules: h.modules, Apply: h.apply, Logger: h.log,
			Applied: func(err error) { h.metrics.Reload("release", err) },
		})
		if err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
		h.cfg.Store(cfg)
	}
	h.rt, err = wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: filepath.Join(dataDir, "cache", "wazero"), Logger: h.log, CompiledCache: int64(cfg.Host.CompiledCache), MemoryReserve: int64(cfg.Host.MemoryReserve)})
	if err != nil {
		return nil, err
	}
	h.reg = registry.New(registry.Options{
		Loader:   registry.NewLoader(h.rt, filepath.Join(dataDir, "tmp"), h.modules, h.log),
		Logger:   h.log,
		Reloaded: func(err error) { h.metrics.Reload("plugin", err) },
	})
	if err := h.reg.Apply(ctx, specs.Plugins(cfg, h.specEnv()), nil, nil); err != nil {
		return nil, err
	}
	if err := h.openRuns(ctx, cfg); err != nil {
		return nil, err
	}
	h.hooks = webhooks.New(webhooks.Options{
		Specs: func() []webhooks.Spec { return specs.AllWebhooks(h.cfg.Load(), h.dyn) }, Runs: h.runs, Recorder: h.recorder,
		Counted: h.metrics.Webhook, Logger: h.log,
	})
	reapply := func() error {
		return h.setNatives(func(rs []dispatch.Route) ([]dispatch.Route, error) { return rs, nil })
	}
	if h.dyn, err = webhooks.OpenRuntime(ctx, webhooks.RuntimeOptions{Open: broker.WebhookStore(h.nbus), InProcess: h.nbus == nil,
		Subscriptions: func() []api.SubscriptionStatus { return h.subscriptions(true) }, Changed: reapply, DeleteSubscription: h.DeleteSubscription,
		Allow: func() []netip.Prefix { return h.cfg.Load().Host.AllowNetworks }, Logger: h.log}); err != nil {
		return nil, err
	}
	h.srcs = sources.New(sources.Options{Broker: h.nbus.Endpoint(), Ready: readiness{h}.Ready, Registerer: h.metrics.Registry(), Logger: h.log,
		Publisher: func(kind string) bus.Publisher { return h.metrics.Publisher(kind, h.tracer.Publisher(kind, h.bus)) }})
	h.srcs.Apply(specs.Sources(cfg))
	h.replayer = &replay.Replayer{Publisher: h.bus, Registry: h.reg, Runs: h.runs, Recorder: h.recorder, Logger: h.log}
	if h.nbus != nil {
		h.replayer.Journal = h.nbus
	}
	dopts := dispatch.Options{Logger: h.log, Observer: observer{m: h.metrics, rec: h.recorder, next: opts.Observer}}
	if mw := h.tracer.Middleware(); mw != nil {
		dopts.Middleware = append(dopts.Middleware, mw)
	}
	h.disp = dispatch.New(h.bus, dopts)
	h.sched = schedule.New(schedule.Options{Publisher: h.metrics.Publisher("schedule", h.tracer.Publisher("schedule", h.bus)),
		State: broker.ScheduleState(ctx, h.nbus, h.log), Logger: h.log.With(slog.String("component", "schedule")), Specs: specs.Schedules(cfg)})
	h.metrics.Registry().MustRegister(h.sched)
	h.history = history.Start(history.Options{Source: h.metrics, Pending: mo.Pending,
		Subscriptions: func() []api.SubscriptionStatus { return h.subscriptions(false) }})
	if opts.Watch {
		h.watcher, err = hotreload.Start(hotreload.Options{
			ConfigFile: h.configFile, Targets: h.reg.Targets, Logger: h.log,
			Config: func(ctx context.Context) { h.Reload(ctx) }, Path: h.reg.ReloadPath,
		})
		if err != nil {
			return nil, err
		}
	}
	if h.follower != nil {
		if err := h.follower.Start(); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// specEnv is what the plugins' options need beside their config.
func (h *Host) specEnv() specs.Env {
	return specs.Env{Logger: h.log, KV: h.kv.Store, AllowNetworks: h.cfg.Load().Host.AllowNetworks}
}

// Handle registers a native Go handler as a subscription named name, for
// the event types that patterns select, beside the config's plugins, with
// the [defaults] limits. After Start it is subscribed at once.
func (h *Host) Handle(name string, patterns []string, fn NativeFunc) error {
	d := h.cfg.Load().Defaults
	r := specs.Route(name, patterns, d.DeliveryLimits)
	r.Kind, r.Handler = api.KindNative, &nativeHandler{name: name, fn: fn, maxDepth: d.MaxDepth}
	return h.setNatives(func(rs []dispatch.Route) ([]dispatch.Route, error) {
		if h.reg.Snapshot().Plugin(name) != nil || slices.ContainsFunc(rs, func(o dispatch.Route) bool { return o.Name == name }) {
			return nil, fmt.Errorf("host: a subscription is already named %q", name)
		}
		return append(slices.Clip(rs), r), nil
	})
}

// Unhandle removes the native handler name. Its subscription is kept, with
// the events that arrive for it (Handle again handles them;
// DeleteSubscription drops them).
func (h *Host) Unhandle(name string) error {
	return h.setNatives(func(rs []dispatch.Route) ([]dispatch.Route, error) {
		i := slices.IndexFunc(rs, func(o dispatch.Route) bool { return o.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("host: no native handler %q", name)
		}
		return slices.Delete(slices.Clone(rs), i, i+1), nil
	})
}

// setNatives changes the native routes with change, and applies the routes
// when the host has started.
func (h *Host) setNatives(change func([]dispatch.Route) ([]dispatch.Route, error)) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host: closed")
	}
	next, err := change(h.natives)
	if err != nil || !h.started {
		if err == nil {
			h.natives = next
		}
		return err
	}
	cfg := h.cfg.Load()
	if err := h.reg.Apply(context.Background(), specs.Plugins(cfg, h.specEnv()), h.otherRoutes(cfg, next), h.commit); err != nil {
		return err
	}
	h.natives = next
	return nil
}

// Start subscribes every route and starts dispatching.
func (h *Host) Start(ctx context.Context) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host: closed")
	}
	if h.started {
		return nil
	}
	cfg := h.cfg.Load()
	if err := h.reg.Apply(ctx, specs.Plugins(cfg, h.specEnv()), h.otherRoutes(cfg, h.natives), h.commit); err != nil {
		return err
	}
	h.started = true
	h.sched.Start()
	h.srcs.Start()
	return nil
}

// otherRoutes returns the routes of cfg's webhooks and of the native
// handlers, which run beside the plugins'.
func (h *Host) otherRoutes(cfg *config.Config, natives []dispatch.Route) []dispatch.Route {
	return append(h.hooks.Subscriptions(specs.AllWebhooks(cfg, h.dyn, natives...), cfg.Host.AllowNetworks), natives...)
}

// commit applies routes to the dispatcher: the last step of a change
// before the registry swaps its snapshot.
func (h *Host) commit(ctx context.Context, routes []dispatch.Route) error {
	h.metrics.Applied(routes)
	return h.disp.Apply(ctx, routes)
}

// Publish publishes one event, filling in a missing id (a random UUID),
// source ("evhost://go") and time, and specversion 1.0.
func (h *Host) Publish(ctx context.Context, ev *event.Event) (bus.PubAck, error) {
	event.Stamp(ev, "evhost://go", time.Now())
	return h.pub.Publish(ctx, ev)
}

// Bus returns the host's bus.
func (h *Host) Bus() bus.Bus { return h.bus }

// Plugin returns the version of the plugin name that serves calls now.
func (h *Host) Plugin(name string) *wasm.Plugin {
	if p := h.reg.Snapshot().Plugin(name); p != nil {
		return p.Current()
	}
	return nil
}

// Plugins returns what serves each plugin of the config now.
func (h *Host) Plugins() []api.PluginInfo { return specs.PluginInfos(h.cfg.Load(), h.reg.Snapshot()) }

// pluginStats returns the pool counters of every running plugin, for the
// metrics.
func (h *Host) pluginStats() map[string]api.PluginStats {
	out := map[string]api.PluginStats{}
	for name, s := range h.reg.Snapshot().Stats() {
		out[name] = api.PluginStats(s)
	}
	return out
}

// wasmStats returns the wasm runtime's counters (compiled modules, evictions).
func (h *Host) wasmStats() api.WasmStats { return api.WasmStats(h.rt.Stats()) }

// Release returns the release the host runs, or nil when it is not in
// deploy mode.
func (h *Host) Release() *api.ReleaseInfo {
	if h.follower == nil {
		return nil
	}
	return h.follower.Info()
}

// Webhooks returns the config's webhooks and their endpoints' state.
func (h *Host) Webhooks() []api.WebhookInfo { return h.hooks.Webhooks() }

// EnableWebhook enables the endpoint of the webhook name after a 410 Gone
// disabled it; it reports whether it was disabled.
func (h *Host) EnableWebhook(name string) (bool, error) { return h.hooks.Enable(name) }

// Trace returns the tree of events and handler runs that the event id
// caused (see admin.Trace); admin.ErrNotFound (wrapped) when nothing knows
// it. Call FlushRuns first to see runs that just ended.
func (h *Host) Trace(ctx context.Context, id string) (*api.TraceNode, error) {
	return admin.Trace(ctx, h.runs, h.bus, id)
}

// Replay runs a subscription's plugin again over recorded events (see
// replay.Replayer.Replay); replay.ErrNoJournal on the memory broker.
func (h *Host) Replay(ctx context.Context, opts replay.Options) (*api.ReplayReport, error) {
	return h.replayer.Replay(ctx, opts)
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
	h.watcher.Close()
	h.dyn.Close()
	h.follower.Stop()
	h.sched.Close()
	h.history.Stop()
	errs := []error{h.srcs.Close(ctx)} // no new events first
	if h.disp != nil {
		errs = append(errs, h.disp.Close(ctx))
	}
	if h.recorder != nil {
		errs = append(errs, h.recorder.Close(ctx))
	}
	if h.runs != nil {
		errs = append(errs, h.runs.Close(ctx))
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
	dataDir := cfg.Host.Data()
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: filepath.Join(dataDir, "cache", "wazero"), Logger: logger})
	if err != nil {
		return wasm.Result{}, nil, err
	}
	defer rt.Close(context.Background())
	spec := specs.Plugin(p, specs.Env{Logger: logger, AllowNetworks: cfg.Host.AllowNetworks})
	v, err := registry.NewLoader(rt, filepath.Join(dataDir, "tmp"), nil, logger).Load(ctx, &spec)
	if err != nil {
		return wasm.Result{}, nil, fmt.Errorf("plugin %q: %w", name, err)
	}
	event.Stamp(ev, "evhost://cli", time.Now())
	return v.Call(ctx, ev), v, nil
}

// BrokerURL returns the URL at which network clients reach the embedded
// broker's listener ([broker] listen; with a random port, the port it
// got), or "" when there is none: no listener, or another kind of broker.
func (h *Host) BrokerURL() string {
	if h.nbus == nil {
		return ""
	}
	return h.nbus.ClientURL()
}
