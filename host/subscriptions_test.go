package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// statusWAT is a reactor whose every call returns status (0 done, 1 retry).
func statusWAT(t testing.TB, status int) []byte {
	t.Helper()
	return wasmbuild.WAT(t, fmt.Sprintf(`(module
  (memory (export "memory") 1)
  (func (export "evhost_abi_version") (result i32) (i32.const 1))
  (func (export "evhost_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "evhost_handle") (param i32 i32) (result i32) (i32.const %d)))`, status))
}

// doneLog is a dispatch.Observer that keeps the ids of the events a route
// handled successfully.
type doneLog struct {
	mu   sync.Mutex
	done map[string]bool
}

func (l *doneLog) Handled(route string, ev *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if route == "p" && out.Status == dispatch.Done {
		l.mu.Lock()
		l.done[ev.ID] = true
		l.mu.Unlock()
	}
}

// waitAll waits until every id is done.
func (l *doneLog) waitAll(t *testing.T, ids []string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		l.mu.Lock()
		missing := 0
		for _, id := range ids {
			if !l.done[id] {
				missing++
			}
		}
		l.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never handled", missing, len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Disabling a plugin never loses its events: events accepted while its
// module fails, then while it is disabled (and across a restart of the
// daemon, with the durable broker), are all handled once it is enabled
// again with a working module. Before, disabling deleted the subscription
// and 0 of them were handled.
func TestDisabledPluginKeepsItsEvents(t *testing.T) {
	for _, tc := range []struct {
		broker  string
		restart bool
	}{{"memory", false}, {"embedded", false}, {"embedded", true}} {
		t.Run(fmt.Sprintf("%s/restart=%v", tc.broker, tc.restart), func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "config.toml")
			writeConfig := func(enabled bool) {
				t.Helper()
				text := fmt.Sprintf(`[host]
data_dir = "data"
shutdown_timeout = "2s"
[broker]
kind = %q
[plugins.p]
path = "p.wasm"
events = ["t"]
max_attempts = 1000
backoff = "20ms"
max_backoff = "50ms"
enabled = %v
`, tc.broker, enabled)
				if err := os.WriteFile(cfgPath, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log := &doneLog{done: map[string]bool{}}
			open := func() *host.Host {
				t.Helper()
				cfg, err := config.Load(cfgPath)
				if err != nil {
					t.Fatal(err)
				}
				h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: log})
				if err != nil {
					t.Fatal(err)
				}
				if err := h.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				return h
			}
			publish := func(h *host.Host, n int) (ids []string) {
				t.Helper()
				for range n {
					ev := &event.Event{Type: "t"}
					if _, err := h.Publish(context.Background(), ev); err != nil {
						t.Fatal(err)
					}
					ids = append(ids, ev.ID)
				}
				return ids
			}
			ctx := context.Background()

			writeWasm(t, dir, "p", statusWAT(t, 1)) // a broken module: every call retries
			writeConfig(true)
			h := open()
			ids := publish(h, 3)

			writeConfig(false)
			if err := h.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			if h.Plugin("p") != nil {
				t.Fatal("p still runs after it was disabled")
			}
			if tc.restart {
				h.Close(ctx)
				h = open()
			}
			ids = append(ids, publish(h, 2)...)

			writeWasm(t, dir, "p", statusWAT(t, 0)) // mended
			writeConfig(true)
			if tc.restart {
				h.Close(ctx)
				h = open()
			} else if err := h.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close(context.Background()) })
			log.waitAll(t, ids)
		})
	}
}

