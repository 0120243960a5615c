package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/wasm"
)

// Deploy mode: several daemons on one NATS cluster run the same plugins,
// from one place. `evhost deploy` (Deploy) builds and checks every plugin
// of a config, stores each module under its SHA-256 in the deploy store
// beside the events, and publishes a release: the config text without
// [host] and [broker], each plugin's path replaced by "sha256:<hex>". A
// daemon in deploy mode (Options.Deployed) keeps [host] and [broker] from
// its own config and takes the rest from the current release; it fetches
// each module by digest (cached under <data_dir>/deploy, checked against
// its digest whenever it is read), and applies each new release as a
// config reload: build aside, check, swap, retire. A release that fails is
// refused as a whole and the running one keeps serving. Nothing is read
// from the plugins' files, so the daemons cannot drift apart.

// ReleaseInfo describes the release a host in deploy mode runs.
type ReleaseInfo struct {
	// Revision orders releases; 0 means none was deployed yet.
	Revision uint64 `json:"revision"`
	// Time is when the release was published, and Note says why.
	Time time.Time `json:"time,omitzero"`
	Note string    `json:"note,omitempty"`
	// Modules maps each plugin to the SHA-256 of its module.
	Modules map[string]string `json:"modules,omitempty"`
	// LastRefusal is the last release refused since this one was applied.
	LastRefusal *ReleaseRefusal `json:"last_refusal,omitempty"`
}

// ReleaseRefusal records a release that a host refused.
type ReleaseRefusal struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Error    string    `json:"error"`
}

// deployState is what a host in deploy mode keeps.
type deployState struct {
	local *config.Config // the daemon's own config: [host], [broker], the directory of its files

	mu      sync.Mutex
	current natsbus.Release // the applied release; Revision 0 before the first
	refusal *ReleaseRefusal

	cancel context.CancelFunc // stops the release watch
	done   chan struct{}      // closed when the release watch has stopped
}

// Release returns the release the host runs, or nil when it is not in
// deploy mode.
func (h *Host) Release() *ReleaseInfo {
	d := h.deploy
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	info := &ReleaseInfo{Revision: d.current.Revision, Time: d.current.Time, Note: d.current.Note, Modules: d.current.Modules}
	if d.refusal != nil {
		r := *d.refusal
		info.LastRefusal = &r
	}
	return info
}

func (d *deployState) applied() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current.Revision
}

// deployStore returns the deploy store beside the host's NATS bus, opening
// it the first time.
func (h *Host) deployStore(ctx context.Context) (*natsbus.DeployStore, error) {
	h.kvMu.Lock()
	defer h.kvMu.Unlock()
	if h.deploys != nil {
		return h.deploys, nil
	}
	if h.nbus == nil {
		return nil, errors.New("host: plugins pinned by digest come from the deploy store, which needs a NATS broker (kind \"embedded\" or \"nats\")")
	}
	s, err := natsbus.Deploys(ctx, h.nbus)
	if err != nil {
		return nil, fmt.Errorf("host: deploy store: %w", err)
	}
	h.deploys = s
	return s, nil
}

