package webhook_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/webhook"
)

const (
	secret1 = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secret2 = "whsec_" + "c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24=" // "second-secret-for-rotation"
)

// The specification's published test vector (also the official Go
// library's TestWebhookSign).
func TestSignVector(t *testing.T) {
	keys, err := webhook.ParseSecrets(secret1)
	if err != nil {
		t.Fatal(err)
	}
	got := webhook.Sign(keys, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %q, want %q", got, want)
	}
}

// During a rotation every secret signs, and a receiver that knows either
// one verifies the request with the official library.
func TestSignRotationVerifiedByLibrary(t *testing.T) {
	keys, err := webhook.ParseSecrets(secret1 + "  " + secret2)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	body := []byte(`{"id":"x"}`)
	sig := webhook.Sign(keys, "msg_1", now, body)
	if n := len(strings.Fields(sig)); n != 2 {
		t.Fatalf("%d signatures in %q, want 2", n, sig)
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_1")
	h.Set(webhook.HeaderTimestamp, strconvUnix(now))
	h.Set(webhook.HeaderSignature, sig)
	for _, s := range []string{secret1, secret2} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(body, h); err != nil {
			t.Errorf("secret %s…: %v", s[:10], err)
		}
	}
	wh, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("some-other-secret-key")))
	if err := wh.Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Fatalf("an unknown secret verified: %v", err)
	}
}

func TestParseSecretsErrors(t *testing.T) {
	for _, s := range []string{"", "   ", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ=", secret1 + " nope"} {
		_, err := webhook.ParseSecrets(s)
		if !errors.Is(err, webhook.ErrBadSecret) {
			t.Errorf("ParseSecrets(%q) = %v, want ErrBadSecret", s, err)
			continue
		}
		if strings.TrimSpace(s) != "" && strings.Contains(err.Error(), strings.TrimSpace(s)) {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}

func strconvUnix(t time.Time) string { return itoa(t.Unix()) }

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// receiver is a test endpoint that verifies every request with the
// official library and answers with answer(n), n counting from 1. It does
// not check the timestamp's age, since tests set the sender's clock; the
// timestamp's tolerance is checked in TestDeliveredVerifiedAndShaped.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	got    []*http.Request
	bodies [][]byte
	answer func(w http.ResponseWriter, r *http.Request, n int)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *receiver {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret1)
	if err != nil {
		t.Fatal(err)
	}
	rc := &receiver{t: t, answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading the request: %v", err)
			return
		}
		if err := wh.VerifyIgnoringTimestamp(body, r.Header); err != nil {
			t.Errorf("the library refused the request: %v", err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		rc.mu.Lock()
		rc.got = append(rc.got, r)
		rc.bodies = append(rc.bodies, body)
		n := len(rc.got)
		rc.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []*http.Request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]*http.Request(nil), rc.got...)
}

func newEndpoint(t *testing.T, url string, mod func(*webhook.Options)) *webhook.Endpoint {
	t.Helper()
	keys, err := webhook.ParseSecrets(secret1)
	if err != nil {
		t.Fatal(err)
	}
	o := webhook.Options{
		Name: "crm", URL: url, Secrets: keys, Timeout: 5 * time.Second,
		Headers: map[string]string{"X-Tenant": "shop"},
		Client:  &http.Client{}, Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&o)
	}
	e, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func testEvent() *event.Event {
	return &event.Event{ID: "evt-1", Source: "/shop", Type: "user.created", SpecVersion: "1.0",
		DataContentType: "application/json", Data: []byte(`{"user":"ada"}`)}
}

func TestDeliveredVerifiedAndShaped(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(http.StatusNoContent) })
	var seen []webhook.Attempt
	e := newEndpoint(t, rc.srv.URL, func(o *webhook.Options) {
		o.Observe = func(a webhook.Attempt) { seen = append(seen, a) }
	})
	ev := testEvent()
	out := e.Handle(context.Background(), ev, 1)
	if out.Status != dispatch.Done {
		t.Fatalf("outcome %+v", out)
	}
	r := rc.requests()[0]
	wh, _ := standardwebhooks.NewWebhook(secret1)
	if err := wh.Verify(rc.bodies[0], r.Header); err != nil {
		t.Fatalf("the library refused the request, timestamp checked: %v", err)
	}
	for h, want := range map[string]string{
		"Content-Type": webhook.ContentType, "User-Agent": webhook.UserAgent,
		"X-Tenant": "shop", webhook.HeaderID: ev.ID,
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	back, err := event.DecodeJSON(rc.bodies[0])
	if err != nil || back.ID != ev.ID || string(back.Data) != string(ev.Data) {
		t.Fatalf("body decodes to %+v, %v", back, err)
	}
	if len(seen) != 1 || seen[0].HTTPStatus != 204 || seen[0].Attempt != 1 || seen[0].Outcome.Status != dispatch.Done {
		t.Fatalf("observed %+v", seen)
	}
}

