package host_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/deploy"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
)

// cluster is a NATS server with a listener, standing for a cluster, and the
// directory of the deployer's config.
type cluster struct {
	url string
	dir string             // the deployer's config.toml and its plugin file ver.wasm
	key ed25519.PrivateKey // signs the releases; the daemons trust its public key
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	srv, err := natsbus.Open(ctx, natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) }) // registered first: runs after the hosts closed
	c := &cluster{url: srv.ClientURL(), dir: t.TempDir(), key: newSigningKey(t)}
	c.write(t, "config.toml", []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "nats"
url = %q
[defaults]
queue = 100000
[plugins.ver]
path = "ver.wasm"
events = ["work"]
concurrency = 4
`, c.url)))
	return c
}

func (c *cluster) write(t *testing.T, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(c.dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// deploy runs host.Deploy on the deployer's config with the module bin as
// ver.wasm.
func (c *cluster) deploy(t *testing.T, bin []byte, note string) (*deploy.Result, error) {
	t.Helper()
	c.write(t, "ver.wasm", bin)
	cfg, err := config.Load(filepath.Join(c.dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return deploy.Deploy(context.Background(), cfg, deploy.Options{Note: note, Key: c.key})
}

// newSigningKey makes an Ed25519 signing key.
func newSigningKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// publicKey is k's public key as [deploy] public_keys takes it: the
// base64 of its DER form.
func publicKey(t *testing.T, k ed25519.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// daemon starts a host in deploy mode on the cluster, with a native route
// "observer" (shared by every daemon) that records which version handled
// each work event.
func (c *cluster) daemon(t *testing.T, log *handledLog, fails *failures) (*host.Host, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "nats"
url = %q
[deploy]
public_keys = [%q]
`, c.url, publicKey(t, c.key))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: fails, Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		h.Close(ctx)
	})
	h.Handle("observer", []string{"handled"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		cause, _ := ev.Ext(event.ExtCausationID)
		log.add(cause, string(ev.Data))
		return nil
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return h, filepath.Join(dir, "data")
}

// waitFor waits until cond holds, polling it.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// serving reports whether every host serves plugin "ver" at digest.
func serving(hosts []*host.Host, digest string) func() bool {
	return func() bool {
		for _, h := range hosts {
			if p := h.Plugin("ver"); p == nil || p.Hash() != digest {
				return false
			}
		}
		return true
	}
}

// refused reports whether every host refused the release of revision rev.
func refused(hosts []*host.Host, rev uint64) func() bool {
	return func() bool {
		for _, h := range hosts {
			if r := h.Release().LastRefusal; r == nil || r.Revision != rev {
				return false
			}
		}
		return true
	}
}

// checkHandled checks that each of ids was handled exactly once, by version.
func checkHandled(t *testing.T, log *handledLog, ids []string, version string) {
	t.Helper()
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, id := range ids {
		if vs := log.by[id]; len(vs) != 1 || version != "" && vs[0] != version {
			t.Fatalf("event %s handled by %v, want once by %s", id, vs, version)
		}
	}
}

// Two daemons in deploy mode on one cluster run the same modules, pinned
// by digest, and follow each release: the one deployed before a daemon
// started and the ones after; events keep being handled across a release;
// a release with a broken module, and one whose module's bytes do not match
// its digest, and one with a plugin not pinned by digest, are refused by
// both while the running one serves; a refused release is tried again and
// runs once its module is mended; a cached module that does not match its
// digest is fetched again.
func TestDeployTwoDaemons(t *testing.T) {
	c := newCluster(t)
	log := &handledLog{by: map[string][]string{}, changed: make(chan struct{}, 1)}
	fails := &failures{}
	v1, v2, v3, v4 := versionWAT(t, "v1"), versionWAT(t, "v2"), versionWAT(t, "v3"), versionWAT(t, "v4")

	// b starts before anything is deployed: it runs no plugin.
	b, _ := c.daemon(t, log, fails)
	if r := b.Release(); r == nil || r.Revision != 0 || b.Plugin("ver") != nil {
		t.Fatalf("before the first release: %+v, plugin %v", r, b.Plugin("ver"))
	}
	res, err := c.deploy(t, v1, "first")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Plugins) != 1 || res.Plugins[0].Digest != wasm.Hash(v1) || res.Plugins[0].Source != "ver.wasm" {
		t.Fatalf("deployed %+v", res.Plugins)
	}
	a, aData := c.daemon(t, log, fails) // starts on release 1
	hosts := []*host.Host{a, b}
	waitFor(t, "both daemons on release 1 (v1)", serving(hosts, wasm.Hash(v1)))
	for _, h := range hosts {
		info := h.Plugins()[0]
		if r := h.Release(); r.Revision != res.Revision || r.Note != "first" || info.Path != "sha256:"+wasm.Hash(v1) {
			t.Fatalf("release %+v, plugin %+v", r, info)
		}
	}
	total := 0
	publish := func(h *host.Host, n int) []string {
		ids := publishAll(t, h, n, nil)
		total += n
		log.waitCount(t, total)
		return ids
	}
	checkHandled(t, log, publish(a, 100), "v1")

	// Release 2 while events flow: both swap to v2, nothing fails.
	done := make(chan []string)
	go func() { done <- publishAll(t, b, 500, nil) }()
	res2, err := c.deploy(t, v2, "second")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both daemons on release 2 (v2)", serving(hosts, wasm.Hash(v2)))
	during := <-done
	total += len(during)
	log.waitCount(t, total)
	checkHandled(t, log, during, "")
	checkHandled(t, log, publish(a, 100), "v2")

	// A broken module: Deploy checks it and publishes nothing.
	broken := []byte("\x00asm\x01\x00\x00\x00 not a module")
	if _, err := c.deploy(t, broken, "broken"); err == nil || !strings.Contains(err.Error(), "nothing published") {
		t.Fatalf("deploying a broken module: %v", err)
	}
	// Published anyway, past the checks: both daemons refuse it.
	store, err := natsbus.DialDeploys(context.Background(), natsbus.Options{URLs: []string{c.url}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// release publishes a release of the deployer's config with plugin ver
	// pinned to digest (after storing bin, if not nil); pin false leaves
	// its path as the file's.
	release := func(bin []byte, digest string, pin bool) uint64 {
		t.Helper()
		ctx := context.Background()
		if bin != nil {
			if _, err := store.PutModule(ctx, bin); err != nil {
				t.Fatal(err)
			}
		}
		src, _ := os.ReadFile(filepath.Join(c.dir, "config.toml"))
		pins := map[string]string{"ver": digest}
		if !pin {
			pins = nil
		}
		text, err := config.ReleaseText(src, pins)
		if err != nil {
			t.Fatal(err)
		}
		cur, err := store.Release(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rel := natsbus.Release{Config: text, Modules: map[string]string{"ver": digest}, Base: cur.Revision}
		deploy.Sign(&rel, c.key)
		r, err := store.PutRelease(ctx, rel, cur.Revision)
		if err != nil {
			t.Fatal(err)
		}
		return r.Revision
	}
	rev := release(broken, wasm.Hash(broken), true)
	waitFor(t, "both daemons refusing the broken release", refused(hosts, rev))
	for _, h := range hosts {
		if r := h.Release(); r.Revision != res2.Revision {
			t.Fatalf("running release %d after a refused one, want %d", r.Revision, res2.Revision)
		}
	}
	checkHandled(t, log, publish(b, 100), "v2")

	// Tampered: the bytes of v1 stored as the module of v3's digest.
	nc, err := nats.Connect(c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	obs, err := js.ObjectStore(context.Background(), "evhost_deploy")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(context.Background(), "modules/"+wasm.Hash(v3), v1); err != nil {
		t.Fatal(err)
	}
	rev = release(nil, wasm.Hash(v3), true)
	waitFor(t, "both daemons refusing the tampered module", refused(hosts, rev))
	if r := a.Release().LastRefusal; !strings.Contains(r.Error, "does not match its digest") {
		t.Fatalf("refusal: %s", r.Error)
	}
	checkHandled(t, log, publish(a, 100), "v2")

	// The real v3 put in the store mends the object: the daemons try the
	// refused release again and run it. a's cached copy of that digest is
	// garbage, which a notices and fetches again.
	cached := filepath.Join(aData, "deploy", wasm.Hash(v3)+".wasm")
	if err := os.WriteFile(cached, v1, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutModule(context.Background(), v3); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both daemons on v3, the mended release", serving(hosts, wasm.Hash(v3)))
	checkHandled(t, log, publish(b, 100), "v3")
	if got, err := os.ReadFile(cached); err != nil || wasm.Hash(got) != wasm.Hash(v3) {
		t.Fatalf("the cache holds %d bytes (%v), not v3", len(got), err)
	}
	if _, err := os.Stat(filepath.Join(aData, "deploy", wasm.Hash(v2)+".wasm")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the module of an old release is still cached: %v", err)
	}

	// A release whose plugin is a file path, which each daemon would read
	// from its own disk, is refused.
	rev = release(nil, wasm.Hash(v3), false)
	waitFor(t, "both daemons refusing an unpinned plugin", refused(hosts, rev))
	if r := b.Release().LastRefusal; !strings.Contains(r.Error, "must be pinned by digest") {
		t.Fatalf("refusal: %s", r.Error)
	}

	// The next deploy supersedes it.
	if _, err := c.deploy(t, v4, "fourth"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both daemons on v4", serving(hosts, wasm.Hash(v4)))
	checkHandled(t, log, publish(a, 100), "v4")
	if f := fails.list(); len(f) > 0 {
		t.Fatalf("%d failed attempts, first: %s", len(f), f[0])
	}
}

// Deploy refuses a broker it cannot reach from outside a daemon.
func TestDeployNeedsAReachableBroker(t *testing.T) {
	dir := t.TempDir()
	for _, broker := range []string{`kind = "embedded"`, `kind = "memory"`} {
		path := filepath.Join(dir, "config.toml")
		os.WriteFile(path, []byte("[broker]\n"+broker+"\n"), 0o644)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := deploy.Deploy(context.Background(), cfg, deploy.Options{Key: newSigningKey(t)}); err == nil || !strings.Contains(err.Error(), "deploy") {
			t.Errorf("%s: %v", broker, err)
		}
	}
}
