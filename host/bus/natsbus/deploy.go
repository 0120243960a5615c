package natsbus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
)

// What every daemon of a cluster runs lives beside the events, in two
// buckets (with the default prefix):
//
//	object store evhost_deploy   objects modules/<sha256 hex>   the plugins' modules, named by their digest
//	KV bucket    evhost_release  key release                    the current release (JSON), with its history
//
// Modules go in an object store because they are larger than a message
// (Go plugins are megabytes): it chunks them. The release is a KV value
// because it is small (a config text and a digest per plugin) and the KV
// gives what an object lacks: a revision number that orders releases, a
// compare-and-set that refuses a release published on top of one its
// author never saw, a history, and a watch that delivers the value itself.
// A release names modules only by digest, and PutRelease refuses one that
// names a module the store does not hold, so a daemon that sees a release
// can always fetch what it names.

// releaseKey is the key of the current release in the release bucket.
const releaseKey = "release"

// releaseHistory is how many releases the release bucket keeps.
const releaseHistory = 16

// Errors of the deploy store, wrapped with context.
var (
	// ErrNoRelease: nothing has been deployed yet.
	ErrNoRelease = errors.New("natsbus: no release deployed")
	// ErrNoModule: the store holds no module of that digest.
	ErrNoModule = errors.New("natsbus: no such module in the deploy store")
	// ErrDigestMismatch: the bytes stored under a digest are not the
	// module of that digest.
	ErrDigestMismatch = errors.New("natsbus: module does not match its digest")
	// ErrReleaseConflict: another release was published since the one a
	// new release was based on.
	ErrReleaseConflict = errors.New("natsbus: another release was published meanwhile")
)

// Release is what every daemon in deploy mode runs: a config text whose
// plugins are pinned by the digest of their modules.
type Release struct {
	// Revision orders releases; the store sets it (the KV revision).
	Revision uint64
	// Config is the config text (TOML) of the release, without [host] and
	// [broker]: each daemon keeps its own.
	Config []byte
	// Modules maps each enabled plugin of Config to the hex SHA-256 of its
	// module, as Config pins it.
	Modules map[string]string
	// Time is when the release was published; Note says why (free text).
	Time time.Time
	Note string
	// Base is the revision of the release this one was made on top of
	// (0: the first), as its author saw it.
	Base uint64
	// Signature is its author's signature of the release (see package
	// deploy); this package stores it and checks nothing.
	Signature []byte
}

// releaseJSON is the stored form of a Release.
type releaseJSON struct {
	Config    string            `json:"config"`
	Modules   map[string]string `json:"modules"`
	Time      time.Time         `json:"time"`
	Note      string            `json:"note,omitempty"`
	Base      uint64            `json:"base,omitempty"`
	Signature []byte            `json:"signature,omitempty"`
}

// DeployStore holds the modules and the releases of a cluster of daemons.
// It is safe for concurrent use.
type DeployStore struct {
	obj     jetstream.ObjectStore
	kv      jetstream.KeyValue
	log     *slog.Logger
	done    <-chan struct{} // closed when the connection is being closed
	closeFn func()          // closes the store's own connection (DialDeploys)
	once    sync.Once
}

// Deploys returns the deploy store beside the bus b, on b's connection:
// the object store <prefix>_deploy and the KV bucket <prefix>_release,
// on the bus's replicas, created when missing. It lives as long as b.
func Deploys(ctx context.Context, b *Bus) (*DeployStore, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	return openDeploys(ctx, b.js, b.opts.Prefix, b.replicas, b.log, b.done)
}

// DialDeploys connects to the cluster at opts.URLs and returns its deploy
// store, for a client that deploys: unlike Open it neither creates nor
// updates the bus's streams, nor starts a server (opts.Embedded must be
// nil: an embedded server's store is reached through its listener, with
// URLs). Close the store to close its connection.
func DialDeploys(ctx context.Context, opts Options) (*DeployStore, error) {
	if opts.Embedded != nil {
		return nil, fmt.Errorf("%w: DialDeploys: Embedded: reach an embedded server through its listener, with URLs", errOptions)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	b := &Bus{opts: opts, log: opts.Logger}
	nc, err := b.connect("-deploy", nil)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: %w", err)
	}
	// The replicas the bus would give its streams (see setupStreams).
	replicas := opts.Replicas
	if replicas == 0 {
		replicas = 1
		if nc.ConnectedClusterName() != "" {
			replicas = 3
		}
	}
	done := make(chan struct{})
	d, err := openDeploys(ctx, js, opts.Prefix, replicas, b.log, done)
	if err != nil {
		nc.Close()
		return nil, err
	}
	d.closeFn = func() { close(done); drain(nc) }
	return d, nil
}