// 500s then a success: each failure is a Retry with the status and a
// snippet of the body; the webhook-id is the same on every attempt, the
// timestamp is the attempt's.
func TestServerErrorsThenSuccess(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n < 3 {
			http.Error(w, strings.Repeat("database down ", 100), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	clock := time.Unix(1_700_000_000, 0)
	e := newEndpoint(t, rc.srv.URL, func(o *webhook.Options) { o.Now = func() time.Time { return clock } })
	for attempt := 1; attempt <= 3; attempt++ {
		out := e.Handle(context.Background(), testEvent(), attempt)
		want := dispatch.Retry
		if attempt == 3 {
			want = dispatch.Done
		}
		if out.Status != want {
			t.Fatalf("attempt %d: %+v, want %v", attempt, out, want)
		}
		if want == dispatch.Retry {
			if !strings.HasPrefix(out.Reason, "HTTP 500: database down") || len(out.Reason) > 300+len("HTTP 500: ") {
				t.Fatalf("attempt %d: reason %q", attempt, out.Reason)
			}
		}
		clock = clock.Add(time.Minute)
	}
	rs := rc.requests()
	for i, r := range rs {
		if r.Header.Get(webhook.HeaderID) != "evt-1" {
			t.Errorf("request %d: webhook-id %q", i, r.Header.Get(webhook.HeaderID))
		}
		if want := itoa(1_700_000_000 + 60*int64(i)); r.Header.Get(webhook.HeaderTimestamp) != want {
			t.Errorf("request %d: webhook-timestamp %q, want %s", i, r.Header.Get(webhook.HeaderTimestamp), want)
		}
	}
}

// A receiver slower than the timeout: the request really ends (the
// receiver sees its context cancelled) and the outcome is a Retry.
func TestTimeoutRetries(t *testing.T) {
	gone := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
			close(gone)
		case <-release:
		}
	})
	e := newEndpoint(t, rc.srv.URL, func(o *webhook.Options) { o.Timeout = 100 * time.Millisecond })
	out := e.Handle(context.Background(), testEvent(), 1)
	if out.Status != dispatch.Retry || !strings.Contains(out.Reason, "timed out after 100ms") {
		t.Fatalf("outcome %+v", out)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver's request was not ended by the timeout")
	}
}

// A connection reset before any answer is a Retry.
func TestConnectionResetRetries(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	})
	e := newEndpoint(t, rc.srv.URL, nil)
	out := e.Handle(context.Background(), testEvent(), 1)
	if out.Status != dispatch.Retry || out.Reason == "" {
		t.Fatalf("outcome %+v", out)
	}
}

func TestConnectionRefusedRetries(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	out := newEndpoint(t, url, nil).Handle(context.Background(), testEvent(), 1)
	if out.Status != dispatch.Retry || !strings.Contains(out.Reason, "refused") {
		t.Fatalf("outcome %+v", out)
	}
}

