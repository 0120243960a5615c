package main

import (
	"context"
	"time"

	"github.com/evhost/evhost/host"
)

func cmdRun(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "run", "", "Start the daemon: load the plugins of the config, subscribe them, and serve the\nHTTP API. SIGINT or SIGTERM drains in-flight work (up to [host] shutdown_timeout);\na second signal exits at once.")
	cf := addConfigFlags(fs)
	listen := fs.String("listen", "", "address of the HTTP API (overrides [host] listen)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	if *listen != "" {
		cfg.Host.Listen = *listen
	}
	log := newLogger(e.stderr, cfg)
	ctx, stop := signalContext(ctx, e)
	defer stop()

	start := time.Now()
	h, err := host.New(ctx, cfg, host.Options{Logger: log})
	if err != nil {
		log.Error("starting evhost", "err", err)
		return exitError
	}
	log.Info("evhost ready", "listen", cfg.Host.Listen, "broker", cfg.Broker.Kind,
		"plugins", len(cfg.Plugins), "took", time.Since(start).Round(time.Millisecond))
	if err := h.Run(ctx); err != nil {
		log.Error("evhost stopped", "err", err)
		return exitError
	}
	log.Info("evhost stopped")
	return exitOK
}
