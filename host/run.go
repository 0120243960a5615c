package host

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/evhost/evhost/host/admin"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/backup"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/debugsrv"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/specs"
	"github.com/evhost/evhost/internal/buildinfo"
)

// Handler returns the host's HTTP API (ingest, health, admin, status,
// metrics), for serving it yourself; Run serves it on [host] listen. It
// answers only requests whose Host is an IP address, localhost, the host
// of [host] listen or one of [host] hostnames (httptest.NewRequest's
// example.com is none of them).
func (h *Host) Handler() http.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.api == nil {
		cfg := h.cfg.Load()
		o := specs.API(cfg.Host)
		o.Publisher = h.metrics.Publisher("http", h.tracer.Publisher("http", h.bus))
		o.Ready, o.Logger = readiness{h}, h.log.With(slog.String("component", "http"))
		o.Refused, o.Denied = h.metrics.RefusedRequest, h.metrics.Denied
		h.api = httpapi.New(o)
		pending, paused, backlog := h.busStates()
		status := admin.NewStatus(admin.StatusOptions{
			Version: buildinfo.Version(), Broker: h.brokerKind(), Runs: h.runs, Flush: h.FlushRuns,
			DeadLetters: h.bus, Subscriptions: func() []api.SubscriptionStatus { return h.subscriptions(false) },
			Plugins: h.Plugins, Counters: h.metrics, Pending: pending, Paused: paused, Backlog: backlog, InFlight: h.disp.InFlight, Logger: h.log, Schedules: h.sched.List, Sources: h.srcs.Status, Wasm: h.wasmStats,
		})
		var metricsRoutes httpapi.Routes = h.metrics
		if cfg.Host.ProtectMetrics {
			metricsRoutes = httpapi.Protected(h.metrics)
		}
		for _, rs := range []httpapi.Routes{
			metricsRoutes,
			&admin.Plugins{Daemon: h},
			&backup.Routes{Bus: h.nbus, TempDir: filepath.Join(cfg.Host.Data(), "tmp"), Version: buildinfo.Version(), Logger: h.log},
			&admin.Config{Effective: func() any { return h.cfg.Load().Effective() }},
			&admin.DeadLetters{Bus: h.bus, Logger: h.log},
			h.replayer,
			h.hooks, h.dyn,
			h.sched,
			h.srcs,
			&admin.Traces{Runs: h.runs, DeadLetters: h.bus, Flush: h.FlushRuns, Logger: h.log},
			status, h.history,
			&admin.Subscriptions{
				List:  func() []api.SubscriptionStatus { return status.Fill(h.subscriptions(true)) },
				Pause: h.PauseSubscription, Resume: h.ResumeSubscription, Delete: h.DeleteSubscription, Logger: h.log,
			},
		} {
			h.api.Mount(rs)
		}
	}
	return h.api
}

// brokerKind names the host's bus as the config does.
func (h *Host) brokerKind() string {
	if h.nbus != nil {
		return h.cfg.Load().Broker.Kind
	}
	return config.BrokerMemory
}

// busStates returns the bus's estimates, made without asking a server,
// of each subscription's unsettled events and paused state, when it has
// them (both buses do), and its backlog report (NATS).
func (h *Host) busStates() (pending func() map[string]int64, paused func() map[string]bool, backlog func(context.Context) (*bus.Backlog, error)) {
	if b, ok := h.bus.(bus.Backlogs); ok {
		backlog = b.Backlog
	}
	if s, ok := h.bus.(bus.States); ok {
		return s.Pending, s.PauseStates, backlog
	}
	return nil, nil, backlog
}

// subscriptions returns every subscription the host runs (plugins,
// webhooks, native handlers, in config order), and with all those of the
// plugins and webhooks the config disables too.
func (h *Host) subscriptions(all bool) []api.SubscriptionStatus {
	subs := append(specs.Subscriptions(h.cfg.Load(), h.reg.Snapshot(), all), specs.RuntimeSubscriptions(h.cfg.Load(), h.dyn)...)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.natives {
		subs = append(subs, api.SubscriptionStatus{Name: r.Name, Patterns: r.Patterns, Kind: api.KindNative, Running: true})
	}
	return subs
}

type readiness struct{ h *Host }

// Ready implements httpapi.Readiness: ready once started, until draining.
func (r readiness) Ready() error {
	switch {
	case r.h.draining.Load():
		return errors.New("draining")
	case !r.h.isStarted():
		return errors.New("starting")
	}
	return nil
}

func (h *Host) isStarted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.started
}

// Run starts the host and serves the HTTP API on [host] listen until ctx
// ends, then drains: the API answers 503 to new events, in-flight handler
// calls finish (up to [host] shutdown_timeout, after which they are
// stopped), and everything is closed.
func (h *Host) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", h.cfg.Load().Host.Listen)
	if err != nil {
		h.Close(context.Background())
		return fmt.Errorf("host: the HTTP API's listener: %w", err)
	}
	return h.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's. With [host.tls] it serves
// HTTPS on it.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	return h.ServeNotify(ctx, ln, nil)
}

// ServeNotify is Serve, calling ready (if not nil) with the listener's
// address once the host has started and the API is being served: the
// moment the daemon is ready, and /readyz says so.
func (h *Host) ServeNotify(ctx context.Context, ln net.Listener, ready func(addr string)) error {
	ln, err := h.secure(ln)
	if err == nil {
		err = h.Start(ctx)
	}
	stopDebug := func() {} // [host] debug_listen: the profiles, on a listener of their own
	if err == nil {
		stopDebug, err = debugsrv.Start(h.cfg.Load().Host.DebugListen,
			h.Handler().(*httpapi.Server).Protect(httpapi.ScopeAdmin, debugsrv.Handler()), h.log)
	}
	defer stopDebug()
	if err != nil {
		ln.Close()
		h.Close(context.Background())
		return err
	}
	lim := h.cfg.Load().Host.HTTP
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: int(lim.MaxHeaderBytes),
		ErrorLog: slog.NewLogLogger(h.log.With(slog.String("component", "http")).Handler(), slog.LevelDebug)}
	h.addr.Store(ln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	h.log.Info("serving the HTTP API", slog.String("addr", ln.Addr().String()), slog.Bool("tls", h.cfg.Load().Host.TLS.Enabled()))
	if ready != nil {
		ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	h.draining.Store(true)
	timeout := h.cfg.Load().Host.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop taking events first, then finish what was taken.
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if cerr := h.Close(sctx); cerr != nil && err == nil && !errors.Is(cerr, context.DeadlineExceeded) {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// secure wraps ln in TLS when [host.tls] says so; the certificates are
// re-read when their files change.
func (h *Host) secure(ln net.Listener) (net.Listener, error) {
	t := h.cfg.Load().Host.TLS
	if !t.Enabled() {
		return ln, nil
	}
	cfg, err := httpapi.NewTLSConfig(httpapi.TLSFiles{CertFile: t.CertFile, KeyFile: t.KeyFile,
		ClientCAFile: t.ClientCAFile, Logger: h.log})
	if err != nil {
		return ln, fmt.Errorf("host: [host.tls]: %w", err)
	}
	return tls.NewListener(ln, cfg), nil
}

// Addr returns the address the API listens on once serving ("" before).
func (h *Host) Addr() string {
	s, _ := h.addr.Load().(string)
	return s
}