// 410 disables the endpoint: that event and every later one are rejected
// (the later ones without a request) until Enable.
func TestGoneDisablesUntilEnabled(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEndpoint(t, rc.srv.URL, func(o *webhook.Options) { o.Now = func() time.Time { return clock } })
	out := e.Handle(context.Background(), testEvent(), 1)
	if out.Status != dispatch.Reject || !strings.Contains(out.Reason, "endpoint disabled (410 Gone)") {
		t.Fatalf("outcome %+v", out)
	}
	st := e.State()
	if !st.Disabled || !st.DisabledSince.Equal(clock) || st.DisabledReason != "endpoint disabled (410 Gone)" || st.Name != "crm" {
		t.Fatalf("state %+v", st)
	}
	out = e.Handle(context.Background(), testEvent(), 1)
	if out.Status != dispatch.Reject || !strings.Contains(out.Reason, "endpoint disabled since 2026-01-02T03:04:05Z") {
		t.Fatalf("while disabled: %+v", out)
	}
	if n := len(rc.requests()); n != 1 {
		t.Fatalf("%d requests while disabled, want none after the 410", n-1)
	}
	if !e.Enable() || e.Enable() || e.State().Disabled {
		t.Fatal("Enable did not enable exactly once")
	}
	if out := e.Handle(context.Background(), testEvent(), 1); out.Status != dispatch.Done {
		t.Fatalf("after Enable: %+v", out)
	}
}

// 429 and 503 with Retry-After: a Retry whose Delay is the header's, in
// seconds or as an HTTP date; without one, the subscription's backoff.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		code  int
		after string
		delay time.Duration
	}{
		{429, "7", 7 * time.Second},
		{503, "120", 2 * time.Minute},
		{429, now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{503, "", 0},
		{429, "soon", 0},
		{429, "0", 0},
		{503, now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{429, "999999999", webhook.MaxRetryAfter},
	}
	for _, c := range cases {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			if c.after != "" {
				w.Header().Set("Retry-After", c.after)
			}
			w.WriteHeader(c.code)
		})
		e := newEndpoint(t, rc.srv.URL, func(o *webhook.Options) { o.Now = func() time.Time { return now } })
		out := e.Handle(context.Background(), testEvent(), 1)
		if out.Status != dispatch.Retry || out.Delay != c.delay {
			t.Errorf("%d Retry-After %q: %+v, want Retry with delay %v", c.code, c.after, out, c.delay)
		}
	}
}

func TestClientErrorsReject(t *testing.T) {
	for _, code := range []int{400, 401, 404, 422, 301} {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
			if code == 301 {
				w.Header().Set("Location", "http://169.254.169.254/")
			}
			http.Error(w, "no such tenant", code)
		})
		out := newEndpoint(t, rc.srv.URL, nil).Handle(context.Background(), testEvent(), 1)
		want := "HTTP " + itoa(int64(code)) + ": no such tenant"
		if out.Status != dispatch.Reject || !strings.HasPrefix(out.Reason, want) {
			t.Errorf("%d: %+v, want Reject %q", code, out, want)
		}
		if code == 301 && (!strings.Contains(out.Reason, "not followed") || len(rc.requests()) != 1) {
			t.Errorf("redirect: %+v", out)
		}
	}
	for _, code := range []int{408, 500, 502, 504} {
		rc := newReceiver(t, func(w http.ResponseWriter, _ *http.Request, _ int) { w.WriteHeader(code) })
		if out := newEndpoint(t, rc.srv.URL, nil).Handle(context.Background(), testEvent(), 1); out.Status != dispatch.Retry {
			t.Errorf("%d: %+v, want Retry", code, out)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	keys, _ := webhook.ParseSecrets(secret1)
	for _, o := range []webhook.Options{
		{Name: "a", URL: "ftp://x/", Secrets: keys},
		{Name: "a", URL: "/relative", Secrets: keys},
		{Name: "a", URL: "http://x/"},
		{Name: "a", URL: "http://x/", Secrets: keys, Headers: map[string]string{"Webhook-Id": "x"}},
		{Name: "a", URL: "http://x/", Secrets: keys, Headers: map[string]string{"content-type": "x"}},
	} {
		if _, err := webhook.New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}
