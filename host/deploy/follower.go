package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
)

// Retries of a refused release: the first after releaseRetry, then twice
// as long each time, up to releaseRetryMax.
const (
	releaseRetry    = time.Second
	releaseRetryMax = 5 * time.Minute
)

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// Local is the daemon's own config: its [host], [broker] and
	// [tracing], and the directory its paths are relative to.
	Local *config.Config
	// Modules is the daemon's module cache and deploy store.
	Modules *Modules
	// Apply applies the config of a release as a config reload (build
	// aside, check, swap, retire), or refuses it as a whole.
	Apply func(context.Context, *config.Config) error
	// Applied, if set, is told the outcome of every release tried.
	Applied func(err error)
	Logger  *slog.Logger
}

// Follower is the daemon's side of deploy mode: it runs the current
// release and applies each new one.
type Follower struct {
	opts  FollowerOptions
	store *natsbus.DeployStore

	applyMu sync.Mutex // one release applied at a time

	mu      sync.Mutex
	current natsbus.Release // the applied release; Revision 0 before the first
	refusal *api.ReleaseRefusal

	cancel context.CancelFunc // stops the release watch
	done   chan struct{}      // closed when the release watch has stopped
}

// Follow opens deploy mode: it returns the Follower and the config to
// start with, the local config merged with the current release (without
// plugins or webhooks when nothing was deployed yet). Nothing is applied
// until Start.
func Follow(ctx context.Context, opts FollowerOptions) (*Follower, *config.Config, error) {
	if len(opts.Local.Deploy.PublicKeys) == 0 {
		return nil, nil, fmt.Errorf("deploy mode: %s: [deploy] public_keys is empty: a daemon runs only releases signed by a key it trusts (evhost deploy --key); give the public key of the deployer's", opts.Local.File)
	}
	store, err := opts.Modules.Store(ctx)
	if err != nil {
		return nil, nil, err
	}
	f := &Follower{opts: opts, store: store}
	local := opts.Local
	if n := len(local.Plugins) + len(local.Webhooks); n > 0 {
		opts.Logger.Info("deploy mode: the plugins and webhooks of the local config are ignored; the release's run",
			slog.String("config", local.File), slog.Int("ignored", n))
	}
	r, err := store.Release(ctx)
	if errors.Is(err, natsbus.ErrNoRelease) {
		cfg := *local
		cfg.Plugins, cfg.Webhooks = nil, nil
		opts.Logger.Warn("deploy mode: nothing deployed yet; no plugin runs until the first release (evhost deploy)")
		return f, &cfg, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("deploy mode: %w", err)
	}
	cfg, err := f.releaseConfig(r)
	if err != nil {
		// Refused: start without plugins rather than not at all (a
		// broker writer must not keep the daemon down), and say why.
		f.refuse(r, err)
		if opts.Applied != nil {
			opts.Applied(err)
		}
		cfg := *local
		cfg.Plugins, cfg.Webhooks = nil, nil
		return f, &cfg, nil
	}
	f.current = r
	opts.Logger.Info("deploy mode: running release", releaseAttrs(r)...)
	return f, cfg, nil
}

// Info returns the release the daemon runs and the last one refused.
func (f *Follower) Info() *api.ReleaseInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	info := &api.ReleaseInfo{Revision: f.current.Revision, Time: f.current.Time, Note: f.current.Note, Modules: f.current.Modules}
	if f.refusal != nil {
		r := *f.refusal
		info.LastRefusal = &r
	}
	return info
}

func (f *Follower) applied() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.current.Revision
}

func releaseAttrs(r natsbus.Release) []any {
	return []any{slog.Uint64("release", r.Revision), slog.Time("published", r.Time), slog.String("note", r.Note),
		slog.Int("plugins", len(r.Modules))}
}

// releaseConfig parses the config of release r, checks that it pins every
// enabled plugin to the digest r.Modules names, and gives it the daemon's
// own [host], [broker] and [tracing].
func (f *Follower) releaseConfig(r natsbus.Release) (*config.Config, error) {
	local := f.opts.Local
	name := fmt.Sprintf("release %d", r.Revision)
	// Nothing of an unverified release is read: not even the variables
	// and files it names.
	if err := Verify(r, local.Deploy.PublicKeys); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	switch running := f.applied(); {
	case r.Base < running:
		return nil, fmt.Errorf("%s: made on top of release %d, older than the running %d: an old signed release published again is refused", name, r.Base, running)
	case r.Base >= r.Revision:
		return nil, fmt.Errorf("%s: claims to be made on top of release %d, not an older one", name, r.Base)
	}
	cfg, err := config.ParseRelease(name, local.Dir, r.Config, local.Deploy.Policy())
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
	cfg.Host, cfg.Broker, cfg.Tracing, cfg.Deploy = local.Host, local.Broker, local.Tracing, local.Deploy
	return cfg, nil
}

// Start applies every new release until Stop. A refused release is tried
// again, less and less often, while it is the newest: what failed may
// have been passing (the store out of reach) or mended since (a corrupt
// module put again).
func (f *Follower) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := f.store.WatchReleases(ctx)
	if err != nil {
		cancel()
		return fmt.Errorf("deploy mode: %w", err)
	}
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
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
			if err := f.apply(ctx, newest); err != nil && ctx.Err() == nil {
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

// Stop stops the release watch and waits for a release being applied.
func (f *Follower) Stop() {
	if f == nil || f.cancel == nil {
		return
	}
	f.cancel()
	<-f.done
}

// Reload applies the current release if it is not the one running: what
// a reload does in deploy mode (SIGHUP, POST /v1/admin/reload), which also
// tries a refused release again.
func (f *Follower) Reload(ctx context.Context) error {
	r, err := f.store.Release(ctx)
	if errors.Is(err, natsbus.ErrNoRelease) {
		return nil
	}
	if err != nil {
		f.opts.Logger.Error("deploy mode: reading the current release", slog.Any("err", err))
		return err
	}
	return f.apply(ctx, r)
}

// apply applies r as a config reload, unless the daemon runs r or a later
// release already. A release that fails is refused and recorded; the
// running one stays.
func (f *Follower) apply(ctx context.Context, r natsbus.Release) error {
	f.applyMu.Lock()
	defer f.applyMu.Unlock()
	if r.Revision <= f.applied() {
		return nil
	}
	start := time.Now()
	cfg, err := f.releaseConfig(r)
	if err == nil {
		err = f.opts.Apply(ctx, cfg)
	}
	if f.opts.Applied != nil {
		f.opts.Applied(err)
	}
	if err != nil {
		f.refuse(r, err)
		return err
	}
	f.mu.Lock()
	f.current, f.refusal = r, nil
	f.mu.Unlock()
	f.opts.Logger.Info("release applied", append(releaseAttrs(r), slog.Duration("took", time.Since(start)))...)
	f.opts.Modules.prune(r)
	return nil
}

// refuse records and logs the refusal of release r.
func (f *Follower) refuse(r natsbus.Release, err error) {
	f.mu.Lock()
	f.refusal = &api.ReleaseRefusal{Revision: r.Revision, Time: time.Now().UTC(), Error: err.Error()}
	running := f.current.Revision
	f.mu.Unlock()
	f.opts.Logger.Error("release refused; the running one stays (it is tried again while it is the newest)",
		append(releaseAttrs(r), slog.Uint64("running", running), slog.Any("err", err))...)
}
