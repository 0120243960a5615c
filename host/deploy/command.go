package deploy

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/evhost/evhost/host/broker"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/specs"
	"github.com/evhost/evhost/host/wasm"
)

// Options are the options of Deploy.
type Options struct {
	// Note says why the release is made (free text, kept with it).
	Note string
	// Key signs the release (required): daemons run only releases signed
	// by a key of their [deploy] public_keys.
	Key ed25519.PrivateKey
	// Logger receives the log lines of building the Go plugins; nil
	// discards them.
	Logger *slog.Logger
}

// Plugin is one plugin of a published release.
type Plugin struct {
	Name   string // the plugin's name
	Source string // its path in the deployed config: a .wasm file, a Go package directory, or a digest
	Digest string // the hex SHA-256 of its module
}

// Result describes a published release.
type Result struct {
	Revision uint64
	Time     time.Time
	Plugins  []Plugin // enabled plugins, by name
}

// Deploy publishes the config file of cfg (cfg comes from config.Load; the
// file is read again for its text) as the release that every daemon in
// deploy mode runs. It builds or reads each enabled plugin and checks it
// as a daemon would (compile, exports, imports, options) before anything
// is published, stores each module under its SHA-256 in the deploy store
// of cfg's broker, and publishes the config text with [host] and [broker]
// removed and each plugin's path replaced by its digest (see
// config.ReleaseText). A plugin already pinned by digest must be in the
// store. The release is signed with opts.Key (see SignedBytes), which is
// required. If another release is published while Deploy runs, it returns
// natsbus.ErrReleaseConflict and publishes nothing.
//
// The broker must be reachable over the network: kind "nats", or kind
// "embedded" with a listener (the running daemon's server, reached at its
// listen address). The event streams are not touched.
func Deploy(ctx context.Context, cfg *config.Config, opts Options) (*Result, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("deploy: no signing key: daemons refuse unsigned releases (evhost deploy --key FILE, an Ed25519 key in PEM: openssl genpkey -algorithm ed25519 -out FILE)")
	}
	src, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	// The plugins as the text says now, with the caller's [host] and
	// [broker] (a --data-dir given on the command line).
	fresh, err := config.ParseIn(cfg.File, cfg.Dir, src)
	if err != nil {
		return nil, err
	}
	fresh.Host, fresh.Broker = cfg.Host, cfg.Broker
	dataDir := fresh.Host.Data()

	nopts, err := broker.ClientOptions(fresh, dataDir, "evhost-deploy")
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	store, err := natsbus.DialDeploys(ctx, nopts)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	defer store.Close()
	var base uint64 // the release this one replaces
	switch cur, err := store.Release(ctx); {
	case err == nil:
		base = cur.Revision
	case !errors.Is(err, natsbus.ErrNoRelease):
		return nil, fmt.Errorf("deploy: %w", err)
	}

	// Build, read and check every enabled plugin as a daemon loads it.
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: filepath.Join(dataDir, "cache", "wazero"), Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.Background())
	// A plugin already pinned by digest must be in the store: read it
	// there (through a cache of this run's own).
	mods := &Modules{Dir: filepath.Join(dataDir, "deploy"), Open: func(context.Context) (*natsbus.DeployStore, error) { return store, nil }, Logger: opts.Logger}
	loader := registry.NewLoader(rt, filepath.Join(dataDir, "tmp"), mods, opts.Logger)
	env := specs.Env{Logger: opts.Logger, AllowNetworks: fresh.Host.AllowNetworks}
	res := &Result{}
	bins := map[string][]byte{}
	var errs []error
	for i := range fresh.Plugins {
		p := &fresh.Plugins[i]
		if !p.Enabled {
			continue
		}
		spec := specs.Plugin(p, env)
		bin, err := loader.Check(ctx, &spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q (%s): %w", p.Name, p.Path, err))
			continue
		}
		bins[p.Name] = bin
		res.Plugins = append(res.Plugins, Plugin{Name: p.Name, Source: p.Path, Digest: wasm.Hash(bin)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("deploy refused, nothing published: %w", err)
	}
	sort.Slice(res.Plugins, func(i, j int) bool { return res.Plugins[i].Name < res.Plugins[j].Name })

	modules := map[string]string{}
	for i := range res.Plugins {
		dp := &res.Plugins[i]
		if _, err := store.PutModule(ctx, bins[dp.Name]); err != nil {
			return nil, fmt.Errorf("deploy: plugin %q: %w", dp.Name, err)
		}
		modules[dp.Name] = dp.Digest
	}
	text, err := config.ReleaseText(src, modules)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	// What the daemons will parse must parse here.
	if _, err := config.ParseIn("release", fresh.Dir, text); err != nil {
		return nil, fmt.Errorf("deploy: the release text does not parse: %w", err)
	}
	rel := natsbus.Release{Config: text, Modules: modules, Note: opts.Note, Base: base}
	Sign(&rel, opts.Key)
	r, err := store.PutRelease(ctx, rel, base)
	if err != nil {
		return nil, fmt.Errorf("deploy: %w", err)
	}
	res.Revision, res.Time = r.Revision, r.Time
	return res, nil
}
