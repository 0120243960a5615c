package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/evhost/evhost/host/httpapi"
)

// Handler returns the host's HTTP API (ingest, health), for serving it
// yourself; Run serves it on [host] listen.
func (h *Host) Handler() http.Handler {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.api == nil {
		h.api = httpapi.New(httpapi.Options{
			Publisher: countingPublisher{pub: h.bus, m: h.metrics, tracer: h.tracer},
			Ready:     readiness{h},
			Token:     h.cfg.Host.Token.Value(),
			MaxBody:   int64(h.cfg.Host.MaxBody),
			Logger:    h.log.With(slog.String("component", "http")),
			Refused:   h.metrics.refusedRequest,
		})
		h.api.HandlePublic("GET /metrics", h.metrics.handler())
		h.api.Handle("GET /v1/plugins", http.HandlerFunc(h.servePlugins))
		h.api.Handle("POST /v1/admin/reload", http.HandlerFunc(h.serveReload))
		h.handleDeadLetters()
		h.handleReplay()
		h.handleWebhooks()
		h.handleTrace()
		h.handleStatus()
	}
	return h.api
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// servePlugins is GET /v1/plugins: each plugin's version, when it was
// loaded, its counters and its last refused reload; in deploy mode, the
// release running and the last one refused.
func (h *Host) servePlugins(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{"plugins": h.Plugins()}
	if rel := h.Release(); rel != nil {
		body["release"] = rel
	}
	writeJSON(w, http.StatusOK, body)
}

// serveReload is POST /v1/admin/reload: re-read the config and every
// plugin file, as SIGHUP does.
func (h *Host) serveReload(w http.ResponseWriter, r *http.Request) {
	if err := h.ReloadAll(r.Context()); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"reloaded": true, "plugins": h.Plugins()})
}

// ReloadAll reloads the config, then every plugin whose module changed:
// what SIGHUP and POST /v1/admin/reload do.
func (h *Host) ReloadAll(ctx context.Context) error {
	if err := h.Reload(ctx); err != nil {
		return err
	}
	var errs []error
	for _, p := range h.Plugins() {
		if err := h.ReloadPlugin(ctx, p.Name); err != nil {
			errs = append(errs, fmt.Errorf("plugin %q: %w", p.Name, err))
		}
	}
	return errors.Join(errs...)
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
	ln, err := net.Listen("tcp", h.cfg.Host.Listen)
	if err != nil {
		h.Close(context.Background())
		return err
	}
	return h.Serve(ctx, ln)
}

// Serve is Run on a listener of the caller's.
func (h *Host) Serve(ctx context.Context, ln net.Listener) error {
	if err := h.Start(ctx); err != nil {
		ln.Close()
		h.Close(context.Background())
		return err
	}
	srv := &http.Server{Handler: h.Handler(), ReadHeaderTimeout: 10 * time.Second}
	h.addr.Store(ln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	h.log.Info("serving the HTTP API", slog.String("addr", ln.Addr().String()))

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	h.draining.Store(true)
	timeout := h.cfg.Host.ShutdownTimeout
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

// Addr returns the address the API listens on once serving ("" before).
func (h *Host) Addr() string {
	s, _ := h.addr.Load().(string)
	return s
}
