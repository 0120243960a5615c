package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// startNATS starts one NATS server with JetStream, for daemons that share
// it (kind = "nats").
func startNATS(t *testing.T) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return s
}

// keyedReceiver is a webhook endpoint that takes a few milliseconds per
// delivery and records, per key (the event's subject), the events it got
// in the order it got them, and any two of a key that overlapped.
type keyedReceiver struct {
	work time.Duration
	mu   sync.Mutex
	busy map[string]bool
	got  map[string][]int
	n    int
	errs []string
}

func newKeyedReceiver(work time.Duration) *keyedReceiver {
	return &keyedReceiver{work: work, busy: map[string]bool{}, got: map[string][]int{}}
}

func (k *keyedReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev struct{ ID, Subject string }
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, seq, _ := strings.Cut(ev.ID, "/")
	n, _ := strconv.Atoi(seq)
	k.mu.Lock()
	if k.busy[ev.Subject] {
		k.errs = append(k.errs, fmt.Sprintf("key %s: event %d arrived while another of the key was being handled", ev.Subject, n))
	}
	k.busy[ev.Subject] = true
	k.mu.Unlock()
	select {
	case <-time.After(k.work):
	case <-r.Context().Done():
	}
	k.mu.Lock()
	k.busy[ev.Subject] = false
	k.got[ev.Subject] = append(k.got[ev.Subject], n)
	k.n++
	k.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// distinct returns how many distinct events of keys have arrived.
func (k *keyedReceiver) distinct(keys []string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, key := range keys {
		seen := map[int]bool{}
		for _, s := range k.got[key] {
			seen[s] = true
		}
		n += len(seen)
	}
	return n
}

// waitFor waits until n distinct events of keys have arrived, and returns
// when the last did.
func (k *keyedReceiver) waitFor(t *testing.T, keys []string, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for k.distinct(keys) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered", k.distinct(keys), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A webhook with order_by = "subject", shared by 2 daemons on one NATS
// server, gets 200 keys x 50 events: every key's events arrive one at a
// time, in publish order (a redelivery after a stop may repeat an event,
// right after itself), while one daemon is stopped and restarted midway.
// Then the throughput of 200 keys is compared with that of one key, each
// delivery taking 5 ms.
func TestOrderPerKeyTwoDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("2 daemons, 10,000 events")
	}
	keys, per := 200, 50
	if raceEnabled {
		keys, per = 40, 20 // the same, smaller: the race detector slows it ten times over
	}
	srv := startNATS(t)
	recv := newKeyedReceiver(10 * time.Millisecond)
	ts := httptest.NewServer(recv)
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	daemon := func(name string) *host.Host {
		t.Helper()
		text := fmt.Sprintf(`[host]
data_dir = %q
shutdown_timeout = "20s"
allow_networks = ["127.0.0.0/8"]
[broker]
kind = "nats"
url = %q
replicas = 1
[defaults]
ack_wait = "5s"
queue = 20000
[[webhooks]]
name = "ledger"
events = ["ledger.entry"]
url = %q
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
order_by = "subject"
`, filepath.Join(dir, name), srv.ClientURL(), ts.URL)
		cfg, err := config.Parse(filepath.Join(dir, name+".toml"), []byte(text))
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
		return h
	}
	ctx := context.Background()
	d1, d2 := daemon("d1"), daemon("d2")
	publish := func(keyNames []string, from, to int) {
		t.Helper()
		for j := from; j < to; j++ {
			for _, k := range keyNames {
				if _, err := d1.Publish(ctx, &event.Event{Type: "ledger.entry", ID: fmt.Sprintf("%s/%d", k, j), Subject: k, Source: "/test"}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprint("acct", i)
	}

	publish(names, 0, per/2)
	recv.waitFor(t, names, keys*per/4)
	// Stop a daemon with work in flight; publish the rest while it is
	// down; start it again.
	if err := d2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	publish(names, per/2, per)
	recv.waitFor(t, names, keys*per/2)
	d2 = daemon("d2")
	recv.waitFor(t, names, keys*per)

	recv.mu.Lock()
	for _, e := range recv.errs {
		t.Error(e)
	}
	repeats := 0
	for _, k := range names {
		want := 0
		for _, s := range recv.got[k] {
			switch {
			case s == want:
				want++
			case s == want-1:
				repeats++ // redelivered after a stop, right after itself
			default:
				t.Fatalf("key %s: events arrived in the order %v", k, recv.got[k])
			}
		}
		if want != per {
			t.Fatalf("key %s: %d of %d events", k, want, per)
		}
	}
	recv.mu.Unlock()
	t.Logf("%d keys x %d events in order across a daemon's restart (%d redelivered after it)", keys, per, repeats)

	// Throughput: one key, then 200, each queued while the subscription
	// is paused and timed from its resume.
	rate := func(keyNames []string, n int) float64 {
		t.Helper()
		if err := d1.PauseSubscription(ctx, "ledger"); err != nil {
			t.Fatal(err)
		}
		publish(keyNames, 0, n)
		start := time.Now()
		if err := d2.ResumeSubscription(ctx, "ledger"); err != nil {
			t.Fatal(err)
		}
		recv.waitFor(t, keyNames, len(keyNames)*n)
		return float64(len(keyNames)*n) / time.Since(start).Seconds()
	}
	oneRate := rate([]string{"solo"}, 100)
	many := make([]string, keys)
	for i := range many {
		many[i] = fmt.Sprint("fast", i)
	}
	manyRate := rate(many, 10)
	ratio := manyRate / oneRate
	t.Logf("throughput: 1 key %.0f events/s, %d keys %.0f events/s: %.1fx (16 partitions, 2 daemons, 10 ms per delivery)", oneRate, keys, manyRate, ratio)
	if ratio < 3 && !raceEnabled {
		t.Errorf("200 keys ran only %.1fx as fast as one key, want at least 3x", ratio)
	}
}
