package natsbus_test

import (
	"context"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
)

// Backlog finds each subscription's oldest unsettled event through its
// filter subjects (events of other types published before it do not
// count), moves it on when the event is settled, and reports the
// journal's retention.
func TestBacklog(t *testing.T) {
	opts := embedded(t)
	opts.MaxAge = time.Hour
	b := open(t, opts)
	defer closeBus(t, b)
	s := subscribe(t, b, bus.Subscription{Name: "slow", Patterns: []string{"back.a", "back.c.*"}})
	subscribe(t, b, bus.Subscription{Name: "idle", Patterns: []string{"back.none"}})
	publish(t, b, newEvent("back.b"))
	before := time.Now()
	first := publish(t, b, newEvent("back.c.x"))
	second := publish(t, b, newEvent("back.a"))
	publish(t, b, newEvent("back.b"))
	ctx := context.Background()

	r, err := b.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	old, ok := r.Oldest["slow"]
	if !ok || old.Seq != first.Seq || old.Time.Before(before.Add(-time.Second)) || old.Time.After(time.Now()) {
		t.Fatalf("oldest of slow: %+v (%v), want seq %d", old, ok, first.Seq)
	}
	if _, ok := r.Oldest["idle"]; ok {
		t.Fatalf("idle holds nothing: %+v", r.Oldest)
	}
	if j := r.Journal; j.MaxAge != time.Hour || !j.DiscardOld || j.Msgs < 4 || j.LastSeq < second.Seq {
		t.Fatalf("journal: %+v", j)
	}
	if w := r.Warning("slow", time.Now()); w != "" {
		t.Fatalf("a fresh backlog warns: %s", w)
	}
	if w := r.Warning("slow", old.Time.Add(50*time.Minute)); w == "" {
		t.Fatal("no warning 50 minutes into a max age of an hour")
	}

	receive(t, s, 1) // the first, acknowledged
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := b.Backlog(ctx) // a new report every 2s
		if err != nil {
			t.Fatal(err)
		}
		if r.Oldest["slow"].Seq == second.Seq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("oldest of slow after an ack: %+v, want seq %d", r.Oldest["slow"], second.Seq)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
