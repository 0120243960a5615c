package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// handledBy counts, per event id, the runs that ended done.
type handledBy struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *handledBy) Handled(route string, ev *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if route == "p" && out.Status == dispatch.Done {
		h.mu.Lock()
		h.n[ev.ID]++
		h.mu.Unlock()
	}
}

func (h *handledBy) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.n)
}

// A pause holds for every daemon sharing a subscription: with 2 daemons on
// a 3-node cluster, a pause made through one leaves every event published
// through the other unhandled (the server delivers none: num_ack_pending
// stays 0 while num_pending reaches them all), and a resume made through
// the other gets each handled, once.
func TestClusterPause(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node NATS cluster")
	}
	const n = 50
	nodes := startNATSCluster(t, 3)
	var urls []string
	for _, s := range nodes {
		urls = append(urls, s.ClientURL())
	}
	dir := t.TempDir()
	bin := wasmbuild.WATFile(t, filepath.Join("..", "..", "host", "wasm", "testdata", "trivial.wat"))
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), bin, 0o644); err != nil {
		t.Fatal(err)
	}
	handled := &handledBy{n: map[string]int{}}
	daemon := func(name string) *host.Host {
		t.Helper()
		text := fmt.Sprintf(`[host]
data_dir = %q
shutdown_timeout = "2s"
[broker]
kind = "nats"
url = %q
replicas = 3
[plugins.p]
path = "p.wasm"
events = ["job"]
concurrency = 4
`, filepath.Join(dir, name), strings.Join(urls, ","))
		cfg, err := config.Parse(filepath.Join(dir, name+".toml"), []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		// A cluster just started may not place a replicated stream yet
		// ("no suitable peers for placement"): try again while it settles.
		var h *host.Host
		for deadline := time.Now().Add(time.Minute); ; {
			if h, err = host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: handled}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Cleanup(func() { h.Close(context.Background()) })
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return h
	}
	d1, d2 := daemon("d1"), daemon("d2")
	ctx := context.Background()
	if err := d1.PauseSubscription(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := d2.Publish(ctx, &event.Event{Type: "job"}); err != nil {
			t.Fatal(err)
		}
	}
	_, js := natsConnect(t, strings.Join(urls, ","))
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := js.Consumer(ctx, eventsStream, "p")
		if err != nil {
			t.Fatal(err)
		}
		info := c.CachedInfo()
		if info.NumAckPending != 0 || info.Delivered.Consumer != 0 {
			t.Fatalf("the server delivered %d events of a paused subscription (%d unacknowledged): %+v", info.Delivered.Consumer, info.NumAckPending, info)
		}
		if info.NumPending == n && info.Paused {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer: %d pending, paused %v; want %d, paused", info.NumPending, info.Paused, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := handled.count(); got != 0 {
		t.Fatalf("%d events handled while paused", got)
	}

	if err := d2.ResumeSubscription(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for handled.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events handled after resume", handled.count(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	handled.mu.Lock()
	defer handled.mu.Unlock()
	for id, k := range handled.n {
		if k != 1 {
			t.Errorf("event %s handled %d times", id, k)
		}
	}
}
