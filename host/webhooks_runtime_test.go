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

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// signedReceiver records the ids of the events posted to it whose Standard
// Webhooks signature the official library accepts with secret.
type signedReceiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  map[string]int
	seen chan string
}

func newSignedReceiver(t *testing.T, secret string) *signedReceiver {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc := &signedReceiver{got: map[string]int{}, seen: make(chan string, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			t.Errorf("signature refused: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		ev, err := event.DecodeJSON(body)
		if err != nil {
			t.Errorf("body %s: %v", body, err)
			return
		}
		rc.mu.Lock()
		rc.got[ev.ID]++
		rc.mu.Unlock()
		rc.seen <- ev.ID
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// wait waits for the delivery of id.
func (rc *signedReceiver) wait(t *testing.T, id string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got := <-rc.seen:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("event %s was not delivered", id)
		}
	}
}

func (rc *signedReceiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.got[id]
}

// apiCall sends one request with a bearer token and a JSON body to api,
// checks its status and decodes the answer into v (if not nil).
func apiCall(t *testing.T, api http.Handler, method, target, token string, body any, status int, v any) string {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, target, r)
	req.Host = "localhost"
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)
	if rec.Code != status {
		t.Fatalf("%s %s: %d %s, want %d", method, target, rec.Code, rec.Body, status)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v", method, target, err)
		}
	}
	return rec.Body.String()
}

