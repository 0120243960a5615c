package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
)

// syncBuffer is a bytes.Buffer safe for the receiver's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The example's config.toml drives a host that delivers user.created to
// this receiver: the first attempt fails on purpose (-fail 1), the retry
// is verified and printed once.
func TestExample(t *testing.T) {
	var out syncBuffer
	rc, err := newReceiver(demoSecret, false, 1, &out)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /hooks/evhost", rc)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 || cfg.Webhooks[0].URL != "http://127.0.0.1:9090/hooks/evhost" || cfg.Webhooks[0].Secret.Value() != demoSecret {
		t.Fatalf("config.toml's webhook: %+v", cfg.Webhooks)
	}
	cfg.Webhooks[0].URL = srv.URL + "/hooks/evhost"
	cfg.Webhooks[0].Backoff = 10 * time.Millisecond
	cfg.Host.ResolvedDataDir = t.TempDir()
	h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Bus: membus.New(membus.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := &event.Event{Type: "user.created", ID: "user-42", Source: "/signup", DataContentType: "application/json", Data: []byte(`{"name":"Ada"}`)}
	if _, err := h.Publish(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	want := `user.created user-42 from /signup (attempt 2, tenant example): {"name":"Ada"}` + "\n"
	for deadline := time.Now().Add(time.Minute); out.String() != want; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("receiver printed %q, want %q", out.String(), want)
		}
	}
}

// A request without a valid signature is refused.
func TestForgedRefused(t *testing.T) {
	rc, err := newReceiver(demoSecret, false, 0, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/hooks/evhost", strings.NewReader(`{"id":"x"}`))
	req.Header.Set("webhook-id", "x")
	req.Header.Set("webhook-timestamp", "1700000000")
	req.Header.Set("webhook-signature", "v1,Zm9yZ2Vk")
	rec := httptest.NewRecorder()
	rc.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("forged request: %d %s", rec.Code, rec.Body)
	}
}
