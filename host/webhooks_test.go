package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

const hookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// hookReceiver verifies every request with the official Standard Webhooks
// library and answers by the event's id prefix: "ok" 200, "flaky" 500
// twice then 200, "bad" 400, "slow" past the timeout, "throttled" 429 with
// Retry-After: 1 then 200, "gone" 410.
type hookReceiver struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	tries     map[string]int
	delivered map[string]bool
	first     map[string]time.Time
	second    map[string]time.Time
}

func newHookReceiver(t *testing.T) *hookReceiver {
	wh, err := standardwebhooks.NewWebhook(hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &hookReceiver{t: t, tries: map[string]int{}, delivered: map[string]bool{},
		first: map[string]time.Time{}, second: map[string]time.Time{}}
	release := make(chan struct{})
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ev, err := event.DecodeJSON(body)
		if err != nil || ev.ID != r.Header.Get("webhook-id") {
			t.Errorf("body %s, webhook-id %q: %v", body, r.Header.Get("webhook-id"), err)
		}
		id := ev.ID
		rc.mu.Lock()
		rc.tries[id]++
		n := rc.tries[id]
		switch n {
		case 1:
			rc.first[id] = time.Now()
		case 2:
			rc.second[id] = time.Now()
		}
		rc.mu.Unlock()
		code := http.StatusOK
		switch {
		case strings.HasPrefix(id, "flaky") && n <= 2:
			code = http.StatusInternalServerError
		case strings.HasPrefix(id, "bad"):
			code = http.StatusBadRequest
		case strings.HasPrefix(id, "slow"):
			select {
			case <-r.Context().Done():
			case <-release:
			}
			return
		case strings.HasPrefix(id, "throttled") && n == 1:
			w.Header().Set("Retry-After", "1")
			code = http.StatusTooManyRequests
		case strings.HasPrefix(id, "gone"):
			code = http.StatusGone
		}
		if code == http.StatusOK {
			rc.mu.Lock()
			rc.delivered[id] = true
			rc.mu.Unlock()
		}
		http.Error(w, "answer for "+id, code)
	}))
	t.Cleanup(func() { close(release); rc.srv.Close() })
	return rc
}

func (rc *hookReceiver) isDelivered(id string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.delivered[id]
}

