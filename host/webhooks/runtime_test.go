package webhooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/webhooks"
)

// On the memory broker: the answer warns that the webhook lives in the
// process; a secret the daemon makes is shown once; the number of
// webhooks and the size of a request are bounded; a name of the config is
// refused with 409; every change is applied.
func TestRuntimeBoundsAndMemoryStore(t *testing.T) {
	var applied atomic.Int64
	r, err := webhooks.OpenRuntime(context.Background(), webhooks.RuntimeOptions{
		Open:      func(context.Context) (webhooks.Store, error) { return webhooks.NewMemoryStore(), nil },
		InProcess: true,
		Subscriptions: func() []api.SubscriptionStatus {
			return []api.SubscriptionStatus{{Name: "plugin1", Kind: api.KindPlugin}}
		},
		Changed: func() error { applied.Add(1); return nil },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	mux := http.NewServeMux()
	for _, rt := range r.Routes() {
		mux.Handle(rt.Pattern, rt.Handler)
	}
	call := func(method, target, body string, status int) string {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(method, target, strings.NewReader(body)))
		if rec.Code != status {
			t.Fatalf("%s %s %.80s: %d %s, want %d", method, target, body, rec.Code, rec.Body, status)
		}
		return rec.Body.String()
	}
	hook := func(name string) string {
		return fmt.Sprintf(`{"name":%q,"url":"https://example.com/h","events":["a.*"]}`, name)
	}

	var c api.CreatedWebhook
	json.Unmarshal([]byte(call("POST", "/v1/admin/webhooks", hook("w0"), http.StatusCreated)), &c)
	if !strings.HasPrefix(c.Secret, "whsec_") || !strings.Contains(c.Warning, "process only") || c.Source != api.WebhookFromAPI {
		t.Fatalf("created: %+v", c)
	}
	if got := r.Records(); len(got) != 1 || got[0].Secret != c.Secret {
		t.Fatalf("records: %+v", got)
	}
	for i := 1; i < api.MaxRuntimeWebhooks; i++ {
		call("POST", "/v1/admin/webhooks", hook(fmt.Sprintf("w%d", i)), http.StatusCreated)
	}
	if applied.Load() != api.MaxRuntimeWebhooks {
		t.Fatalf("%d changes applied, want %d", applied.Load(), api.MaxRuntimeWebhooks)
	}
	if body := call("POST", "/v1/admin/webhooks", hook("one-more"), http.StatusConflict); !strings.Contains(body, "the most there may be") {
		t.Fatalf("past the limit: %s", body)
	}
	call("DELETE", "/v1/admin/webhooks/w7", "", http.StatusOK)
	call("DELETE", "/v1/admin/webhooks/w7", "", http.StatusNotFound)
	call("POST", "/v1/admin/webhooks", hook("one-more"), http.StatusCreated)

	for _, c := range []struct{ body, want string }{
		{hook("plugin1"), "config.toml"},
		{`{"name":"x","url":"https://example.com/` + strings.Repeat("a", api.MaxNewWebhookBytes) + `","events":["a"]}`, "over 16384 bytes"},
		{hook("x") + hook("y"), "more than one"},
		{`{"name":"x","url":"https://example.com/` + strings.Repeat("a", api.MaxWebhookURLBytes) + `","events":["a"]}`, "over the limit of 2048"},
		{`{"name":"x","url":"https://localhost/","events":["a"]}`, "allow_networks"},
		{`{"name":"x","url":"https://example.com/","events":["a"],"headers":{` + manyHeaders() + `}}`, "headers: 17"},
	} {
		status := http.StatusBadRequest
		if c.want == "config.toml" {
			status = http.StatusConflict
		}
		if body := call("POST", "/v1/admin/webhooks", c.body, status); !strings.Contains(body, c.want) {
			t.Errorf("%.60s: %s, want %q in it", c.body, body, c.want)
		}
	}
	call("DELETE", "/v1/admin/webhooks/plugin1", "", http.StatusConflict)
}

func manyHeaders() string {
	var hs []string
	for i := range api.MaxWebhookHeaders + 1 {
		hs = append(hs, fmt.Sprintf(`"X-H%d":"v"`, i))
	}
	return strings.Join(hs, ",")
}
