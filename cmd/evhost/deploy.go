package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/evhost/evhost/host/deploy"

	"github.com/evhost/evhost/host/bus/natsbus"
)

func cmdDeploy(ctx context.Context, args []string, e *env) int {
	fs := newFlags(e, "deploy", "", `Publish the config and its plugins as the release that every daemon started with
'evhost run --from-deploy' runs. Builds or reads each enabled plugin and checks it
as a daemon would; stores each module in the broker's deploy store under its
SHA-256; publishes the config with each plugin's path replaced by "sha256:<hex>"
and without [host] and [broker] (each daemon keeps its own). A plugin that fails a
check publishes nothing. The daemons apply the release as a config reload; one that
cannot load it keeps its running release and reports the refusal in GET /v1/plugins.

The broker must be reachable from here: kind = "nats", or kind = "embedded" with
[broker] listen set (the daemon's server).`)
	cf := addConfigFlags(fs)
	note := fs.String("note", "", "why this release (kept with it, shown by the daemons)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, ok := cf.load(e)
	if !ok {
		return exitError
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := deploy.Deploy(ctx, cfg, deploy.Options{Note: *note, Logger: logger})
	if err != nil {
		fprintf(e.stderr, "evhost deploy: %v\n", err)
		if errors.Is(err, natsbus.ErrReleaseConflict) {
			fprintf(e.stderr, "evhost deploy: run it again to publish on top of the new release\n")
		}
		return exitError
	}
	fprintf(e.stdout, "release %d published (%d plugins)\n", res.Revision, len(res.Plugins))
	for _, p := range res.Plugins {
		fprintf(e.stdout, "  %-12s sha256:%s  %s\n", p.Name, p.Digest, p.Source)
	}
	return exitOK
}
