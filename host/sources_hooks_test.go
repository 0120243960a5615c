package host_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

const (
	srcSWSecret     = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	srcGitHubSecret = "It's a Secret to Everybody"
	srcGitHubOld    = "the secret before the rotation"
	srcStripeSecret = "whsec_stripe_endpoint_secret_for_tests"
	srcToken        = "an-admin-token-for-the-status"
)

// sink collects the events a native handler got, by id, in order.
type sink struct {
	mu     sync.Mutex
	events []*event.Event
	seen   chan struct{}
	gate   chan struct{} // if not nil, each call waits for it to be closed
}

func newSink() *sink { return &sink{seen: make(chan struct{}, 1024)} }

func (s *sink) handle(ctx context.Context, ev *event.Event, _ func(*event.Event)) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
	s.seen <- struct{}{}
	return nil
}

// waitID waits until an event of id was handled and returns how many were.
func (s *sink) waitID(t *testing.T, id string) (*event.Event, int) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		s.mu.Lock()
		var got *event.Event
		n := 0
		for _, ev := range s.events {
			if ev.ID == id {
				got = ev
				n++
			}
		}
		s.mu.Unlock()
		if got != nil {
			return got, n
		}
		select {
		case <-s.seen:
		case <-deadline:
			t.Fatalf("event %q never handled", id)
		}
	}
}

// hookDaemon starts a daemon on the embedded broker with the webhook
// sources of extra, a [host] token, and a native handler of every type,
// one event at a time (so that an event handled means every event
// published before it was handled).
func hookDaemon(t *testing.T, extra string) (*host.Host, *sink, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	os.WriteFile(path, []byte(`[host]
data_dir = "data"
token = "`+srcToken+`"
[defaults]
concurrency = 1
`+extra), 0o644)
	cfg, err := config.Load(path)
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
		h.Close(ctx)
	})
	s := newSink()
	if err := h.Handle("sink", []string{">"}, s.handle); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	return h, s, srv.URL
}

const hookSources = `
[[sources.webhooks]]
name = "billing"
verify = "standard-webhooks"
secret = "` + srcSWSecret + `"

[[sources.webhooks]]
name = "gh"
path = "github/acme"
verify = "github"
secrets = ["` + srcGitHubOld + `", "` + srcGitHubSecret + `"]
extension_headers = ["X-GitHub-Hook-ID"]

[[sources.webhooks]]
name = "payments"
verify = "stripe"
secret = "` + srcStripeSecret + `"
max_body = "1KiB"
`

// hookPost posts body to the hook at path with headers h (and a JSON
// Content-Type), and returns the status and the answer.
func hookPost(t *testing.T, base, path string, h http.Header, body string) (int, api.Accepted, string) {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/hooks/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var acc api.Accepted
	if resp.StatusCode == http.StatusAccepted {
		if err := json.Unmarshal(b, &acc); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, acc, string(b)
}

func swHeaders(t *testing.T, id string, ts time.Time, body string) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(srcSWSecret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, ts, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(ts.Unix(), 10)}, "Webhook-Signature": {sig}}
}

// ghHeaders signs as GitHub documents: "sha256=" and the hex HMAC-SHA256
// of the body.
func ghHeaders(secret, delivery, event, body string) http.Header {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return http.Header{"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(m.Sum(nil))},
		"X-Github-Delivery": {delivery}, "X-Github-Event": {event}, "X-Github-Hook-Id": {"4242"}}
}

// stripeSig signs as Stripe documents: t=, and v1= the hex HMAC-SHA256 of
// "<t>.<body>" under the endpoint secret.
func stripeSig(secret string, ts time.Time, body string) http.Header {
	tss := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(tss + "." + body))
	return http.Header{"Stripe-Signature": {"t=" + tss + ",v1=" + hex.EncodeToString(m.Sum(nil))}}
}

