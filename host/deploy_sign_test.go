package host_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/deploy"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// configWAT is a reactor that, for every event, emits one "handled" event
// whose data is its config value "secret" (empty when it has none).
func configWAT(t testing.TB) []byte {
	t.Helper()
	var prefix []byte
	prefix = event.AppendAttr(prefix, "type", "handled")
	prefix = append(prefix, 0)
	var esc strings.Builder
	for _, c := range prefix {
		fmt.Fprintf(&esc, "\\%02x", c)
	}
	at := 1024 - len(prefix) // the value lands at 1024, right after the prefix
	return wasmbuild.WAT(t, fmt.Sprintf(`(module
  (import "evhost" "emit" (func $emit (param i32 i32) (result i32)))
  (import "evhost" "config_get" (func $config_get (param i32 i32) (result i64)))
  (memory (export "memory") 2)
  (data (i32.const 16) "secret")
  (data (i32.const %d) "%s")
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "evhost_handle") (param i32 i32) (result i32)
    (local $r i64) (local $n i32)
    (local.set $r (call $config_get (i32.const 16) (i32.const 6)))
    (if (i64.gt_s (local.get $r) (i64.const 0))
      (then (local.set $n (i32.wrap_i64 (i64.and (local.get $r) (i64.const 0xffffffff))))))
    (drop (call $emit (i32.const %d) (i32.add (i32.const %d) (local.get $n))))
    (i32.const 0)))`, at, esc.String(), at, len(prefix)))
}

// A daemon in deploy mode on its embedded broker, whose listener requires
// a token, runs only releases signed by a key of its [deploy] public_keys:
// an unsigned release and one signed by another key are refused (counted,
// shown in its release info, the running one kept); a signed one made by
// Deploy (with the credentials of its config) is applied. A signed release
// whose config_env names a variable outside [deploy] allow_env is refused,
// and the variable's value never reaches the plugin; one naming an allowed
// variable runs.
func TestDeploySignedReleases(t *testing.T) {
	t.Setenv("EVHOST_TEST_DAEMON_SECRET", "daemon-private-value")
	t.Setenv("EVHOST_TEST_SHARED", "shared-value")
	t.Setenv("EVHOST_TEST_NATS_TOKEN", "nats-token")
	key, otherKey := newSigningKey(t), newSigningKey(t)
	auth := "[broker.listen_auth]\ntoken_env = \"EVHOST_TEST_NATS_TOKEN\"\n"

	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "embedded"
listen = "127.0.0.1:0"
%s
[deploy]
public_keys = [%q]
allow_env = ["EVHOST_TEST_SHARED"]
`, auth, publicKey(t, key))))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Deployed: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		h.Close(ctx)
	})
	log := &handledLog{by: map[string][]string{}, changed: make(chan struct{}, 1)}
	h.Handle("observer", []string{"handled"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		cause, _ := ev.Ext(event.ExtCausationID)
		log.add(cause, string(ev.Data))
		return nil
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(h.BrokerURL())
	if err != nil {
		t.Fatal(err)
	}

	// The deployer's config: the same broker, reached at the listener.
	ddir := t.TempDir()
	bin := configWAT(t)
	os.WriteFile(filepath.Join(ddir, "cfg.wasm"), bin, 0o644)
	deployerConfig := func(configEnv string) *config.Config {
		t.Helper()
		text := fmt.Sprintf("[host]\ndata_dir = \"data\"\n[broker]\nkind = \"embedded\"\nlisten = %q\n%s\n"+
			"[plugins.cfg]\npath = \"cfg.wasm\"\nevents = [\"work\"]\nconfig_env = { secret = %q }\n", u.Host, auth, configEnv)
		path := filepath.Join(ddir, "config.toml")
		os.WriteFile(path, []byte(text), 0o644)
		c, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Unsigned and wrongly signed releases, published past Deploy with the
	// listener's credentials.
	nopts := natsbus.Options{URLs: []string{h.BrokerURL()}, Token: "nats-token"}
	store, err := natsbus.DialDeploys(context.Background(), nopts)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	digest, err := store.PutModule(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile(deployerConfig("EVHOST_TEST_SHARED").File)
	text, err := config.ReleaseText(src, map[string]string{"cfg": digest})
	if err != nil {
		t.Fatal(err)
	}
	put := func(sign ed25519.PrivateKey, base uint64) uint64 {
		t.Helper()
		r := natsbus.Release{Config: text, Modules: map[string]string{"cfg": digest}, Base: base}
		if sign != nil {
			deploy.Sign(&r, sign)
		}
		r, err := store.PutRelease(context.Background(), r, base)
		if err != nil {
			t.Fatal(err)
		}
		return r.Revision
	}
	hosts := []*host.Host{h}
	rev := put(nil, 0)
	waitFor(t, "the unsigned release refused", refused(hosts, rev))
	if r := h.Release(); r.Revision != 0 || !strings.Contains(r.LastRefusal.Error, "not signed") || h.Plugin("cfg") != nil {
		t.Fatalf("after an unsigned release: %+v %+v", r, r.LastRefusal)
	}
	rev = put(otherKey, rev)
	waitFor(t, "the wrongly signed release refused", refused(hosts, rev))
	if r := h.Release(); r.Revision != 0 || !strings.Contains(r.LastRefusal.Error, "not made by a trusted key") {
		t.Fatalf("after a wrongly signed release: %+v %+v", r, r.LastRefusal)
	}
	// Signed by the right key, but tampered with after: refused.
	tampered := natsbus.Release{Config: text, Modules: map[string]string{"cfg": digest}, Base: rev}
	deploy.Sign(&tampered, key)
	tampered.Note = "changed after signing"
	tr, err := store.PutRelease(context.Background(), tampered, rev)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the tampered release refused", refused(hosts, tr.Revision))

	// Deploy without a key publishes nothing.
	if _, err := deploy.Deploy(context.Background(), deployerConfig("EVHOST_TEST_SHARED"), deploy.Options{}); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Fatalf("Deploy without a key: %v", err)
	}

	// A signed release that reads a variable the daemon does not allow.
	res, err := deploy.Deploy(context.Background(), deployerConfig("EVHOST_TEST_DAEMON_SECRET"), deploy.Options{Key: key, Note: "steal"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the release reading a forbidden variable refused", refused(hosts, res.Revision))
	if r := h.Release().LastRefusal; !strings.Contains(r.Error, "EVHOST_TEST_DAEMON_SECRET is not in this daemon's [deploy] allow_env") {
		t.Fatalf("refusal: %s", r.Error)
	}
	if h.Plugin("cfg") != nil {
		t.Fatal("the plugin of a refused release runs")
	}

	// A signed release that reads an allowed variable runs.
	res, err = deploy.Deploy(context.Background(), deployerConfig("EVHOST_TEST_SHARED"), deploy.Options{Key: key, Note: "good"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the signed release applied", func() bool { p := h.Plugin("cfg"); return p != nil && p.Hash() == wasm.Hash(bin) })
	if r := h.Release(); r.Revision != res.Revision || r.Note != "good" || r.LastRefusal != nil {
		t.Fatalf("release %+v", r)
	}
	ids := publishAll(t, h, 3, nil)
	log.waitCount(t, 3)
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, id := range ids {
		if got := log.by[id]; len(got) != 1 || got[0] != "shared-value" {
			t.Fatalf("event %s: the plugin saw %q", id, got)
		}
	}
	for _, vs := range log.by {
		for _, v := range vs {
			if strings.Contains(v, "daemon-private") {
				t.Fatal("the daemon's secret reached the plugin")
			}
		}
	}
}
