package membus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/event"
)

func delayed(id string, at time.Time) *event.Event {
	e := &event.Event{ID: id, Source: "/t", Type: "d", SpecVersion: event.SpecVersion}
	e.SetExt(event.ExtDeliverAt, at.UTC().Format(time.RFC3339Nano))
	return e
}

// The memory bus holds a delayed event in the process until its time,
// delivers it once (a duplicate schedules nothing), and bounds how many it
// holds and how far ahead.
func TestDelayed(t *testing.T) {
	b := membus.New(membus.Options{MaxDelayed: 2, MaxDelay: time.Hour})
	defer b.Close(context.Background())
	ctx := t.Context()
	s, err := b.Subscribe(ctx, bus.Subscription{Name: "s", Patterns: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(300 * time.Millisecond)
	if _, err := b.Publish(ctx, delayed("a", at)); err != nil {
		t.Fatal(err)
	}
	if ack, err := b.Publish(ctx, delayed("a", at)); err != nil || !ack.Duplicate {
		t.Fatalf("again: %+v %v; want a duplicate", ack, err)
	}
	if _, err := b.Publish(ctx, delayed("b", time.Now().Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	_, err = b.Publish(ctx, delayed("c", time.Now().Add(time.Minute)))
	if !errors.Is(err, bus.ErrBackpressure) {
		t.Fatalf("a third delayed event with MaxDelayed 2: %v", err)
	}
	if _, err := b.Publish(ctx, delayed("d", time.Now().Add(2*time.Hour))); !errors.Is(err, bus.ErrInvalidEvent) {
		t.Fatalf("2h ahead with MaxDelay 1h: %v", err)
	}
	if n := b.Delayed(); n != 2 {
		t.Fatalf("Delayed = %d; want 2", n)
	}
	d, err := s.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); d.Event().ID != "a" || now.Before(at) || now.Sub(at) > 200*time.Millisecond {
		t.Errorf("delivered %s at %v from its time", d.Event().ID, time.Since(at))
	}
	d.Ack()
	nctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if d, err := s.Next(nctx); err == nil {
		t.Errorf("a second delivery: %s", d.Event().ID)
	}
	if n := b.Delayed(); n != 1 {
		t.Errorf("Delayed = %d; want 1", n)
	}
}
