package specs

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/filter"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/httpcap"
	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/orderkey"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/telemetry"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/host/webhooks"
)

// Env is what plugin options need beside the config.
type Env struct {
	// Logger is the parent of each plugin's logger.
	Logger *slog.Logger
	// KV returns the key-value space of a plugin granted one (the same for
	// every version of the plugin). Nil gives each version a new space in
	// memory.
	KV func(p *config.Plugin) (kv.Store, error)
	// AllowNetworks are [host] allow_networks: forbidden networks a
	// plugin's http_request may dial.
	AllowNetworks []netip.Prefix
}

// Plugins returns the specs of the enabled plugins of cfg, in config
// order.
func Plugins(cfg *config.Config, env Env) []registry.Spec {
	var out []registry.Spec
	for i := range cfg.Plugins {
		if p := &cfg.Plugins[i]; p.Enabled {
			out = append(out, Plugin(p, env))
		}
	}
	return out
}

// Plugin returns the spec of p.
func Plugin(p *config.Plugin, env Env) registry.Spec {
	return registry.Spec{
		Name:    p.Name,
		Source:  Source(p),
		Guest:   Guest(p),
		Options: func() (wasm.PluginOptions, error) { return PluginOptions(p, env) },
		Route:   flow(subscription(Route(p.Name, p.Events, p.DeliveryLimits), p.Paused, p.Filter), &p.Flow),
	}
}

// subscription adds the paused state and the filter of a plugin or
// webhook table to its route.
func subscription(r dispatch.Route, paused bool, expr string) dispatch.Route {
	r.Paused = paused
	if expr != "" {
		f, err := filter.Compile(expr)
		if err != nil { // config.Validate compiled it: cannot happen
			r.Filter = func(*event.Event) (bool, error) { return false, err }
		} else {
			r.Filter = f.Match
		}
	}
	return r
}

// flow adds the order per key and the rate limit of f to its route.
func flow(r dispatch.Route, f *config.Flow) dispatch.Route {
	if f.OrderBy != "" {
		key, err := orderkey.Compile(f.OrderBy)
		if err != nil { // config.Validate compiled it: cannot happen
			key = func(*event.Event) string { return "" }
		}
		r.OrderBy, r.OrderKey, r.Partitions = f.OrderBy, key, f.PartitionCount()
	}
	if !f.Rate.IsZero() {
		r.Rate, r.Burst = f.Rate.PerSecond(), f.BurstSize()
	}
	return r
}

// Source returns where p's module comes from: its digest, its path, and
// its build when it has one.
func Source(p *config.Plugin) registry.Source {
	src := registry.Source{Path: p.ResolvedPath, Digest: p.Digest}
	if p.Engine == config.EngineJS {
		src.Engine = &jsengine.Variant{KV: p.KV.Enabled, HTTP: len(p.AllowedHosts) > 0}
	}
	if b := p.Build; b.Command != "" {
		src.Build = &registry.Build{Command: b.Command, Dir: b.ResolvedDir, Watch: b.ResolvedWatch, Timeout: b.Timeout}
	}
	return src
}

// Guest fingerprints what makes a loaded version of p besides its module's
// bytes: same module path, digest, build and sandbox options. Delivery settings
// (events, retries) are applied by the dispatcher without a reload of the
// module. fmt prints maps sorted by key, so equal configs print the same.
func Guest(p *config.Plugin) string {
	return fmt.Sprintf("%#v", struct {
		Path, Engine, Digest string
		Limits               config.GuestLimits
		Timeout              any
		Concurrency          int
		Config               map[string]any
		Env                  map[string]string
		Emits                []string
		AllowedHosts         []string
		KV                   config.KV
		Build                config.Build
	}{p.ResolvedPath, p.Engine, p.Digest, p.GuestLimits, p.Timeout, p.Concurrency, p.Config, p.Env, p.Emits, p.AllowedHosts, p.KV, p.Build})
}

