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
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
)

// freeAddr returns a loopback address with a port that was free a moment
// ago (the config needs the port before the listener exists).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// serveOps starts a daemon on the memory broker with the config's [host]
// table hostTable, and returns the API's base URL.
func serveOps(t *testing.T, hostTable string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte("[host]\ndata_dir = \"data\"\nshutdown_timeout = \"200ms\"\n"+
		hostTable+"\n[broker]\nkind = \"memory\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- h.ServeNotify(ctx, ln, func(string) { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	return "http://" + ln.Addr().String()
}

// [host] debug_listen serves pprof and expvar on its own listener, behind
// a token with the admin scope when the API has tokens, with the API's
// Host guard; the API's listener does not serve them.
func TestDebugListen(t *testing.T) {
	dbg := freeAddr(t)
	base := serveOps(t, fmt.Sprintf(`debug_listen = %q
tokens = [{ name = "ops", token = "admin-token", scopes = ["admin"] }, { name = "dash", token = "read-token", scopes = ["read"] }]`, dbg))
	get := func(url, token, hostHeader string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if hostHeader != "" {
			req.Host = hostHeader
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct {
		url, token, host string
		status           int
		body             string
	}{
		{"http://" + dbg + "/debug/pprof/", "", "", http.StatusUnauthorized, ""},
		{"http://" + dbg + "/debug/pprof/", "read-token", "", http.StatusForbidden, "admin scope"},
		{"http://" + dbg + "/debug/pprof/", "admin-token", "", http.StatusOK, "goroutine"},
		{"http://" + dbg + "/debug/pprof/goroutine?debug=1", "admin-token", "", http.StatusOK, "goroutine profile"},
		{"http://" + dbg + "/debug/pprof/heap", "admin-token", "", http.StatusOK, ""},
		{"http://" + dbg + "/debug/vars", "admin-token", "", http.StatusOK, `"memstats"`},
		{"http://" + dbg + "/debug/vars", "admin-token", "evil.example.com", http.StatusForbidden, "Host"},
		{"http://" + dbg + "/v1/status", "admin-token", "", http.StatusNotFound, ""},
		{base + "/debug/pprof/", "admin-token", "", http.StatusNotFound, ""},
		{base + "/debug/vars", "admin-token", "", http.StatusNotFound, ""},
	} {
		status, body := get(c.url, c.token, c.host)
		if status != c.status || !strings.Contains(body, c.body) {
			t.Errorf("GET %s (token %q, Host %q): %d, want %d with %q:\n%.300s", c.url, c.token, c.host, status, c.status, c.body, body)
		}
	}
}

// On loopback without tokens the profiles are open, as the API is; a port
// in use fails the start.
func TestDebugListenLoopbackAndPortInUse(t *testing.T) {
	dbg := freeAddr(t)
	serveOps(t, fmt.Sprintf("debug_listen = %q", dbg))
	resp, err := http.Get("http://" + dbg + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/vars: %d", resp.StatusCode)
	}

	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf("[host]\ndata_dir = \"data\"\ndebug_listen = %q\n[broker]\nkind = \"memory\"\n", dbg)))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Serve(ctx, ln); err == nil || !strings.Contains(err.Error(), "debug_listen") {
		t.Errorf("serve with the debug port in use: %v", err)
	}
}

// GET /v1/admin/config gives the running configuration, secrets
// redacted, to a token with the admin scope only.
func TestAdminConfig(t *testing.T) {
	base := serveOps(t, `tokens = [{ name = "ops", token = "admin-token-value", scopes = ["admin"] }, { name = "dash", token = "read-token-value", scopes = ["read"] }]`)
	for _, c := range []struct {
		token  string
		status int
	}{{"", http.StatusUnauthorized}, {"read-token-value", http.StatusForbidden}, {"admin-token-value", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/admin/config", nil)
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != c.status {
			t.Errorf("token %q: %d, want %d: %s", c.token, resp.StatusCode, c.status, body)
		}
		if c.status != http.StatusOK {
			continue
		}
		if strings.Contains(body, "token-value") || !strings.Contains(body, `"token":"[redacted]"`) ||
			!strings.Contains(body, `"kind":"memory"`) || !strings.Contains(body, `"max_attempts":5`) {
			t.Errorf("GET /v1/admin/config:\n%s", body)
		}
	}
}
