package host_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
)

// serveConfig runs a host of the config extra (appended to a [host]
// table with a temporary data_dir, over the memory broker) on ln, or on
// a loopback port when ln is nil, and returns it and the API's base URL.
func serveConfig(t *testing.T, hostKeys, extra string, ln net.Listener) (*host.Host, string) {
	t.Helper()
	return serveConfigLog(t, hostKeys, extra, ln, slog.New(slog.DiscardHandler))
}

// serveConfigLog is serveConfig with the host's logger.
func serveConfigLog(t *testing.T, hostKeys, extra string, ln net.Listener, log *slog.Logger) (*host.Host, string) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
shutdown_timeout = "2s"
%s
[broker]
kind = "memory"
%s`, hostKeys, extra)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, cfg, host.Options{Logger: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return h, "http://" + ln.Addr().String()
}

type answer struct {
	status int
	body   string
}

// send sends a request with headers (name, value pairs; "Host" sets the
// Host) with client, or http.DefaultClient when nil.
func send(t *testing.T, client *http.Client, method, url, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, string(b)}
}

// The daemon with the default config (no token, loopback) refuses what a
// hostile web page can make a browser send: a simple cross-site POST to
// ingest or to the admin API, and requests through a DNS-rebound name.
func TestDaemonRefusesCrossSiteAndRebinding(t *testing.T) {
	_, base := serveConfig(t, "", "", nil)
	page := []string{"Origin", "http://evil.example", "Sec-Fetch-Site", "cross-site", "Sec-Fetch-Mode", "no-cors", "Content-Type", "text/plain"}
	for _, path := range []string{"/v1/events/order.placed", "/v1/admin/reload"} {
		if a := send(t, nil, http.MethodPost, base+path, `{}`, page...); a.status != http.StatusForbidden || !strings.Contains(a.body, `"field":"Origin"`) {
			t.Errorf("cross-site POST %s: %d %s", path, a.status, a.body)
		}
	}
	if a := send(t, nil, http.MethodGet, base+"/v1/status", "", "Host", "attacker.example"); a.status != http.StatusForbidden || !strings.Contains(a.body, `"field":"Host"`) {
		t.Errorf("GET /v1/status with Host attacker.example: %d %s", a.status, a.body)
	}
	// The same requests without the browser's headers, and for the right
	// Host, are served.
	if a := send(t, nil, http.MethodPost, base+"/v1/events/order.placed", `{}`); a.status != http.StatusAccepted {
		t.Errorf("POST from a program: %d %s", a.status, a.body)
	}
	if a := send(t, nil, http.MethodGet, base+"/v1/status", "", "Host", "localhost:8080"); a.status != http.StatusOK {
		t.Errorf("GET /v1/status for localhost: %d %s", a.status, a.body)
	}
}

// Names listed in [host] hostnames, and the name of listen, are served.
func TestDaemonHostnames(t *testing.T) {
	_, base := serveConfig(t, `hostnames = ["evhost.internal"]`, "", nil)
	for host, want := range map[string]int{"evhost.internal:8080": 200, "attacker.example": 403, "127.0.0.1": 200} {
		if a := send(t, nil, http.MethodGet, base+"/v1/status", "", "Host", host); a.status != want {
			t.Errorf("Host %s: %d, want %d: %s", host, a.status, want, a.body)
		}
	}
}

// Scoped tokens on the daemon: 401 and 403 as the scopes say, refusals
// counted by token name, /metrics behind a read token when asked.
func TestDaemonScopedTokens(t *testing.T) {
	_, base := serveConfig(t, `listen = "0.0.0.0:0"
token = "legacy"
protect_metrics = true
[[host.tokens]]
name = "shop"
token = "tok-shop"
scopes = ["publish"]
events = ["order.*"]
[[host.tokens]]
name = "grafana"
token = "tok-read"
scopes = ["read"]
`, "", nil)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	for _, tc := range []struct {
		method, path, tok string
		want              int
	}{
		{"POST", "/v1/events/order.placed", "", 401},
		{"POST", "/v1/events/order.placed", "wrong", 401},
		{"POST", "/v1/events/order.placed", "tok-shop", 202},
		{"POST", "/v1/events/user.deleted", "tok-shop", 403},
		{"GET", "/v1/status", "tok-shop", 403},
		{"GET", "/v1/admin/dlq", "tok-read", 200},
		{"GET", "/v1/webhooks", "tok-read", 200},
		{"POST", "/v1/admin/reload", "tok-read", 403},
		{"POST", "/v1/admin/backup", "tok-read", 403}, // a backup holds every event: admin only
		{"GET", "/v1/status/history", "tok-read", 200},
		{"GET", "/v1/status/history", "tok-shop", 403},
		{"GET", "/metrics", "", 401},
		{"GET", "/healthz", "", 200},
		{"POST", "/v1/events/user.deleted", "legacy", 202},
	} {
		var hdr []string
		if tc.tok != "" {
			hdr = bearer(tc.tok)
		}
		if a := send(t, nil, tc.method, base+tc.path, `{}`, hdr...); a.status != tc.want {
			t.Errorf("%s %s with %q: %d, want %d: %s", tc.method, tc.path, tc.tok, a.status, tc.want, a.body)
		}
	}
	a := send(t, nil, "GET", base+"/metrics", "", bearer("tok-read")...)
	if a.status != 200 {
		t.Fatalf("GET /metrics with a read token: %d", a.status)
	}
	for _, line := range []string{
		`evhost_http_denied_total{reason="unauthorized",token=""} 3`,
		`evhost_http_denied_total{reason="event_type",token="shop"} 1`,
		`evhost_http_denied_total{reason="scope",token="shop"} 2`,
		`evhost_http_denied_total{reason="scope",token="grafana"} 2`,
	} {
		if !strings.Contains(a.body, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
}
