package natsbus_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// delayedEvent returns an event due at at.
func delayedEvent(typ string, at time.Time) *event.Event {
	e := newEvent(typ)
	e.SetExt(event.ExtDeliverAt, at.UTC().Format(time.RFC3339Nano))
	return e
}

// Delayed events are held by the server and delivered once each, at their
// time, across a restart of the bus in the middle: 100 events due 1 to 10
// seconds ahead, the bus closed after 4 seconds and opened again 2 seconds
// later on the same store. Each is delivered once; none before its time,
// and none more than a second after its time or the reopening, whichever
// is later.
func TestDelayedSurviveRestartOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 11 seconds")
	}
	opts := embedded(t)
	b := open(t, opts)
	ctx := t.Context()
	sub := bus.Subscription{Name: "delayed", Patterns: []string{"delay.test"}}
	if _, err := b.Subscribe(ctx, sub); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	due := map[string]time.Time{}
	events := make([]*event.Event, 0, 100)
	for i := range 100 {
		at := start.Add(time.Second + time.Duration(i)*90*time.Millisecond)
		e := delayedEvent("delay.test", at)
		due[e.ID] = at
		events = append(events, e)
	}
	// Half one by one, half in a batch; then all again: duplicates.
	for _, e := range events[:50] {
		if _, err := b.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.PublishBatch(ctx, events[50:], nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range events[:10] {
		if ack, err := b.Publish(ctx, e); err != nil || !ack.Duplicate {
			t.Fatalf("publishing a delayed event again: %+v, %v; want a duplicate", ack, err)
		}
	}
	if n, err := b.Delayed(ctx); err != nil || n < 80 {
		t.Fatalf("Delayed = %d, %v; want about 100", n, err)
	}

	got := map[string]int{}
	late := map[string]time.Duration{}
	var mu sync.Mutex
	consume := func(b bus.Bus, until time.Time, reopened time.Time) {
		s, err := b.Subscribe(ctx, sub)
		if err != nil {
			t.Error(err)
			return
		}
		defer s.Close()
		cctx, cancel := context.WithDeadline(ctx, until)
		defer cancel()
		for {
			d, err := s.Next(cctx)
			if err != nil {
				return
			}
			now := time.Now()
			e := d.Event()
			mu.Lock()
			got[e.ID]++
			ref := due[e.ID]
			if reopened.After(ref) {
				ref = reopened
			}
			late[e.ID] = now.Sub(ref)
			if now.Before(due[e.ID]) {
				t.Errorf("%s delivered %v before its time", e.ID, due[e.ID].Sub(now))
			}
			mu.Unlock()
			d.Ack()
		}
	}
	consume(b, start.Add(4*time.Second), start)
	closeBus(t, b)
	before := len(got)
	time.Sleep(2 * time.Second) // the bus is down: events come due meanwhile
	reopenedAt := time.Now()
	b2 := open(t, opts)
	defer closeBus(t, b2)
	consume(b2, start.Add(12*time.Second), reopenedAt)

	t.Logf("%d delivered before the restart, %d after", before, len(got)-before)
	if before < 20 || before > 40 {
		t.Errorf("%d delivered before the restart; want about 30", before)
	}
	var worst time.Duration
	for _, e := range events {
		if got[e.ID] != 1 {
			t.Errorf("%s delivered %d times", e.ID, got[e.ID])
		}
		worst = max(worst, late[e.ID])
	}
	t.Logf("latest delivery: %v after its time (or the reopening)", worst)
	if worst > time.Second {
		t.Errorf("a delivery came %v late", worst)
	}
	if n, err := b2.Delayed(ctx); err != nil || n != 0 {
		t.Errorf("Delayed = %d, %v after all came due; want 0", n, err)
	}
}

// The bus refuses a delay past MaxDelay as invalid, and delayed events
// past MaxDelayed with backpressure.
func TestDelayedBounds(t *testing.T) {
	opts := embedded(t)
	opts.MaxDelay, opts.MaxDelayed = time.Hour, 3
	b := open(t, opts)
	defer closeBus(t, b)
	ctx := t.Context()
	if _, err := b.Publish(ctx, delayedEvent("delay.bound", time.Now().Add(2*time.Hour))); !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("a delay of 2h with MaxDelay 1h: %v; want ErrInvalidEvent", err)
	}
	bad := newEvent("delay.bound")
	bad.SetExt(event.ExtDeliverAt, "tomorrow")
	if _, err := b.Publish(ctx, bad); !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("deliverat %q: %v; want ErrInvalidEvent", "tomorrow", err)
	}
	for i := range 3 {
		if _, err := b.Publish(ctx, delayedEvent("delay.bound", time.Now().Add(time.Minute))); err != nil {
			t.Fatalf("delayed event %d: %v", i, err)
		}
	}
	_, err := b.Publish(ctx, delayedEvent("delay.bound", time.Now().Add(time.Minute)))
	var bp *bus.BackpressureError
	if !errors.As(err, &bp) || bp.Subscription != bus.DelayedQueue {
		t.Fatalf("a 4th delayed event with MaxDelayed 3: %v; want backpressure on %s", err, bus.DelayedQueue)
	}
	// A deliverat in the past is no delay at all.
	if _, err := b.Publish(ctx, delayedEvent("delay.bound", time.Now().Add(-time.Minute))); err != nil {
		t.Fatalf("deliverat in the past: %v", err)
	}
}