// Signatures of the official Standard Webhooks library, and of GitHub's and
// Stripe's documented algorithms, are accepted without an evhost token;
// each becomes an event with the provider's delivery id, the type the
// source says, the body as data; and a redelivery (the same delivery id,
// signed again later) is a duplicate, handled once, through the real bus.
func TestHookSourcesAcceptAndDeduplicate(t *testing.T) {
	_, s, base := hookDaemon(t, hookSources)

	body := `{"type":"invoice.paid","data":{"amount":42}}`
	status, acc, text := hookPost(t, base, "billing", swHeaders(t, "msg_2tT1", time.Now(), body), body)
	if status != http.StatusAccepted || len(acc.IDs) != 1 || acc.IDs[0] != "msg_2tT1" || len(acc.Duplicates) != 0 {
		t.Fatalf("standard-webhooks: %d %s", status, text)
	}
	ev, _ := s.waitID(t, "msg_2tT1")
	if ev.Type != "invoice.paid" || ev.Source != "evhost://hooks/billing" || string(ev.Data) != body || ev.DataContentType != "application/json" {
		t.Fatalf("standard-webhooks event: %+v", ev)
	}

	ghBody := `{"action":"opened","number":7}`
	status, _, text = hookPost(t, base, "github/acme", ghHeaders(srcGitHubSecret, "72d3162e-cc78-11e3-81ab-4c9367dc0958", "pull_request", ghBody), ghBody)
	if status != http.StatusAccepted {
		t.Fatalf("github: %d %s", status, text)
	}
	ev, _ = s.waitID(t, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	if hook, _ := ev.Ext("xgithubhookid"); ev.Type != "github.pull_request" || hook != "4242" || ev.Source != "evhost://hooks/gh" {
		t.Fatalf("github event: %+v", ev)
	}
	// The secret being rotated out still verifies.
	status, _, text = hookPost(t, base, "github/acme", ghHeaders(srcGitHubOld, "d-old", "push", ghBody), ghBody)
	if status != http.StatusAccepted {
		t.Fatalf("github, the old secret: %d %s", status, text)
	}

	stBody := `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded"}`
	status, _, text = hookPost(t, base, "payments", stripeSig(srcStripeSecret, time.Now(), stBody), stBody)
	if status != http.StatusAccepted {
		t.Fatalf("stripe: %d %s", status, text)
	}
	ev, _ = s.waitID(t, "evt_1NG8Du2eZvKYlo2CUI79vXWy")
	if ev.Type != "stripe.payment_intent.succeeded" {
		t.Fatalf("stripe event: %+v", ev)
	}

	// Redeliveries: the provider signs again, later, with the same
	// delivery id.
	status, acc, text = hookPost(t, base, "billing", swHeaders(t, "msg_2tT1", time.Now().Add(time.Second), body), body)
	if status != http.StatusAccepted || len(acc.Duplicates) != 1 {
		t.Fatalf("standard-webhooks redelivery: %d %s", status, text)
	}
	status, acc, text = hookPost(t, base, "payments", stripeSig(srcStripeSecret, time.Now().Add(time.Second), stBody), stBody)
	if status != http.StatusAccepted || len(acc.Duplicates) != 1 {
		t.Fatalf("stripe redelivery: %d %s", status, text)
	}
	// A later event, handled after the redeliveries would have been.
	status, _, _ = hookPost(t, base, "billing", swHeaders(t, "msg_marker", time.Now(), body), body)
	if status != http.StatusAccepted {
		t.Fatal("marker refused")
	}
	s.waitID(t, "msg_marker")
	for _, id := range []string{"msg_2tT1", "evt_1NG8Du2eZvKYlo2CUI79vXWy"} {
		if _, n := s.waitID(t, id); n != 1 {
			t.Errorf("event %s handled %d times, want once", id, n)
		}
	}

	st := sourceStatus(t, base, "billing")
	if st.Produced != 2 || st.Duplicates != 1 || st.Kind != api.SourceWebhook || st.Where != "/v1/hooks/billing" || !st.Running {
		t.Errorf("status of billing: %+v", st)
	}
}

// sourceStatus reads the source name from GET /v1/status.
func sourceStatus(t *testing.T, base, name string) api.SourceStatus {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+srcToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s api.Status
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	for _, src := range s.Sources {
		if src.Name == name {
			return src
		}
	}
	t.Fatalf("no source %q in the status: %+v", name, s.Sources)
	return api.SourceStatus{}
}

// Each kind of tampering gets a 401, is counted by reason, and publishes
// nothing; an old timestamp is refused as a replay; a body over the cap
// gets a 413; a request for another Host or from a web page of another
// origin is refused by the API's guards before the hook sees it.
func TestHookSourcesRefuseTampering(t *testing.T) {
	_, s, base := hookDaemon(t, hookSources)
	body := `{"type":"invoice.paid"}`
	now := time.Now()
	sw := swHeaders(t, "msg_t", now, body)
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	stBody := `{"id":"evt_t","type":"charge.failed"}`
	st := stripeSig(srcStripeSecret, now, stBody)
	for _, c := range []struct {
		name, path string
		h          http.Header
		body       string
		status     int
	}{
		{"body", "billing", sw, `{"type":"invoice.paid","x":1}`, 401},
		{"timestamp", "billing", with(sw, "Webhook-Timestamp", strconv.FormatInt(now.Unix()-1, 10)), body, 401},
		{"signature", "billing", with(sw, "Webhook-Signature", "v1,AAAA"), body, 401},
		{"wrong secret", "billing", func() http.Header {
			wh, _ := standardwebhooks.NewWebhook("whsec_c2Vjb25kIHNlY3JldCBvZiAyNCBieXRlcw==")
			sig, _ := wh.Sign("msg_t", now, []byte(body))
			return with(sw, "Webhook-Signature", sig)
		}(), body, 401},
		{"missing header", "billing", with(sw, "Webhook-Signature", ""), body, 401},
		{"old timestamp", "billing", swHeaders(t, "msg_t", now.Add(-10*time.Minute), body), body, 401},
		{"github body", "github/acme", ghHeaders(srcGitHubSecret, "d1", "push", `{}`), `{"a":1}`, 401},
		{"github wrong secret", "github/acme", ghHeaders("not the secret of this hook", "d1", "push", `{}`), `{}`, 401},
		{"github missing header", "github/acme", with(ghHeaders(srcGitHubSecret, "d1", "push", `{}`), "X-Hub-Signature-256", ""), `{}`, 401},
		{"stripe body", "payments", st, `{"id":"evt_t","type":"charge.succeeded"}`, 401},
		{"stripe old timestamp", "payments", stripeSig(srcStripeSecret, now.Add(-time.Hour), stBody), stBody, 401},
		{"stripe too large", "payments", stripeSig(srcStripeSecret, now, strings.Repeat(" ", 2048)+stBody), strings.Repeat(" ", 2048) + stBody, 413},
		{"unknown path", "nothing", sw, body, 404},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, text := hookPost(t, base, c.path, c.h, c.body)
			if status != c.status {
				t.Fatalf("got %d %s, want %d", status, text, c.status)
			}
		})
	}
	// The API's guards: another Host (DNS rebinding), a browser's
	// cross-site POST.
	req, _ := http.NewRequest("POST", base+"/v1/hooks/billing", strings.NewReader(body))
	req.Header = sw.Clone()
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("foreign Host: %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", base+"/v1/hooks/billing", strings.NewReader(body))
	req.Header = sw.Clone()
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-site POST: %v %v", resp, err)
	}

	b := sourceStatus(t, base, "billing")
	if b.Produced != 0 || b.Refused["signature"] != 5 || b.Refused["timestamp"] != 1 || b.LastError == "" {
		t.Errorf("billing: %+v", b)
	}
	if p := sourceStatus(t, base, "payments"); p.Refused["signature"] != 1 || p.Refused["timestamp"] != 1 || p.Refused["too_large"] != 1 {
		t.Errorf("payments: %+v", p)
	}
	if g := sourceStatus(t, base, "gh"); g.Refused["signature"] != 3 {
		t.Errorf("gh: %+v", g)
	}
	s.mu.Lock()
	n := len(s.events)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d events published by refused requests", n)
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`evhost_source_refused_total{kind="webhook",reason="signature",source="billing"} 5`,
		`evhost_source_refused_total{kind="webhook",reason="timestamp",source="billing"} 1`,
		`evhost_source_running{kind="webhook",source="gh"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A daemon that is not ready answers 503; a config reload adds, changes
// and removes webhook sources: the new path is served at once, a removed
// one answers 404, a changed secret is the only one accepted.
func TestHookSourcesReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	write := func(sources string) {
		os.WriteFile(path, []byte("[host]\ndata_dir = \"data\"\n"+sources), 0o644)
	}
	write(`[[sources.webhooks]]
