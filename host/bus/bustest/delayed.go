package bustest

import (
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// testDelayed: an event whose deliverat is ahead is accepted at once and
// delivered at its time, once, after the events published meanwhile; a
// copy is a duplicate; a deliverat in the past is no delay; a malformed
// one is an invalid event.
func testDelayed(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "delayed", Patterns: []string{"order.later"}})
	due := time.Now().Add(800 * time.Millisecond)
	later := newEvent("order.later")
	later.SetExt(event.ExtDeliverAt, due.UTC().Format(time.RFC3339Nano))
	if ack := h.publish(later); ack.Duplicate {
		h.t.Fatal("a delayed event reported as a duplicate")
	}
	if ack := h.publish(later.Clone()); !ack.Duplicate {
		h.t.Error("a delayed event published again was not a duplicate")
	}
	past := newEvent("order.later")
	past.SetExt(event.ExtDeliverAt, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano))
	h.publish(past)
	c.expect(past)
	d := c.next()
	if now := time.Now(); d.Event().ID != later.ID || now.Before(due) || now.Sub(due) > 1500*time.Millisecond {
		h.t.Errorf("got %s %v after its time; want %s, within a second and a half", d.Event().ID, now.Sub(due), later.ID)
	}
	if err := d.Ack(); err != nil {
		h.t.Fatal(err)
	}
	c.drained()
	bad := newEvent("order.later")
	bad.SetExt(event.ExtDeliverAt, "next tuesday")
	_, err := h.b.Publish(h.ctx(), bad)
	h.wantErr("Publish with a malformed deliverat", err, bus.ErrInvalidEvent)
}
