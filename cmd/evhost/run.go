package main

import (
	"context"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/evhost/evhost/host"
)

func cmdRun(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "run", "", "Start the daemon: load the plugins of the config, subscribe them, and serve the\nHTTP API. SIGINT or SIGTERM drains in-flight work (up to [host] shutdown_timeout);\na second signal exits at once.")
	cf := addConfigFlags(fs)
	listen := fs.String("listen", "", "address of the HTTP API (overrides [host] listen)")
	watchFiles := fs.Bool("watch", true, "reload a plugin when its file or Go source changes, and the config when config.toml changes")
	fromDeploy := fs.Bool("from-deploy", false, "deploy mode: take [host] and [broker] from the config, and the plugins, defaults and\nwebhooks from the release published with 'evhost deploy' (needs a NATS broker)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	if *listen != "" {
		cfg.Host.Listen = *listen
		// The rules of [host] listen (a listener off loopback needs a
		// token) hold for the flag too.
		if err := cfg.Validate(); err != nil {
			fprintf(e.stderr, "--listen: %v\n", err)
			return exitError
		}
	}
	log := newLogger(e.stderr, cfg)
	ctx, stop := signalContext(ctx, e)
	defer stop()

	start := time.Now()
	// Bind first: a port in use fails the command at once, before the
	// plugins load, and nothing says ready before the port is ours.
	ln, err := net.Listen("tcp", cfg.Host.Listen)
	if err != nil {
		log.Error("starting evhost: the HTTP API's listener", "listen", cfg.Host.Listen, "err", err)
		return exitError
	}
	h, err := host.New(ctx, cfg, host.Options{Logger: log, Watch: *watchFiles, Deployed: *fromDeploy})
	if err != nil {
		ln.Close()
		log.Error("starting evhost", "err", err)
		return exitError
	}
	// SIGHUP reloads the config and every plugin, as POST /v1/admin/reload.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading")
				h.ReloadAll(context.Background())
			case <-ctx.Done():
				return
			}
		}
	}()
	ready := func(addr string) {
		log.Info("evhost ready", "listen", addr, "broker", cfg.Broker.Kind,
			"plugins", len(h.Plugins()), "took", time.Since(start).Round(time.Millisecond))
	}
	if err := h.ServeNotify(ctx, ln, ready); err != nil {
		log.Error("evhost stopped", "err", err)
		return exitError
	}
	log.Info("evhost stopped")
	return exitOK
}