// paused = true in the config pauses the plugin's subscription: nothing is
// handled, GET /v1/subscriptions says so, and the pause outlives a restart
// of the daemon (the broker keeps it); POST .../resume lets the events
// through, in order.
func TestPausedSubscription(t *testing.T) {
	dir := t.TempDir()
	writeWasm(t, dir, "p", statusWAT(t, 0))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(`[host]
data_dir = "data"
shutdown_timeout = "2s"
[broker]
kind = "embedded"
[plugins.p]
path = "p.wasm"
events = ["t"]
paused = true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	log := &doneLog{done: map[string]bool{}}
	open := func() (*host.Host, http.Handler) {
		t.Helper()
		cfg, err := config.Load(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: log})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return h, h.Handler()
	}
	state := func(srv http.Handler) api.SubscriptionStatus {
		t.Helper()
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, localRequest("GET", "/v1/subscriptions"))
		var body struct{ Subscriptions []api.SubscriptionStatus }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || len(body.Subscriptions) != 1 {
			t.Fatalf("GET /v1/subscriptions: %d %s", rec.Code, rec.Body)
		}
		return body.Subscriptions[0]
	}
	ctx := context.Background()
	h, srv := open()
	var ids []string
	for range 3 {
		ev := &event.Event{Type: "t"}
		if _, err := h.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	if s := state(srv); !s.Paused || !s.Running || s.Name != "p" {
		t.Fatalf("subscription %+v, want running and paused", s)
	}
	h.Close(ctx)

	h, srv = open()
	t.Cleanup(func() { h.Close(context.Background()) })
	if s := state(srv); !s.Paused || s.Handled != 0 {
		t.Fatalf("after a restart: %+v, want paused and nothing handled", s)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, localRequest("POST", "/v1/admin/subscriptions/p/resume"))
	if rec.Code != 200 {
		t.Fatalf("resume: %d %s", rec.Code, rec.Body)
	}
	log.waitAll(t, ids)
	if s := state(srv); s.Paused {
		t.Fatalf("after resume: %+v", s)
	}
}

// POST /v1/admin/reload answers 200 for a reload that disables a plugin:
// it was applied (before, the disabled plugin's module reload was reported
// as a failure, 422, while the log said the config was applied).
func TestReloadThatDisablesAPluginSucceeds(t *testing.T) {
	dir := t.TempDir()
	writeWasm(t, dir, "p", statusWAT(t, 0))
	conf := func(enabled bool) string {
		return fmt.Sprintf("[broker]\nkind = \"memory\"\n[plugins.p]\npath = \"p.wasm\"\nevents = [\"t\"]\nenabled = %v\n", enabled)
	}
	_, base := start(t, dir, conf(true))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte("[host]\ndata_dir = \"data\"\nshutdown_timeout = \"200ms\"\n"+conf(false)), 0o644); err != nil {
		t.Fatal(err)
	}
	resp := post(t, base+"/v1/admin/reload", "application/json", "")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("reload: %d %s", resp.StatusCode, b)
	}
}

// filter = "..." on a plugin table: the events it refuses are acknowledged
// without a call and counted in evhost_filtered_total.
func TestPluginFilter(t *testing.T) {
	dir := t.TempDir()
	writeWasm(t, dir, "p", statusWAT(t, 0))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(`[broker]
kind = "memory"
[plugins.p]
path = "p.wasm"
events = ["order"]
filter = 'data.amount > 100 && source.startsWith("shop/")'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	log := &doneLog{done: map[string]bool{}}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var pass []string
	for _, c := range []struct {
		source, data string
		pass         bool
	}{{"shop/eu", `{"amount":150}`, true}, {"shop/eu", `{"amount":50}`, false}, {"pos/1", `{"amount":150}`, false}, {"shop/us", `{"amount":101}`, true}} {
		ev := &event.Event{Type: "order", Source: c.source, DataContentType: "application/json", Data: []byte(c.data)}
		if _, err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if c.pass {
			pass = append(pass, ev.ID)
		}
	}
	log.waitAll(t, pass)
	deadline := time.Now().Add(waitLimit)
	for {
		rec := httptest.NewRecorder()
		h.Handler().ServeHTTP(rec, localRequest("GET", "/metrics"))
		if strings.Contains(rec.Body.String(), `evhost_filtered_total{result="rejected",subscription="p"} 2`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no count of 2 filtered events in:\n%s", rec.Body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.done) != 2 {
		t.Fatalf("%d events handled, want the 2 the filter passes", len(log.done))
	}
}

// localRequest is an httptest request to the API as a local client sends
// it (httptest's Host, example.com, is a name the API refuses).
func localRequest(method, target string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.Host = "localhost"
	return req
}

// Native handlers are added and removed after Start: an added one gets
// the events published from then on; a removed one keeps its
// subscription, and added again it handles what arrived meanwhile.
func TestNativeHandlersAtRuntime(t *testing.T) {
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "c.toml"), []byte("[host]\ndata_dir = \"data\"\n[broker]\nkind = \"memory\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	fn := func(_ context.Context, ev *event.Event, _ func(*event.Event)) error { got <- ev.ID; return nil }
	if err := h.Handle("late", []string{"t"}, fn); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("late", []string{"t"}, fn); err == nil {
		t.Fatal("a second handler of the same name was accepted")
	}
	publish := func() string {
		ev := &event.Event{Type: "t"}
		if _, err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		return ev.ID
	}
	recv := func(want string) {
		t.Helper()
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("handled %s, want %s", id, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s never handled", want)
		}
	}
	recv(publish())
	if err := h.Unhandle("late"); err != nil {
		t.Fatal(err)
	}
	meanwhile := publish()
	if err := h.Handle("late", []string{"t"}, fn); err != nil {
		t.Fatal(err)
	}
	recv(meanwhile)
	if err := h.Unhandle("nosuch"); err == nil {
		t.Fatal("Unhandle of no handler: no error")
	}
}