// openDeploy puts a new host in deploy mode: h.cfg, the daemon's own
// config, becomes that config merged with the current release.
func (h *Host) openDeploy(ctx context.Context) error {
	if h.nbus == nil {
		return errors.New("host: deploy mode needs a NATS broker (kind \"nats\", or \"embedded\" for one daemon)")
	}
	store, err := h.deployStore(ctx)
	if err != nil {
		return err
	}
	local := h.cfg
	h.deploy = &deployState{local: local}
	if n := len(local.Plugins) + len(local.Webhooks); n > 0 {
		h.log.Info("deploy mode: the plugins and webhooks of the local config are ignored; the release's run",
			slog.String("config", local.File), slog.Int("ignored", n))
	}
	r, err := store.Release(ctx)
	if errors.Is(err, natsbus.ErrNoRelease) {
		cfg := *local
		cfg.Plugins, cfg.Webhooks = nil, nil
		h.cfg = &cfg
		h.log.Warn("deploy mode: nothing deployed yet; no plugin runs until the first release (evhost deploy)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("host: deploy mode: %w", err)
	}
	cfg, err := h.releaseConfig(r)
	if err != nil {
		return fmt.Errorf("host: deploy mode: %w", err)
	}
	h.cfg = cfg
	h.deploy.current = r
	h.log.Info("deploy mode: running release", releaseAttrs(r)...)
	return nil
}

func releaseAttrs(r natsbus.Release) []any {
	return []any{slog.Uint64("release", r.Revision), slog.Time("published", r.Time), slog.String("note", r.Note),
		slog.Int("plugins", len(r.Modules))}
}

// releaseConfig parses the config of release r, checks that it pins every
// enabled plugin to the digest r.Modules names, and gives it the daemon's
// own [host], [broker] and [tracing].
func (h *Host) releaseConfig(r natsbus.Release) (*config.Config, error) {
	local := h.deploy.local
	name := fmt.Sprintf("release %d", r.Revision)
	cfg, err := config.ParseIn(name, local.Dir, r.Config)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if !p.Enabled {
			continue
		}
		if p.Digest == "" {
			return nil, fmt.Errorf("%s: plugin %q: path %q: a released plugin must be pinned by digest (sha256:...), which evhost deploy does", name, p.Name, p.Path)
		}
		if want := r.Modules[p.Name]; want != p.Digest {
			return nil, fmt.Errorf("%s: plugin %q: the config pins sha256:%s, the release's modules say %q", name, p.Name, p.Digest, want)
		}
	}
	cfg.Host, cfg.Broker, cfg.Tracing = local.Host, local.Broker, local.Tracing
	return cfg, nil
}

// Retries of a refused release: the first after releaseRetry, then twice
// as long each time, up to releaseRetryMax.
const (
	releaseRetry    = time.Second
	releaseRetryMax = 5 * time.Minute
)

// startReleaseWatch applies every new release until Close. A refused
// release is tried again, less and less often, while it is the newest:
// what failed may have been passing (the store out of reach) or mended
// since (a corrupt module put again).
func (h *Host) startReleaseWatch() error {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := h.deploys.WatchReleases(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("host: deploy mode: %w", err)
	}
	h.deploy.cancel, h.deploy.done = cancel, make(chan struct{})
	go func() {
		defer close(h.deploy.done)
		var (
			newest  natsbus.Release
			retry   *time.Timer
			retryC  <-chan time.Time
			backoff time.Duration
		)
		defer func() {
			if retry != nil {
				retry.Stop()
			}
		}()
		for {
			select {
			case r, ok := <-ch:
				if !ok {
					return
				}
				newest, backoff = r, releaseRetry
			case <-retryC:
				backoff = min(2*backoff, releaseRetryMax)
			}
			retryC = nil
			if err := h.applyRelease(ctx, newest); err != nil && ctx.Err() == nil {
				if retry == nil {
					retry = time.NewTimer(backoff)
				} else {
					retry.Reset(backoff)
				}
				retryC = retry.C
			}
		}
	}()
	return nil
}

// stopReleaseWatch stops the release watch and waits for a release being
// applied.
func (h *Host) stopReleaseWatch() {
	if h.deploy == nil || h.deploy.cancel == nil {
		return
	}
	h.deploy.cancel()
	<-h.deploy.done
}

// reloadRelease applies the current release if it is not the one running:
// what Reload does in deploy mode (SIGHUP, POST /v1/admin/reload), which
// also tries a refused release again.
func (h *Host) reloadRelease(ctx context.Context) error {
	r, err := h.deploys.Release(ctx)
	if errors.Is(err, natsbus.ErrNoRelease) {
		return nil
	}
	if err != nil {
		h.log.Error("deploy mode: reading the current release", slog.Any("err", err))
		return err
	}
	return h.applyRelease(ctx, r)
}

// applyRelease applies r as a config reload, unless the host runs r or a
// later release already. A release that fails is refused and recorded;
// the running one stays.
func (h *Host) applyRelease(ctx context.Context, r natsbus.Release) error {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	d := h.deploy
	if r.Revision <= d.applied() {
		return nil
	}
	start := time.Now()
	cfg, err := h.releaseConfig(r)
	if err == nil {
		err = h.apply(ctx, cfg)
	}
	h.metrics.reload("release", err)
	if err != nil {
		d.mu.Lock()
		d.refusal = &ReleaseRefusal{Revision: r.Revision, Time: time.Now().UTC(), Error: err.Error()}
		running := d.current.Revision
		d.mu.Unlock()
		h.log.Error("release refused; the running one stays (it is tried again while it is the newest)",
			append(releaseAttrs(r), slog.Uint64("running", running), slog.Any("err", err))...)
		return err
	}
	d.mu.Lock()
	d.current, d.refusal = r, nil
	d.mu.Unlock()
	h.log.Info("release applied", append(releaseAttrs(r), slog.Duration("took", time.Since(start)))...)
	h.pruneModuleCache(r)
	return nil
}