// Through a real host on the embedded broker: every event ends delivered
// or dead-lettered with a reason; a 410 disables the endpoint, visible in
// GET /v1/webhooks, until POST /v1/admin/webhooks/{name}/enable; the
// attempts are in GET /v1/webhooks/{name}/deliveries.
func TestWebhooksEndToEnd(t *testing.T) {
	rc := newHookReceiver(t)
	dir := t.TempDir()
	toml := fmt.Sprintf(`[host]
data_dir = "data"
allow_networks = ["127.0.0.0/8", "::1/128"]

[broker]
kind = "embedded"

[[webhooks]]
name = "crm"
events = ["user.*"]
url = %q
secret = %q
headers = { "X-Tenant" = "shop" }
timeout = "300ms"
max_attempts = 3
backoff = "10ms"
max_backoff = "50ms"
concurrency = 4
`, rc.srv.URL+"/hooks", hookSecret)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(toml))
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
		if err := h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := h.Handler()
	publish := func(ids ...string) {
		for _, id := range ids {
			ev := &event.Event{Type: "user.created", ID: id, DataContentType: "application/json", Data: []byte(`{"user":"` + id + `"}`)}
			if _, err := h.Publish(context.Background(), ev); err != nil {
				t.Fatalf("publish %s: %v", id, err)
			}
		}
	}
	deadLetters := func() map[string]bus.DeadLetter {
		dls, err := h.Bus().DeadLetters(context.Background(), bus.DeadLetterFilter{Subscription: "crm"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bus.DeadLetter{}
		for _, dl := range dls {
			m[dl.Event.ID] = dl
		}
		return m
	}
	// settle waits until every id is delivered or dead-lettered.
	settle := func(ids ...string) map[string]bus.DeadLetter {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for {
			dls := deadLetters()
			left := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { _, dead := dls[id]; return dead || rc.isDelivered(id) })
			if len(left) == 0 {
				return dls
			}
			if time.Now().After(deadline) {
				t.Fatalf("neither delivered nor dead-lettered: %v", left)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	ids := []string{"ok-1", "ok-2", "ok-3", "flaky-1", "bad-1", "slow-1", "throttled-1"}
	publish(ids...)
	dls := settle(ids...)
	for _, id := range []string{"ok-1", "ok-2", "ok-3", "flaky-1", "throttled-1"} {
		if !rc.isDelivered(id) {
			t.Errorf("%s not delivered (dead letter %+v)", id, dls[id])
		}
	}
	if dl, ok := dls["bad-1"]; !ok || !dl.Terminated || !strings.HasPrefix(dl.Reason, "HTTP 400: answer for bad-1") {
		t.Errorf("bad-1: dead letter %+v", dl)
	}
	if dl, ok := dls["slow-1"]; !ok || dl.Attempts != 3 || !strings.Contains(dl.Reason, "timed out after 300ms") {
		t.Errorf("slow-1: dead letter %+v", dl)
	}
	rc.mu.Lock()
	if gap := rc.second["throttled-1"].Sub(rc.first["throttled-1"]); gap < time.Second {
		t.Errorf("throttled-1 retried after %v, before its Retry-After of 1s", gap)
	}
	if rc.tries["flaky-1"] != 3 {
		t.Errorf("flaky-1 tried %d times, want 3", rc.tries["flaky-1"])
	}
	rc.mu.Unlock()

	// 410: the endpoint is disabled; the next event is dead-lettered
	// without a request.
	publish("gone-1")
	settle("gone-1")
	publish("ok-while-disabled")
	dls = settle("ok-while-disabled")
	if dl := dls["gone-1"]; !strings.Contains(dl.Reason, "endpoint disabled (410 Gone)") {
		t.Errorf("gone-1: dead letter %+v", dl)
	}
	if dl, ok := dls["ok-while-disabled"]; !ok || !strings.HasPrefix(dl.Reason, "endpoint disabled since ") {
		t.Errorf("ok-while-disabled: dead letter %+v", dl)
	}
	var list struct{ Webhooks []api.WebhookInfo }
	getJSON(t, srv, "GET", "/v1/webhooks", http.StatusOK, &list)
	if len(list.Webhooks) != 1 || !list.Webhooks[0].Disabled || list.Webhooks[0].DisabledSince.IsZero() ||
		list.Webhooks[0].Name != "crm" || list.Webhooks[0].URL != rc.srv.URL+"/hooks" || !list.Webhooks[0].Enabled {
		t.Fatalf("GET /v1/webhooks: %+v", list)
	}
	getJSON(t, srv, "POST", "/v1/admin/webhooks/nope/enable", http.StatusNotFound, nil)
	var en struct {
		WasDisabled bool `json:"was_disabled"`
	}
	getJSON(t, srv, "POST", "/v1/admin/webhooks/crm/enable", http.StatusOK, &en)
	if !en.WasDisabled {
		t.Fatal("enable: was not disabled")
	}
	publish("ok-again")
	settle("ok-again")
	if !rc.isDelivered("ok-again") {
		t.Fatal("ok-again not delivered after enable")
	}

	// The delivery log: one entry per attempt, with the HTTP status.
	var page api.DeliveryPage
	deadline := time.Now().Add(waitLimit)
	for {
		getJSON(t, srv, "GET", "/v1/webhooks/crm/deliveries?limit=1000", http.StatusOK, &page)
		if slices.ContainsFunc(page.Deliveries, func(d api.Delivery) bool { return d.EventID == "ok-again" }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ok-again not in the delivery log: %+v", page)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var flaky []string
	for _, d := range page.Deliveries {
		if d.EventID == "flaky-1" {
			flaky = append(flaky, fmt.Sprintf("%d:%s:%d", d.Attempt, d.Outcome, d.HTTPStatus))
		}
		if d.EventID == "slow-1" && (d.HTTPStatus != 0 || !strings.Contains(d.Error, "timed out")) {
			t.Errorf("slow-1 delivery %+v", d)
		}
		if d.LatencyMS < 0 || d.Start.IsZero() {
			t.Errorf("delivery %+v", d)
		}
	}
	if got := strings.Join(flaky, " "); got != "1:retry:500 2:retry:500 3:done:200" {
		t.Errorf("flaky-1 deliveries %q", got)
	}
	var two api.DeliveryPage
	getJSON(t, srv, "GET", "/v1/webhooks/crm/deliveries?limit=2", http.StatusOK, &two)
	if len(two.Deliveries) != 2 || two.NextAfter != two.Deliveries[1].Seq {
		t.Errorf("a page of 2: %+v", two)
	}
	getJSON(t, srv, "GET", "/v1/webhooks/nope/deliveries", http.StatusNotFound, nil)
}

// getJSON serves one request on api, checks its status and decodes its
// body into v (if not nil).
func getJSON(t *testing.T, api http.Handler, method, target string, status int, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, target, nil)
	req.Host = "localhost" // httptest's example.com is a name the API does not answer to
	api.ServeHTTP(rec, req)
	if rec.Code != status {
		t.Fatalf("%s %s: %d %s, want %d", method, target, rec.Code, rec.Body, status)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
	}
}
