package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/deploy"
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
[broker] listen set (the daemon's server), with [broker.listen_auth]'s credentials.

The release is signed with --key, an Ed25519 private key in PEM (PKCS #8), made with
  openssl genpkey -algorithm ed25519 -out deploy.key
Daemons run it only if [deploy] public_keys holds its public key, the base64 line of
  openssl pkey -in deploy.key -pubout`)
	cf := addConfigFlags(fs)
	note := fs.String("note", "", "why this release (kept with it, shown by the daemons)")
	keyFile := fs.String("key", "", "the Ed25519 private key (PEM) that signs the release (required)")
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
	if *keyFile == "" {
		fprintf(e.stderr, "evhost deploy: --key is required: daemons run only signed releases (make a key with: openssl genpkey -algorithm ed25519 -out deploy.key)\n")
		return exitUsage
	}
	key, err := config.LoadPrivateKey(*keyFile)
	if err != nil {
		fprintf(e.stderr, "evhost deploy: %v\n", err)
		return exitError
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	res, err := deploy.Deploy(ctx, cfg, deploy.Options{Note: *note, Key: key, Logger: logger})
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