func openDeploys(ctx context.Context, js jetstream.JetStream, prefix string, replicas int, log *slog.Logger, done <-chan struct{}) (*DeployStore, error) {
	bucket := prefix + "_deploy"
	obj, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      bucket,
		Description: "evhost: plugin modules by SHA-256",
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: deploy object store %s: %w", bucket, err)
	}
	rb := prefix + "_release"
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      rb,
		Description: "evhost: the current release and its history",
		History:     releaseHistory,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: release bucket %s: %w", rb, err)
	}
	return &DeployStore{obj: obj, kv: kv, log: log, done: done}, nil
}

// Close closes the connection of a store from DialDeploys; it does nothing
// for one from Deploys (closing the bus does).
func (d *DeployStore) Close() {
	if d.closeFn != nil {
		d.once.Do(d.closeFn)
	}
}

// Digest returns the hex SHA-256 of a module, the name the store gives it.
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

func moduleName(digest string) string { return "modules/" + digest }

// objectDigest is the object store's form of a SHA-256 (ObjectInfo.Digest).
func objectDigest(sum []byte) string {
	return "SHA-256=" + base64.URLEncoding.EncodeToString(sum)
}

// PutModule stores a module under its digest and returns the digest. A
// module already stored is not sent again; one stored under its digest
// with other bytes (a corrupt or tampered object) is replaced.
func (d *DeployStore) PutModule(ctx context.Context, wasm []byte) (string, error) {
	sum := sha256.Sum256(wasm)
	digest := hex.EncodeToString(sum[:])
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	name := moduleName(digest)
	info, err := d.obj.GetInfo(ctx, name)
	switch {
	case err == nil && info.Size == uint64(len(wasm)) && info.Digest == objectDigest(sum[:]):
		return digest, nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		return "", fmt.Errorf("natsbus: deploy: module %s: %w", digest, err)
	}
	meta := jetstream.ObjectMeta{Name: name, Description: "evhost plugin module"}
	if _, err := d.obj.Put(ctx, meta, bytes.NewReader(wasm)); err != nil {
		return "", fmt.Errorf("natsbus: deploy: store module %s: %w", digest, err)
	}
	return digest, nil
}

// HasModule reports whether the store holds a module under digest, without
// fetching it.
func (d *DeployStore) HasModule(ctx context.Context, digest string) (bool, error) {
	if !validDigest(digest) {
		return false, fmt.Errorf("natsbus: deploy: invalid digest %q: want 64 lowercase hex digits", digest)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	_, err := d.obj.GetInfo(ctx, moduleName(digest))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return false, nil
	}
	return false, fmt.Errorf("natsbus: deploy: module %s: %w", digest, err)
}

