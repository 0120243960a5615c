package webhook_test

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/webhook"
)

// Through a dispatcher: a 429 with Retry-After: 1 is retried no earlier
// than a second later, although the subscription's backoff is 1ms; a 404
// is dead-lettered at once with its status.
func TestRetryAfterThroughDispatcher(t *testing.T) {
	var mu sync.Mutex
	var times []time.Time
	second := make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.Header.Get(webhook.HeaderID) == "gone-missing" {
			http.Error(w, "unknown", http.StatusNotFound)
			return
		}
		mu.Lock()
		times = append(times, time.Now())
		k := len(times)
		mu.Unlock()
		if k == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusOK)
		if k == 2 {
			close(second)
		}
	})
	b := membus.New(membus.Options{})
	d := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		d.Close(context.Background())
		b.Close(context.Background())
	})
	e := newEndpoint(t, rc.srv.URL, nil)
	err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "crm", Patterns: []string{"user.created"}, MaxAttempts: 3,
		Backoff: bus.Backoff{Initial: time.Millisecond}, Handler: e,
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"evt-1", "gone-missing"} {
		ev := testEvent()
		ev.ID = id
		if _, err := b.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-second:
	case <-time.After(20 * time.Second):
		t.Fatal("no second attempt")
	}
	mu.Lock()
	gap := times[1].Sub(times[0])
	mu.Unlock()
	if gap < time.Second {
		t.Fatalf("retried after %v, want at least the Retry-After of 1s", gap)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		dls, err := b.DeadLetters(context.Background(), bus.DeadLetterFilter{Subscription: "crm"})
		if err != nil {
			t.Fatal(err)
		}
		if len(dls) == 1 {
			if dls[0].Event.ID != "gone-missing" || !dls[0].Terminated || dls[0].Reason != "HTTP 404: unknown" {
				t.Fatalf("dead letter %+v", dls[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want 1", len(dls))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