// moduleCacheDir is where a host keeps the modules it fetched by digest.
func moduleCacheDir(dataDir string) string { return filepath.Join(dataDir, "deploy") }

// fetchModule returns the module of digest: from the cache if the cached
// file's SHA-256 is digest (a file that does not match is removed), else
// from the deploy store, which checks it too, and then caches it.
func (h *Host) fetchModule(ctx context.Context, digest, dataDir string) ([]byte, error) {
	dir := moduleCacheDir(dataDir)
	path := filepath.Join(dir, digest+".wasm")
	if bin, err := os.ReadFile(path); err == nil {
		if wasm.Hash(bin) == digest {
			return bin, nil
		}
		h.log.Warn("a cached module does not match its digest; fetching it again", slog.String("path", path))
		os.Remove(path)
	}
	store, err := h.deployStore(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := store.GetModule(ctx, digest)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(dir, path, bin); err != nil {
		h.log.Warn("caching a module", slog.String("path", path), slog.Any("err", err))
	}
	return bin, nil
}

// writeFileAtomic writes data to path (in dir) through a temporary file
// and a rename, so that a reader never sees part of it.
func writeFileAtomic(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// pruneModuleCache removes the cached modules that release r does not use.
func (h *Host) pruneModuleCache(r natsbus.Release) {
	dir := moduleCacheDir(h.dataDir())
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, digest := range r.Modules {
		keep[digest+".wasm"] = true
	}
	for _, e := range entries {
		if !e.IsDir() && !keep[e.Name()] {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// DeployOptions are the options of Deploy.
type DeployOptions struct {
	// Note says why the release is made (free text, kept with it).
	Note string
	// Logger receives the log lines of building the Go plugins; nil
	// discards them.
	Logger *slog.Logger
}

// DeployedPlugin is one plugin of a published release.
type DeployedPlugin struct {
	Name   string // the plugin's name
	Source string // its path in the deployed config: a .wasm file, a Go package directory, or a digest
	Digest string // the hex SHA-256 of its module
}

// DeployResult describes a published release.
type DeployResult struct {
	Revision uint64
	Time     time.Time
	Plugins  []DeployedPlugin // enabled plugins, by name
}

// Deploy publishes the config file of cfg (cfg comes from config.Load; the
// file is read again for its text) as the release that every daemon in
// deploy mode runs. It builds or reads each enabled plugin and checks it
// as a daemon would (compile, exports, imports, options) before anything
// is published, stores each module under its SHA-256 in the deploy store
// of cfg's broker, and publishes the config text with [host] and [broker]
// removed and each plugin's path replaced by its digest (see
// config.ReleaseText). A plugin already pinned by digest must be in the
// store. If another release is published while Deploy runs, it returns
// natsbus.ErrReleaseConflict and publishes nothing.
//
// The broker must be reachable over the network: kind "nats", or kind
// "embedded" with a listener (the running daemon's server, reached at its
// listen address). The event streams are not touched.
func Deploy(ctx context.Context, cfg *config.Config, opts DeployOptions) (*DeployResult, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	src, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("host: deploy: %w", err)
	}
	// The plugins as the text says now, with the caller's [host] and
	// [broker] (a --data-dir given on the command line).
	fresh, err := config.ParseIn(cfg.File, cfg.Dir, src)
	if err != nil {
		return nil, err
	}
	fresh.Host, fresh.Broker = cfg.Host, cfg.Broker
	dataDir := cmp.Or(fresh.Host.ResolvedDataDir, "data")

	nopts, err := deployNATSOptions(fresh, dataDir)
	if err != nil {
		return nil, err
	}
	store, err := natsbus.DialDeploys(ctx, nopts)
	if err != nil {
		return nil, fmt.Errorf("host: deploy: %w", err)
	}
	defer store.Close()
	var base uint64 // the release this one replaces
	switch cur, err := store.Release(ctx); {
	case err == nil:
		base = cur.Revision
	case !errors.Is(err, natsbus.ErrNoRelease):
		return nil, fmt.Errorf("host: deploy: %w", err)
	}

	// Build, read and check every enabled plugin as a daemon loads it.
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: filepath.Join(dataDir, "cache", "wazero"), Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.Background())
	h := &Host{cfg: fresh, log: opts.Logger, rt: rt, deploys: store}
	res := &DeployResult{}
	bins := map[string][]byte{}
	var errs []error
	for i := range fresh.Plugins {
		p := &fresh.Plugins[i]
		if !p.Enabled {
			continue
		}
		bin, err := h.checkPlugin(ctx, p, dataDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("plugin %q (%s): %w", p.Name, p.Path, err))
			continue
		}
		bins[p.Name] = bin
		res.Plugins = append(res.Plugins, DeployedPlugin{Name: p.Name, Source: p.Path, Digest: wasm.Hash(bin)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("host: deploy refused, nothing published: %w", err)
	}
	sort.Slice(res.Plugins, func(i, j int) bool { return res.Plugins[i].Name < res.Plugins[j].Name })

	modules := map[string]string{}
	for i := range res.Plugins {
		dp := &res.Plugins[i]
		if _, err := store.PutModule(ctx, bins[dp.Name]); err != nil {
			return nil, fmt.Errorf("host: deploy: plugin %q: %w", dp.Name, err)
		}
		modules[dp.Name] = dp.Digest
	}
	text, err := config.ReleaseText(src, modules)
	if err != nil {
		return nil, fmt.Errorf("host: deploy: %w", err)
	}
	// What the daemons will parse must parse here.
	if _, err := config.ParseIn("release", fresh.Dir, text); err != nil {
		return nil, fmt.Errorf("host: deploy: the release text does not parse: %w", err)
	}
	r, err := store.PutRelease(ctx, natsbus.Release{Config: text, Modules: modules, Note: opts.Note}, base)
	if err != nil {
		return nil, fmt.Errorf("host: deploy: %w", err)
	}
	res.Revision, res.Time = r.Revision, r.Time
	return res, nil
}

// checkPlugin returns the module of p, built or read, once it has loaded.
func (h *Host) checkPlugin(ctx context.Context, p *config.Plugin, dataDir string) ([]byte, error) {
	bin, _, err := h.readPlugin(ctx, p, dataDir)
	if err != nil {
		return nil, err
	}
	popts, err := h.pluginOptions(p)
	if err != nil {
		return nil, err
	}
	v, err := h.rt.Load(ctx, bin, popts)
	if err != nil {
		return nil, err
	}
	v.Close()
	return bin, nil
}

// deployNATSOptions are the options that reach cfg's broker from a client.
func deployNATSOptions(cfg *config.Config, dataDir string) (natsbus.Options, error) {
	b := cfg.Broker
	switch b.Kind {
	case config.BrokerNATS:
		o := natsOptions(cfg, dataDir)
		o.ClientName = "evhost-deploy"
		return o, nil
	case config.BrokerEmbedded:
		if b.Listen == "" {
			return natsbus.Options{}, fmt.Errorf("host: deploy: [broker] kind = %q has no listener, so its store is reachable only inside the daemon: set [broker] listen (the daemon then serves NATS there) or use kind = %q",
				config.BrokerEmbedded, config.BrokerNATS)
		}
		host, port, err := net.SplitHostPort(b.Listen)
		if err != nil {
			return natsbus.Options{}, fmt.Errorf("host: deploy: [broker] listen %q: %w", b.Listen, err)
		}
		if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			host = "127.0.0.1"
		}
		if port == "0" {
			return natsbus.Options{}, fmt.Errorf("host: deploy: [broker] listen %q: a random port cannot be reached; give the port", b.Listen)
		}
		o := natsOptions(cfg, dataDir)
		o.Embedded, o.URLs, o.ClientName = nil, []string{"nats://" + net.JoinHostPort(host, port)}, "evhost-deploy"
		return o, nil
	}
	return natsbus.Options{}, fmt.Errorf("host: deploy: [broker] kind = %q keeps nothing beside the process; deploy needs kind = %q (or %q with listen)",
		b.Kind, config.BrokerNATS, config.BrokerEmbedded)
}
