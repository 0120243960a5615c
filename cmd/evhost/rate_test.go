package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// A webhook with rate = "40/s" holds that rate with one daemon, and with
// two sharing its subscription (each takes half, counting the other
// through the broker's heartbeat), over a window of 5 s: within 20%. For
// a measurement, EVHOST_RATE_WINDOW (such as 30s) and EVHOST_RATE (per
// second) change them.
func TestRateLimitTwoDaemons(t *testing.T) {
	if testing.Short() {
		t.Skip("measures a rate over seconds")
	}
	window := 5 * time.Second
	if w := os.Getenv("EVHOST_RATE_WINDOW"); w != "" {
		var err error
		if window, err = time.ParseDuration(w); err != nil {
			t.Fatal(err)
		}
	}
	rate := 40
	if r := os.Getenv("EVHOST_RATE"); r != "" {
		var err error
		if rate, err = strconv.Atoi(r); err != nil || rate < 1 {
			t.Fatalf("EVHOST_RATE %q", r)
		}
	}
	srv := startNATS(t)
	var arrived, fromD2 atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Add(1)
		if r.Header.Get("X-Daemon") == "d2" {
			fromD2.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(ts.Close)
	dir := t.TempDir()
	daemon := func(name string) *host.Host {
		t.Helper()
		text := fmt.Sprintf(`[host]
data_dir = %q
shutdown_timeout = "5s"
allow_networks = ["127.0.0.0/8"]
[broker]
kind = "nats"
url = %q
replicas = 1
[defaults]
queue = 100000
[[webhooks]]
name = "metered"
events = ["metered"]
url = %q
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
rate = "%d/s"
headers = { "X-Daemon" = %q }
`, filepath.Join(dir, name), srv.ClientURL(), ts.URL, rate, name)
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
	d1 := daemon("d1")
	// A backlog for both windows and their warm-ups.
	backlog := int(float64(rate) * (2*window + 10*time.Second).Seconds())
	for i := range backlog {
		if _, err := d1.Publish(ctx, &event.Event{Type: "metered", ID: fmt.Sprint("m", i), Source: "/test"}); err != nil {
			t.Fatal(err)
		}
	}
	measure := func(what string) (share float64) {
		t.Helper()
		time.Sleep(2 * time.Second) // warm-up: the burst, the heartbeat's count
		from, from2, start := arrived.Load(), fromD2.Load(), time.Now()
		time.Sleep(window)
		n, n2 := arrived.Load()-from, fromD2.Load()-from2
		got := float64(n) / time.Since(start).Seconds()
		t.Logf("%s: %.1f starts/s over %v for rate %d/s (%+.1f%%), %d of %d by d2", what, got, window, rate, 100*(got-float64(rate))/float64(rate), n2, n)
		if want := float64(rate); math.Abs(got-want) > 0.2*want {
			t.Errorf("%s: %.1f starts/s, want %d/s within 20%%", what, got, rate)
		}
		return float64(n2) / float64(n)
	}
	measure("one daemon")
	daemon("d2")
	if share := measure("two daemons"); share < 0.3 || share > 0.7 {
		t.Errorf("d2 made %.0f%% of the starts, want about half", 100*share)
	}
	if left := arrived.Load(); left >= int64(backlog) {
		t.Fatalf("the backlog ran out (%d delivered): the rate was not the bound", left)
	}
}
