package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// newFetchHost returns a host (memory bus, not started) with the fetch
// plugin granted allowedHosts, and [host] allow_networks set to networks.
func newFetchHost(t *testing.T, bin []byte, networks, allowedHosts []string) *host.Host {
	t.Helper()
	dir := t.TempDir()
	quote := func(ss []string) string {
		b, _ := json.Marshal(append([]string{}, ss...))
		return string(b)
	}
	toml := fmt.Sprintf(`[host]
data_dir = "data"
allow_networks = %s
[plugins.fetch]
path = %q
events = ["fetch.request"]
timeout = "5s"
allowed_hosts = %s
`, quote(networks), writeWasm(t, dir, "fetch", bin), quote(allowedHosts))
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		h.Close(ctx)
	})
	return h
}

func fetchEvent(method, u string) *event.Event {
	ev := &event.Event{Type: "fetch.request", DataContentType: "application/json",
		Data: []byte(fmt.Sprintf(`{"method":%q,"url":%q}`, method, u))}
	event.Stamp(ev, "urn:test", time.Now())
	return ev
}

// A plugin granted allowed_hosts fetches from a server on its list through
// the bus and emits what it got; a host off its list, a redirect off its
// list, an address that allow_networks does not admit (even on its list)
// and an oversized body are refused with the ABI's codes, and the refused
// requests never reach the server.
func TestPluginHTTPRequest(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/hello":
			w.Header().Set("X-Echo", r.Header.Get("X-Test"))
			io.WriteString(w, "hello "+r.Method)
		case "/big":
			io.WriteString(w, strings.Repeat("x", 2<<20))
		case "/away": // a redirect to a host off the list
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port := u.Port()
	bin := wasmbuild.Go(t, "wasm/testdata/goplugins/fetch")

	h := newFetchHost(t, bin, []string{"127.0.0.0/8"}, []string{"127.0.0.1:" + port, "169.254.169.254", "*.internal.test"})

	// Through the bus: the plugin's emit reaches a subscriber.
	got := make(chan string, 1)
	h.Handle("collect", []string{"fetch.done"}, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		got <- string(ev.Data)
		return nil
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(context.Background(), fetchEvent("GET", srv.URL+"/hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-got:
		if data != `{"body":"hello GET","echo":"fetch","status":200}` {
			t.Errorf("fetch.done %s", data)
		}
	case <-time.After(waitLimit):
		t.Fatal("no fetch.done")
	}

	call := func(h *host.Host, u string) wasm.Result {
		return h.Plugin("fetch").Call(context.Background(), fetchEvent("GET", u))
	}
	before := hits.Load()
	for _, tc := range []struct{ url, reason string }{
		{"http://localhost:" + port + "/hello", "code -3"},      // a name off the list (not resolved)
		{"http://127.0.0.1:1/hello", "code -3"},                 // another port
		{"http://127.0.0.2:" + port + "/hello", "code -3"},      // another address
		{"ftp://127.0.0.1:" + port + "/", "code -3"},            // not http
		{"http://169.254.169.254/latest/meta-data/", "code -3"}, // on the list, refused by the SSRF guard
		{"http://internal.test:" + port + "/", "code -3"},       // "*.internal.test" is for subdomains only
	} {
		if res := call(h, tc.url); res.Status != wasm.Reject || res.Reason != tc.reason {
			t.Errorf("%s: %v %q, want reason %q", tc.url, res.Status, res.Reason, tc.reason)
		}
	}
	if n := hits.Load() - before; n != 0 {
		t.Errorf("refused requests reached the server %d times", n)
	}
	to := url.QueryEscape("http://127.0.0.2:" + port + "/hello")
	if res := call(h, srv.URL+"/away?to="+to); res.Status != wasm.Reject || res.Reason != "code -3" {
		t.Errorf("redirect off the list: %v %q", res.Status, res.Reason)
	}
	if res := call(h, srv.URL+"/big"); res.Status != wasm.Reject || res.Reason != "code -4" {
		t.Errorf("oversized body: %v %q", res.Status, res.Reason)
	}

	// Without allow_networks, loopback is refused even on allowed_hosts.
	h2 := newFetchHost(t, bin, nil, []string{"127.0.0.1:" + port})
	before = hits.Load()
	if res := call(h2, srv.URL+"/hello"); res.Status != wasm.Reject || res.Reason != "code -3" {
		t.Errorf("loopback without allow_networks: %v %q", res.Status, res.Reason)
	}
	if n := hits.Load() - before; n != 0 {
		t.Errorf("a request refused by the SSRF guard reached the server")
	}
}
