package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus/natsbus"
)

func deploys(t *testing.T, b *natsbus.Bus) *natsbus.DeployStore {
	t.Helper()
	d, err := natsbus.Deploys(context.Background(), b)
	if err != nil {
		t.Fatalf("Deploys: %v", err)
	}
	return d
}

// Modules are stored once under their SHA-256 and read back verified; bytes
// that do not match their name are refused, and putting the real module
// again replaces them.
func TestDeployModules(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	d := deploys(t, b)
	ctx := context.Background()
	mod := bytes.Repeat([]byte("\x00asm module "), 20000) // several chunks
	digest, err := d.PutModule(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	if digest != natsbus.Digest(mod) {
		t.Fatalf("PutModule returned %s, want %s", digest, natsbus.Digest(mod))
	}
	if again, err := d.PutModule(ctx, mod); err != nil || again != digest {
		t.Fatalf("PutModule again: %s, %v", again, err)
	}
	got, err := d.GetModule(ctx, digest)
	if err != nil || !bytes.Equal(got, mod) {
		t.Fatalf("GetModule: %d bytes, %v", len(got), err)
	}

	other := natsbus.Digest([]byte("other"))
	if _, err := d.GetModule(ctx, other); !errors.Is(err, natsbus.ErrNoModule) {
		t.Fatalf("GetModule of a missing module: %v, want ErrNoModule", err)
	}
	if _, err := d.GetModule(ctx, "sha256:"+other); err == nil {
		t.Fatal("GetModule accepted an invalid digest")
	}

	// Tampered: the bytes of mod stored under the digest of "other".
	if err := natsbus.PutRaw(ctx, d, other, mod); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GetModule(ctx, other); !errors.Is(err, natsbus.ErrDigestMismatch) {
		t.Fatalf("GetModule of a tampered module: %v, want ErrDigestMismatch", err)
	}
	if _, err := d.PutModule(ctx, []byte("other")); err != nil {
		t.Fatal(err)
	}
	if got, err := d.GetModule(ctx, other); err != nil || string(got) != "other" {
		t.Fatalf("after putting the real module: %q, %v", got, err)
	}
}

// Releases: none at first; PutRelease refuses a release naming a missing
// module and one based on a release that is no longer current; the watch
// delivers the current release, then each new one.
func TestDeployReleases(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	d := deploys(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Release(ctx); !errors.Is(err, natsbus.ErrNoRelease) {
		t.Fatalf("Release before any: %v, want ErrNoRelease", err)
	}
	v1, _ := d.PutModule(ctx, []byte("v1"))
	missing := natsbus.Digest([]byte("missing"))
	if _, err := d.PutRelease(ctx, natsbus.Release{Modules: map[string]string{"p": missing}}, 0); !errors.Is(err, natsbus.ErrNoModule) {
		t.Fatalf("PutRelease with a missing module: %v, want ErrNoModule", err)
	}
	r1, err := d.PutRelease(ctx, natsbus.Release{Config: []byte("# one\n"), Modules: map[string]string{"p": v1}, Note: "first"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Revision == 0 || r1.Time.IsZero() {
		t.Fatalf("PutRelease returned %+v", r1)
	}
	if _, err := d.PutRelease(ctx, natsbus.Release{Modules: map[string]string{"p": v1}}, 0); !errors.Is(err, natsbus.ErrReleaseConflict) {
		t.Fatalf("PutRelease on a stale base: %v, want ErrReleaseConflict", err)
	}
	cur, err := d.Release(ctx)
	if err != nil || cur.Revision != r1.Revision || string(cur.Config) != "# one\n" || cur.Modules["p"] != v1 || cur.Note != "first" {
		t.Fatalf("Release: %+v, %v", cur, err)
	}

	watch, err := d.WatchReleases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	next := func() natsbus.Release {
		t.Helper()
		select {
		case r := <-watch:
			return r
		case <-ctx.Done():
			t.Fatal("no release from the watch")
		}
		return natsbus.Release{}
	}
	if r := next(); r.Revision != r1.Revision {
		t.Fatalf("the watch began with revision %d, want the current %d", r.Revision, r1.Revision)
	}
	v2, _ := d.PutModule(ctx, []byte("v2"))
	r2, err := d.PutRelease(ctx, natsbus.Release{Config: []byte("# two\n"), Modules: map[string]string{"p": v2}}, r1.Revision)
	if err != nil {
		t.Fatal(err)
	}
	if r := next(); r.Revision != r2.Revision || r.Modules["p"] != v2 || string(r.Config) != "# two\n" {
		t.Fatalf("the watch delivered %+v, want revision %d", r, r2.Revision)
	}
	cancel()
	for range watch { // closed once ctx ends
	}
}

// A deploying client reaches the store through the cluster's URLs, without
// touching the bus's streams, and sees what the daemons' bus sees.
func TestDialDeploys(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	prefix := uniquePrefix()
	ctx := context.Background()
	client, err := natsbus.DialDeploys(ctx, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	digest, err := client.PutModule(ctx, []byte("module"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := client.PutRelease(ctx, natsbus.Release{Modules: map[string]string{"p": digest}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: prefix})
	defer closeBus(t, b)
	d := deploys(t, b)
	got, err := d.Release(ctx)
	if err != nil || got.Revision != r.Revision {
		t.Fatalf("the bus's store: %+v, %v", got, err)
	}
	if m, err := d.GetModule(ctx, digest); err != nil || string(m) != "module" {
		t.Fatalf("GetModule: %q, %v", m, err)
	}
	if _, err := natsbus.DialDeploys(ctx, embedded(t)); err == nil {
		t.Fatal("DialDeploys accepted an embedded server")
	}
}
