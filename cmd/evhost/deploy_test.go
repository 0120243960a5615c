package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// `evhost deploy` publishes a release that a daemon started with
// `evhost run --from-deploy` applies; it prints the digests.
func TestDeployToARunningDaemon(t *testing.T) {
	srv, err := natsbus.Open(context.Background(), natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	broker := fmt.Sprintf("[broker]\nkind = \"nats\"\nurl = %q\n", srv.ClientURL())

	keyFile, pub := signingKey(t)
	daemonDir := t.TempDir()
	daemonCfg := filepath.Join(daemonDir, "config.toml")
	os.WriteFile(daemonCfg, []byte("[host]\ndata_dir = \"data\"\n"+broker+fmt.Sprintf("[deploy]\npublic_keys = [%q]\n", pub)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"run", "--from-deploy", "--config", daemonCfg, "--listen", "127.0.0.1:0"}, strings.NewReader(""), &log, &log)
	}()
	waitLog(t, &log, `msg="evhost ready"`)

	echo := wasmbuild.WATFile(t, "../../host/wasm/testdata/echo.wat")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "echo.wasm"), echo, 0o644)
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte("[host]\ndata_dir = \"data\"\n"+broker+"[plugins.echo]\npath = \"echo.wasm\"\nevents = [\"ping\"]\n"), 0o644)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"deploy", "--config", cfg, "--note", "unsigned"}, nil, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "--key is required") {
		t.Fatalf("deploy without --key: exit %d: %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(context.Background(), []string{"deploy", "--config", cfg, "--note", "first", "--key", keyFile}, nil, &out, &errOut); code != exitOK {
		t.Fatalf("deploy exited %d: %s", code, errOut.String())
	}
	want := regexp.MustCompile(`(?m)^release 1 published \(1 plugins\)\n  echo +sha256:` + wasm.Hash(echo) + `  echo.wasm$`)
	if !want.MatchString(out.String()) {
		t.Fatalf("deploy printed:\n%s", out.String())
	}
	waitLog(t, &log, `msg="release applied" release=1 .*note=first plugins=1`)

	// A daemon's own config: kind "embedded" without a listener cannot be
	// reached by deploy.
	errOut.Reset()
	if code := run(context.Background(), []string{"deploy", "--config", "../../config.toml", "--key", keyFile}, nil, &out, &errOut); code != exitError || !strings.Contains(errOut.String(), "set [broker] listen") {
		t.Fatalf("deploy to an embedded broker without a listener: exit %d: %s", code, errOut.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, log.String())
	}
}

// signingKey writes an Ed25519 private key in PEM (PKCS #8), as openssl
// genpkey -algorithm ed25519 does, and returns its file and its public key
// as [deploy] public_keys takes it (the base64 line of openssl pkey -pubout).
func signingKey(t *testing.T) (file, public string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	file = filepath.Join(t.TempDir(), "deploy.key")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	pder, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return file, base64.StdEncoding.EncodeToString(pder)
}
