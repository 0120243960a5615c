package host_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// listenerDaemon starts a daemon whose embedded broker listens on a random
// loopback port, with the [broker] lines extra; it returns the daemon and
// the listener's URL.
func listenerDaemon(t *testing.T, extra string) (*host.Host, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(`
[host]
data_dir = "data"
[broker]
kind = "embedded"
listen = "127.0.0.1:0"
`+extra))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		h.Close(ctx)
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	u := h.BrokerURL()
	if u == "" {
		t.Fatal("no listener URL")
	}
	return h, u
}

// serverInfo reads the INFO line the listener sends to a raw socket.
func serverInfo(t *testing.T, rawURL string) map[string]any {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(strings.TrimPrefix(strings.TrimSpace(line), "INFO ")), &info); err != nil {
		t.Fatalf("INFO %q: %v", line, err)
	}
	return info
}

// The embedded broker's listener requires the credentials of
// [broker.listen_auth]: a raw NATS client without them is refused (an
// authorization violation) and cannot list or read a stream; with them it
// can. The daemon's own in-process connection keeps working.
func TestBrokerListenerRequiresCredentials(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	t.Setenv("EVHOST_TEST_NATS_TOKEN", "s3cret-token")
	for _, tc := range []struct {
		name, table string
		good, bad   []nats.Option
	}{
		{"token", "token_env = \"EVHOST_TEST_NATS_TOKEN\"", []nats.Option{nats.Token("s3cret-token")}, []nats.Option{nats.Token("guess")}},
		{"user", "user = \"deployer\"\npassword = \"pa55\"", []nats.Option{nats.UserInfo("deployer", "pa55")}, []nats.Option{nats.UserInfo("deployer", "guess")}},
		{"nkey", fmt.Sprintf("nkey = %q", pub), []nats.Option{nats.Nkey(pub, kp.Sign)}, []nats.Option{nats.Nkey(pub, func([]byte) ([]byte, error) { return make([]byte, 64), nil })}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, u := listenerDaemon(t, "[broker.listen_auth]\n"+tc.table+"\n")
			ev := &event.Event{Type: "order.paid", Data: []byte(`{"card":"4111-secret"}`)}
			if _, err := h.Publish(context.Background(), ev); err != nil {
				t.Fatalf("the daemon's own publish: %v", err)
			}
			if info := serverInfo(t, u); info["auth_required"] != true {
				t.Fatalf("INFO says auth_required = %v", info["auth_required"])
			}
			for _, opts := range [][]nats.Option{nil, tc.bad} {
				nc, err := nats.Connect(u, append(opts, nats.MaxReconnects(0))...)
				if err == nil {
					js, _ := jetstream.New(nc)
					names := js.StreamNames(context.Background())
					for n := range names.Name() {
						t.Errorf("listed stream %s without credentials", n)
					}
					nc.Close()
					t.Fatal("connected without the right credentials")
				}
				if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
					t.Fatalf("want an authorization violation, got %v", err)
				}
			}
			nc, err := nats.Connect(u, tc.good...)
			if err != nil {
				t.Fatalf("with the credentials: %v", err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			st, err := js.Stream(context.Background(), "evhost_events")
			if err != nil {
				t.Fatal(err)
			}
			msg, err := st.GetMsg(context.Background(), 1)
			if err != nil || !strings.Contains(string(msg.Data), "4111-secret") {
				t.Fatalf("reading the event with the credentials: %v", err)
			}
		})
	}
}

// [broker.listen_tls] serves the listener over TLS only: a plain client is
// refused, one that trusts the certificate gets in (with the credentials).
func TestBrokerListenerTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	h, u := listenerDaemon(t, fmt.Sprintf("[broker.listen_auth]\ntoken = \"tok\"\n[broker.listen_tls]\ncert_file = %q\nkey_file = %q\n", certFile, keyFile))
	if _, err := h.Publish(context.Background(), &event.Event{Type: "x"}); err != nil {
		t.Fatalf("the daemon's own publish: %v", err)
	}
	if info := serverInfo(t, u); info["tls_required"] != true {
		t.Fatalf("INFO says tls_required = %v", info["tls_required"])
	}
	plain := strings.Replace(u, "tls://", "nats://", 1)
	if nc, err := nats.Connect(plain, nats.Token("tok"), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Fatal("a client without TLS connected")
	}
	nc, err := nats.Connect(u, nats.Token("tok"), nats.RootCAs(certFile))
	if err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	defer nc.Close()
	if !nc.TLSRequired() {
		t.Fatal("the connection is not TLS")
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evhost test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}