// GetModule returns the module of digest. It refuses (ErrDigestMismatch)
// bytes whose SHA-256 is not digest, and returns ErrNoModule when the
// store has none.
func (d *DeployStore) GetModule(ctx context.Context, digest string) ([]byte, error) {
	if !validDigest(digest) {
		return nil, fmt.Errorf("natsbus: deploy: invalid digest %q: want 64 lowercase hex digits", digest)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // megabytes, perhaps from far away
	defer cancel()
	wasm, err := d.obj.GetBytes(ctx, moduleName(digest))
	switch {
	case errors.Is(err, jetstream.ErrObjectNotFound):
		return nil, fmt.Errorf("%w: %s", ErrNoModule, digest)
	case errors.Is(err, jetstream.ErrDigestMismatch):
		return nil, fmt.Errorf("%w: %s: the object's chunks do not match its own digest", ErrDigestMismatch, digest)
	case err != nil:
		return nil, fmt.Errorf("natsbus: deploy: fetch module %s: %w", digest, err)
	}
	if got := Digest(wasm); got != digest {
		return nil, fmt.Errorf("%w: stored as %s, its SHA-256 is %s", ErrDigestMismatch, digest, got)
	}
	return wasm, nil
}

// PutRelease publishes r as the current release, if the current one is
// still the release of revision after (0: if there is none yet); otherwise
// it returns ErrReleaseConflict and publishes nothing. Every module that
// r.Modules names must be in the store already. It returns r as stored,
// with its Revision, and its Time set to now when it was zero.
func (d *DeployStore) PutRelease(ctx context.Context, r Release, after uint64) (Release, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	for name, digest := range r.Modules {
		if !bus.ValidName(name) {
			return Release{}, fmt.Errorf("natsbus: release: invalid plugin name %q", name)
		}
		ok, err := d.HasModule(ctx, digest)
		if err != nil {
			return Release{}, fmt.Errorf("natsbus: release: plugin %q: %w", name, err)
		}
		if !ok {
			return Release{}, fmt.Errorf("natsbus: release: plugin %q: %w: %s (put it first)", name, ErrNoModule, digest)
		}
	}
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	val, err := encodeRelease(r)
	if err != nil {
		return Release{}, fmt.Errorf("natsbus: release: %w", err)
	}
	rev, err := d.kv.Update(ctx, releaseKey, val, after)
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return Release{}, fmt.Errorf("%w (expected the release of revision %d to be the current one)", ErrReleaseConflict, after)
	}
	if err != nil {
		return Release{}, fmt.Errorf("natsbus: publish release: %w", err)
	}
	r.Revision = rev
	return r, nil
}

// Release returns the current release, or ErrNoRelease.
func (d *DeployStore) Release(ctx context.Context) (Release, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	e, err := d.kv.Get(ctx, releaseKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Release{}, ErrNoRelease
	}
	if err != nil {
		return Release{}, fmt.Errorf("natsbus: read release: %w", err)
	}
	return decodeRelease(e)
}

func decodeRelease(e jetstream.KeyValueEntry) (Release, error) {
	return parseRelease(e.Revision(), e.Value())
}

// encodeRelease returns the stored form of r (its Revision is not part of
// it: the store gives it).
func encodeRelease(r Release) ([]byte, error) {
	return json.Marshal(releaseJSON{Config: string(r.Config), Modules: r.Modules, Time: r.Time, Note: r.Note,
		Base: r.Base, Signature: r.Signature})
}

// parseRelease decodes the stored form of the release of revision rev:
// bytes from the broker, which anyone who can write to the bucket chose.
func parseRelease(rev uint64, val []byte) (Release, error) {
	var j releaseJSON
	if err := json.Unmarshal(val, &j); err != nil {
		return Release{}, fmt.Errorf("natsbus: release of revision %d: %w", rev, err)
	}
	return Release{Revision: rev, Config: []byte(j.Config), Modules: j.Modules, Time: j.Time, Note: j.Note,
		Base: j.Base, Signature: j.Signature}, nil
}

// WatchReleases delivers the current release (if there is one) and then
// every release published after it, in order, until ctx ends or the bus
// closes, when it closes the channel. A receiver that falls behind gets
// the newest release only: the channel holds one, replaced by the next.
// A release that cannot be decoded is logged and skipped. The watch
// survives reconnections.
func (d *DeployStore) WatchReleases(ctx context.Context) (<-chan Release, error) {
	w, err := d.kv.Watch(ctx, releaseKey, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("natsbus: watch releases: %w", err)
	}
	out := make(chan Release, 1)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var e jetstream.KeyValueEntry
			select {
			case <-ctx.Done():
				return
			case <-d.done:
				return
			case v, ok := <-w.Updates():
				if !ok {
					return
				}
				e = v
			}
			if e == nil { // the end of the initial values
				continue
			}
			r, err := decodeRelease(e)
			if err != nil {
				d.log.Error("natsbus: skipping a release", slog.Any("error", err))
				continue
			}
			// Only the newest matters: replace one the receiver has not
			// taken. This goroutine is the only sender, so the send after
			// the drain cannot block.
			select {
			case <-out:
			default:
			}
			out <- r
		}
	}()
	return out, nil
}

// validDigest reports whether s is 64 lowercase hex digits.
func validDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