// A webhook created over the admin API with a token of the admin scope is
// served at once (its deliveries carry a valid Standard Webhooks
// signature), listed, kept across a restart of the daemon (embedded
// broker, same data dir) without its secret ever shown again, and deleted:
// then its subscription is gone. Bad requests get a 400 that says why, the
// config's webhooks a 409, and a token without the admin scope a 403.
func TestRuntimeWebhooks(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(fmt.Sprintf(`[host]
data_dir = "data"
allow_networks = ["127.0.0.0/8"]
tokens = [{ name = "ops", token = "ops-token", scopes = ["admin"] }, { name = "ro", token = "ro-token", scopes = ["read"] }]
[broker]
kind = "embedded"
[defaults]
backoff = "10ms"
[[webhooks]]
name = "fromconfig"
events = ["other"]
url = "http://127.0.0.1:1/"
secret = %q
`, hookSecret)), 0o644)
	open := func() (*host.Host, http.Handler) {
		t.Helper()
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return h, h.Handler()
	}
	h, srv := open()
	defer func() { h.Close(context.Background()) }()
	ctx := context.Background()

	// The daemon makes the secret: it is in the 201 answer, once.
	var created api.CreatedWebhook
	nw := api.NewWebhook{Name: "crm", Events: []string{"user.*"}, Headers: map[string]string{"X-Tenant": "shop"}, Timeout: "2s"}
	// A receiver needs the secret first: give one.
	nw.Secret = hookSecret
	rc := newSignedReceiver(t, hookSecret)
	nw.URL = rc.srv.URL + "/hooks?key=hidden"
	apiCall(t, srv, "POST", "/v1/admin/webhooks", "ro-token", nw, http.StatusForbidden, nil)
	apiCall(t, srv, "POST", "/v1/admin/webhooks", "ops-token", nw, http.StatusCreated, &created)
	if created.Secret != "" || created.Source != api.WebhookFromAPI || strings.Contains(created.URL, "hidden") || created.Warning != "" {
		t.Fatalf("created: %+v", created)
	}
	ev := &event.Event{ID: "u1", Type: "user.created", Source: "test"}
	if _, err := h.Publish(ctx, ev); err != nil {
		t.Fatal(err)
	}
	rc.wait(t, "u1")

	// A secret the daemon makes is shown once, and works.
	var made api.CreatedWebhook
	apiCall(t, srv, "POST", "/v1/admin/webhooks", "ops-token", api.NewWebhook{Name: "made", URL: "http://127.0.0.1:1/", Events: []string{"x"}}, http.StatusCreated, &made)
	if !strings.HasPrefix(made.Secret, "whsec_") {
		t.Fatalf("made secret: %+v", made)
	}
	if _, err := standardwebhooks.NewWebhook(made.Secret); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		body   any
		status int
		want   string
	}{
		{api.NewWebhook{Name: "crm", URL: nw.URL, Events: []string{"a"}}, http.StatusConflict, "already created"},
		{api.NewWebhook{Name: "fromconfig", URL: nw.URL, Events: []string{"a"}}, http.StatusConflict, "config.toml"},
		{api.NewWebhook{Name: "bad name", URL: nw.URL, Events: []string{"a"}}, http.StatusBadRequest, "name"},
		{api.NewWebhook{Name: "b", URL: "ftp://x/", Events: []string{"a"}}, http.StatusBadRequest, "scheme"},
		{api.NewWebhook{Name: "b", URL: "http://169.254.169.254/", Events: []string{"a"}}, http.StatusBadRequest, "allow_networks"},
		{api.NewWebhook{Name: "b", URL: "http://u:p@x/", Events: []string{"a"}}, http.StatusBadRequest, "credentials"},
		{api.NewWebhook{Name: "b", URL: nw.URL}, http.StatusBadRequest, "events"},
		{api.NewWebhook{Name: "b", URL: nw.URL, Events: []string{"a..b"}}, http.StatusBadRequest, "events"},
		{api.NewWebhook{Name: "b", URL: nw.URL, Events: []string{"a"}, Secret: "nope"}, http.StatusBadRequest, "secret"},
		{api.NewWebhook{Name: "b", URL: nw.URL, Events: []string{"a"}, Headers: map[string]string{"Webhook-Id": "x"}}, http.StatusBadRequest, "set by the delivery"},
		{api.NewWebhook{Name: "b", URL: nw.URL, Events: []string{"a"}, Timeout: "1h"}, http.StatusBadRequest, "timeout"},
		{api.NewWebhook{Name: "b", URL: nw.URL, Events: []string{"a"}, Filter: "data.x >"}, http.StatusBadRequest, "filter"},
		{map[string]any{"name": "b", "nope": 1}, http.StatusBadRequest, "nope"},
	} {
		if body := apiCall(t, srv, "POST", "/v1/admin/webhooks", "ops-token", c.body, c.status, nil); !strings.Contains(body, c.want) {
			t.Errorf("%+v: %s, want %q in it", c.body, body, c.want)
		}
	}
	apiCall(t, srv, "DELETE", "/v1/admin/webhooks/fromconfig", "ops-token", nil, http.StatusConflict, nil)
	apiCall(t, srv, "DELETE", "/v1/admin/webhooks/nosuch", "ops-token", nil, http.StatusNotFound, nil)

	// Listed, without the secret; and a subscription.
	var list struct{ Webhooks []api.WebhookInfo }
	body := apiCall(t, srv, "GET", "/v1/webhooks", "ro-token", nil, http.StatusOK, &list)
	if strings.Contains(body, "whsec_") || len(list.Webhooks) != 3 || list.Webhooks[1].Name != "crm" || list.Webhooks[1].Source != api.WebhookFromAPI || list.Webhooks[0].Source != api.WebhookFromConfig {
		t.Fatalf("list: %s", body)
	}

	// Restart: still served.
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	h, srv = open()
	if _, err := h.Publish(ctx, &event.Event{ID: "u2", Type: "user.updated", Source: "test"}); err != nil {
		t.Fatal(err)
	}
	rc.wait(t, "u2")
	var subs struct{ Subscriptions []api.SubscriptionStatus }
	apiCall(t, srv, "GET", "/v1/subscriptions", "ro-token", nil, http.StatusOK, &subs)
	names := ""
	for _, s := range subs.Subscriptions {
		names += s.Name + " "
	}
	if names != "fromconfig crm made " {
		t.Fatalf("subscriptions: %q", names)
	}

	// Delete: the webhook and its subscription are gone.
	apiCall(t, srv, "DELETE", "/v1/admin/webhooks/crm", "ops-token", nil, http.StatusOK, nil)
	if _, ok := h.Bus().(bus.States).Pending()["crm"]; ok {
		t.Fatal("the subscription of the deleted webhook is still there")
	}
	if err := h.PauseSubscription(ctx, "crm"); err == nil {
		t.Fatal("pausing the deleted webhook's subscription: no error")
	}
	body = apiCall(t, srv, "GET", "/v1/webhooks", "ro-token", nil, http.StatusOK, nil)
	if strings.Contains(body, `"crm"`) {
		t.Fatalf("list after delete: %s", body)
	}
	if rc.count("u1") != 1 || rc.count("u2") != 1 {
		t.Fatalf("deliveries: %v", rc.got)
	}
}
