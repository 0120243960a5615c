package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// A paused subscription's backlog on a journal that drops its oldest
// events past [broker] max_bytes: once the journal is past 80% of it,
// `evhost subscriptions list` shows the age of the oldest pending event
// and warns that events are about to be lost, as GET /v1/subscriptions,
// GET /v1/status and /metrics do; the subscription that holds nothing
// does not warn.
func TestBacklogRetentionWarning(t *testing.T) {
	t.Setenv("EVHOST_TOKEN", "")
	const maxBytes = 64 << 10
	dir := t.TempDir()
	text := "[host]\ndata_dir = \"data\"\ntoken = \"s3cret\"\nallow_networks = [\"127.0.0.0/8\"]\n" +
		"[broker]\nkind = \"embedded\"\nmax_bytes = \"64KiB\"\n" +
		"[[webhooks]]\nname = \"hook\"\nevents = [\"big\"]\nurl = \"http://127.0.0.1:1/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\npaused = true\n" +
		"[[webhooks]]\nname = \"quiet\"\nevents = [\"never\"]\nurl = \"http://127.0.0.1:1/\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n"
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHost(t, h)
	ctx := context.Background()
	data := json.RawMessage(`"` + strings.Repeat("x", 1000) + `"`)
	pub := func() {
		t.Helper()
		if _, err := h.Publish(ctx, &event.Event{Type: "big", Source: "test", DataContentType: "application/json", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	backlog := h.Bus().(bus.Backlogs)
	// report waits for a report (they are reused for 2s) that counts n events.
	report := func(n uint64) *bus.Backlog {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			r, err := backlog.Backlog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Journal.Msgs == n {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("no report of %d events: %+v", n, r.Journal)
			}
		}
	}
	pub()
	one := report(1)
	if one.Journal.MaxBytes != maxBytes || !one.Journal.DiscardOld || one.Journal.Bytes == 0 {
		t.Fatalf("journal: %+v", one.Journal)
	}
	if w := one.Warning("hook", time.Now()); w != "" {
		t.Fatalf("one event warns: %s", w)
	}
	n := uint64(0.9 * maxBytes / float64(one.Journal.Bytes)) // 90% full: none dropped yet
	for range n - 1 {
		pub()
	}
	if r := report(n); r.Oldest["hook"].Seq != 1 || r.Warning("hook", time.Now()) == "" {
		t.Fatalf("at 90%% of max_bytes: %+v %+v", r.Journal, r.Oldest)
	}

	code, out, errOut := runCLI("subscriptions", "list", "--addr", addr, "--token", "s3cret", "--config", "")
	if code != exitOK || !regexp.MustCompile(`(?m)^hook\s+webhook\s+paused\s+\d+\s+\d+s !\s`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^quiet\s+webhook\s+running\s+0\s+-\s`).MatchString(out) ||
		!strings.Contains(errOut, "warning: events are about to be lost: hook: the journal holds") || strings.Contains(errOut, "quiet") {
		t.Fatalf("subscriptions list: exit %d:\n%s%s", code, out, errOut)
	}
	get := func(path string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, b)
		}
		return b
	}
	var subs struct{ Subscriptions []api.SubscriptionStatus }
	if err := json.Unmarshal(get("/v1/subscriptions"), &subs); err != nil {
		t.Fatal(err)
	}
	var st api.Status
	if err := json.Unmarshal(get("/v1/status"), &st); err != nil {
		t.Fatal(err)
	}
	for _, list := range [][]api.SubscriptionStatus{subs.Subscriptions, st.Subscriptions} {
		for _, s := range list {
			warned := s.RetentionWarning != "" && s.OldestPendingSeconds > 0
			if warned != (s.Name == "hook") {
				t.Errorf("%+v", s)
			}
		}
	}
	metrics := string(get("/metrics"))
	if !strings.Contains(metrics, `evhost_subscription_retention_warning{subscription="hook"} 1`) ||
		!strings.Contains(metrics, `evhost_subscription_oldest_pending_seconds{subscription="hook"}`) {
		t.Errorf("metrics:\n%s", metrics)
	}
}