// PluginOptions maps a plugin's config to the runtime's options.
func PluginOptions(p *config.Plugin, env Env) (wasm.PluginOptions, error) {
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	o := wasm.PluginOptions{
		Name:         p.Name,
		Timeout:      p.Timeout,
		MemoryLimit:  uint64(p.Memory),
		MaxEmits:     p.MaxEmits,
		MaxEmitBytes: int(p.MaxEmitBytes),
		MaxDepth:     p.MaxDepth,
		MaxLogBytes:  int(p.MaxLogBytes),
		MinInstances: p.MinInstances,
		MaxInstances: p.MaxInstances,
		MaxCalls:     p.MaxCalls,
		MaxAge:       p.MaxAge,
		IdleTimeout:  p.IdleTimeout,
		Env:          p.Env,
		Logger:       log.With(slog.String("subscription", p.Name)), // the plugin serves the subscription of its name
		Config:       map[string]string{},
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = max(1, p.Concurrency)
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = -1 // idle_timeout = "0s": never
	}
	for k := range p.Config {
		// A config_file value is read again: a build may have rewritten it
		// (a JavaScript handler's source).
		v, ok, err := p.ConfigTextNow(k)
		if err != nil {
			return o, err
		}
		if ok {
			o.Config[k] = v
		}
	}
	if p.KV.Enabled {
		var s kv.Store
		var err error
		if env.KV != nil {
			s, err = env.KV(p)
		} else {
			s = kv.NewMemory(int(p.KV.MaxBytes))
		}
		if err != nil {
			return o, fmt.Errorf("kv: %w", err)
		}
		o.KV = s
	}
	if len(p.AllowedHosts) > 0 {
		c, err := httpcap.New(p.Name, p.AllowedHosts, env.AllowNetworks, o.Timeout)
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

// Route returns the subscription of name with the delivery limits l.
func Route(name string, patterns []string, l config.DeliveryLimits) dispatch.Route {
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

// Webhooks returns the specs of the [[webhooks]] entries of cfg, enabled
// or not.
func Webhooks(cfg *config.Config) []webhooks.Spec {
	out := make([]webhooks.Spec, 0, len(cfg.Webhooks))
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		out = append(out, webhooks.Spec{
			Name: w.Name, URL: w.URL, Secret: w.Secret.Value(), Headers: w.Headers, Timeout: w.Timeout,
			Events: w.Events, Enabled: w.Enabled, Route: flow(subscription(Route(w.Name, w.Events, w.DeliveryLimits), w.Paused, w.Filter), &w.Flow),
		})
	}
	return out
}

// API maps [host] to the HTTP API's options: the token and the scoped
// tokens, the body and batch limits, and the names and origins it
// answers. The daemon adds the publisher, readiness, logger and counters.
func API(c config.Host) httpapi.Options {
	o := httpapi.Options{
		Token: c.Token.Value(), MaxBody: int64(c.MaxBody), MaxBatch: c.HTTP.MaxBatch,
		TrustedOrigins: c.TrustedOrigins,
		// The names the API answers to beside addresses and localhost:
		// [host] hostnames, and the host of [host] listen when it is one.
		Hostnames: c.Hostnames,
	}
	if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" {
		o.Hostnames = append(slices.Clip(o.Hostnames), h)
	}
	for _, t := range c.Tokens {
		o.Tokens = append(o.Tokens, httpapi.Token{Name: t.Name, Value: t.Token.Value(), Scopes: t.Scopes, Events: t.Events})
	}
	return o
}

// Tracing maps [tracing] to the tracer's options.
func Tracing(t config.Tracing) telemetry.Options {
	return telemetry.Options{Enabled: t.Enabled, Endpoint: t.Endpoint, Headers: t.Headers,
		ServiceName: t.ServiceName, SampleRatio: t.SampleRatio, Timeout: t.Timeout}
}

// PluginInfos returns what serves each plugin of cfg in snap, as GET
// /v1/plugins shows it.
func PluginInfos(cfg *config.Config, snap *registry.Snapshot) []api.PluginInfo {
	var out []api.PluginInfo
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		info := api.PluginInfo{Name: p.Name, Path: p.Path, Events: p.Events}
		if rp := snap.Plugin(p.Name); rp != nil {
			rp.Info(&info)
		}
		out = append(out, info)
	}
	return out
}

// flowStatus adds the order and the rate of f to s.
func flowStatus(s api.SubscriptionStatus, f *config.Flow) api.SubscriptionStatus {
	s.Rate, s.OrderBy, s.Partitions = f.Rate.String(), f.OrderBy, f.PartitionCount()
	return s
}

// Subscriptions returns the subscriptions of cfg's plugins and webhooks
// that run (in snap, or enabled), in config order, and with all those the
// config disables too.
func Subscriptions(cfg *config.Config, snap *registry.Snapshot, all bool) []api.SubscriptionStatus {
	var subs []api.SubscriptionStatus
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if running := snap.Plugin(p.Name) != nil; running || all {
			subs = append(subs, flowStatus(api.SubscriptionStatus{Name: p.Name, Patterns: p.Events, Kind: api.KindPlugin, Running: running}, &p.Flow))
		}
	}
	for i := range cfg.Webhooks {
		if w := &cfg.Webhooks[i]; w.Enabled || all {
			subs = append(subs, flowStatus(api.SubscriptionStatus{Name: w.Name, Patterns: w.Events, Kind: api.KindWebhook, Running: w.Enabled}, &w.Flow))
		}
	}
	return subs
}

// AllWebhooks returns the specs of cfg's [[webhooks]] entries, enabled or
// not, then those of the webhooks created over the API (dyn), with cfg's
// [defaults] delivery limits. One of dyn whose name cfg or one of natives
// uses is left out: the config and the process win (another daemon may
// have created it), so that applying the routes does not fail on it.
func AllWebhooks(cfg *config.Config, dyn *webhooks.Runtime, natives ...dispatch.Route) []webhooks.Spec {
	out := Webhooks(cfg)
	for _, rec := range dyn.Records() {
		if cfg.Plugin(rec.Name) != nil || slices.ContainsFunc(cfg.Webhooks, func(w config.Webhook) bool { return w.Name == rec.Name }) ||
			slices.ContainsFunc(natives, func(r dispatch.Route) bool { return r.Name == rec.Name }) {
			continue
		}
		l := cfg.Defaults.DeliveryLimits
		if rec.Timeout > 0 {
			l.Timeout = rec.Timeout
		}
		out = append(out, webhooks.Spec{
			Name: rec.Name, URL: rec.URL, Secret: rec.Secret, Headers: rec.Headers, Timeout: l.Timeout,
			Events: rec.Events, Enabled: true, FromAPI: true, Created: rec.Created,
			Route: subscription(Route(rec.Name, rec.Events, l), false, rec.Filter),
		})
	}
	return out
}

// RuntimeSubscriptions returns the subscriptions of the webhooks created
// over the API that the daemon runs (see AllWebhooks).
func RuntimeSubscriptions(cfg *config.Config, dyn *webhooks.Runtime) []api.SubscriptionStatus {
	var subs []api.SubscriptionStatus
	for _, w := range AllWebhooks(cfg, dyn) {
		if w.FromAPI {
			subs = append(subs, api.SubscriptionStatus{Name: w.Name, Patterns: w.Events, Kind: api.KindWebhook, Running: true})
		}
	}
	return subs
}
