package host_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// hookFailures counts the failed attempts of one route and signals when a
// number of them is reached.
type hookFailures struct {
	route string
	n     atomic.Int64
	want  int64
	once  sync.Once
	done  chan struct{}
}

func (f *hookFailures) Handled(route string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if route == f.route && out.Status == dispatch.Retry && f.n.Add(1) == f.want {
		f.once.Do(func() { close(f.done) })
	}
}

// A webhook receiver that is down while the daemon restarts: the events
// accepted before the restart are retried by the new daemon (they are in
// the journal, not in the old process) and delivered once the receiver is
// back; none is lost or dead-lettered.
func TestWebhookReceiverDownWhileDaemonRestarts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // down: connections are refused
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(fmt.Sprintf(`[host]
data_dir = "data"
allow_networks = ["127.0.0.0/8"]
[[webhooks]]
name = "crm"
events = ["user.created"]
url = "http://%s/hooks"
secret = %q
max_attempts = 1000
backoff = "20ms"
max_backoff = "200ms"
`, addr, hookSecret)), 0o644)
	open := func(obs dispatch.Observer) *host.Host {
		t.Helper()
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return h
	}
	closeHost := func(h *host.Host) {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	}

	const n = 20
	fails := &hookFailures{route: "crm", want: 2 * n, done: make(chan struct{})}
	h := open(fails)
	for i := range n {
		ev := &event.Event{Type: "user.created", ID: fmt.Sprintf("user-%d", i), DataContentType: "application/json", Data: []byte(`{}`)}
		if _, err := h.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-fails.done:
	case <-time.After(waitLimit):
		t.Fatalf("%d failed attempts while the receiver was down, want %d", fails.n.Load(), fails.want)
	}
	closeHost(h)

	// The receiver comes back on the same address, then the daemon.
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]int{}
	all := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		if len(got) == n && got[r.Header.Get("webhook-id")] == 1 {
			close(all)
		}
		mu.Unlock()
	}))
	if srv.Listener, err = net.Listen("tcp", addr); err != nil {
		t.Fatalf("the receiver's address was taken meanwhile: %v", err)
	}
	srv.Start()
	defer srv.Close()
	h = open(nil)
	defer closeHost(h)
	select {
	case <-all:
	case <-time.After(waitLimit):
		mu.Lock()
		t.Fatalf("delivered %d of %d events after the restart", len(got), n)
	}
	dls, err := h.Bus().DeadLetters(context.Background(), bus.DeadLetterFilter{Subscription: "crm"})
	if err != nil || len(dls) != 0 {
		t.Errorf("dead letters: %d, %v; want none", len(dls), err)
	}
}