name = "gh"
verify = "github"
secret = "` + srcGitHubSecret + `"
`)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeHost(h) })
	srv := httptest.NewServer(h.Handler())
	t.Cleanup(srv.Close)
	body := `{"zen":"Keep it logically awesome."}`
	// Before Start, the daemon takes no events: 503, for the provider to retry.
	if status, _, text := hookPost(t, srv.URL, "gh", ghHeaders(srcGitHubSecret, "d0", "ping", body), body); status != 503 {
		t.Fatalf("before Start: %d %s", status, text)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _, text := hookPost(t, srv.URL, "gh", ghHeaders(srcGitHubSecret, "d1", "ping", body), body); status != 202 {
		t.Fatalf("before: %d %s", status, text)
	}
	write(`[[sources.webhooks]]
name = "gh2"
path = "github"
verify = "github"
secret = "` + srcGitHubOld + `"
`)
	if err := h.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := hookPost(t, srv.URL, "gh", ghHeaders(srcGitHubSecret, "d2", "ping", body), body); status != 404 {
		t.Errorf("removed source: %d, want 404", status)
	}
	if status, _, _ := hookPost(t, srv.URL, "github", ghHeaders(srcGitHubSecret, "d3", "ping", body), body); status != 401 {
		t.Errorf("the old secret on the new source: %d, want 401", status)
	}
	if status, _, text := hookPost(t, srv.URL, "github", ghHeaders(srcGitHubOld, "d4", "ping", body), body); status != 202 {
		t.Errorf("new source: %d %s", status, text)
	}
}
