package membus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Defaults of Options' delay bounds.
const (
	DefaultMaxDelay   = 30 * 24 * time.Hour
	DefaultMaxDelayed = 100_000
)

// delayedRetry is how long a delayed event that came due while a
// subscription it goes to was full waits before the next try.
const delayedRetry = time.Second

// delayedEvents are the delayed events the bus holds, each with its own
// timer: in this process only, lost when it stops, as everything the
// memory bus holds. Guarded by the bus's pubMu.
type delayedEvents struct {
	maxDelay time.Duration
	max      int
	timers   map[*heldEvent]struct{}
}

// heldEvent is one delayed event and its timer (set under pubMu).
type heldEvent struct {
	e *event.Event
	t *time.Timer
}

func (d *delayedEvents) init(o Options) {
	d.maxDelay, d.max = o.MaxDelay, o.MaxDelayed
	if d.maxDelay <= 0 {
		d.maxDelay = DefaultMaxDelay
	}
	if d.max <= 0 {
		d.max = DefaultMaxDelayed
	}
	d.timers = map[*heldEvent]struct{}{}
}

// stop drops every delayed event; b.pubMu is held.
func (d *delayedEvents) stop() {
	for h := range d.timers {
		h.t.Stop()
	}
	clear(d.timers)
}

// delay returns when e is due, if it is a delayed event (deliverat more
// than a millisecond ahead), or the ErrInvalidEvent of a delay the bus
// refuses.
func (b *Bus) delay(e *event.Event) (time.Time, bool, error) {
	if !event.HasDelay(e) {
		return time.Time{}, false, nil
	}
	now := time.Now()
	if err := event.CheckDelay(e, now, b.delayed.maxDelay); err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	at, ok := event.DeliverAt(e)
	return at, ok && at.Sub(now) > time.Millisecond, nil
}

// hold keeps e until at, then enqueues it; b.pubMu is held.
func (b *Bus) hold(e *event.Event, at time.Time) error {
	d := &b.delayed
	if len(d.timers) >= d.max {
		return &bus.BackpressureError{Subscription: bus.DelayedQueue, Queue: d.max}
	}
	h := &heldEvent{e: e}
	h.t = time.AfterFunc(time.Until(at), func() { b.due(h) })
	d.timers[h] = struct{}{}
	return nil
}

// due enqueues the delayed event h whose timer fired; a full subscription
// makes it wait delayedRetry and try again.
func (b *Bus) due(h *heldEvent) {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if _, ok := b.delayed.timers[h]; !ok || b.closed.Load() {
		return
	}
	err := b.enqueueLocked(h.e)
	if errors.Is(err, bus.ErrBackpressure) {
		b.log.Warn("membus: a delayed event came due for a full subscription; trying again",
			slog.String("id", h.e.ID), slog.Any("error", err))
		h.t.Reset(delayedRetry)
		return
	}
	delete(b.delayed.timers, h)
}

// Delayed returns the number of delayed events the bus holds.
func (b *Bus) Delayed() int {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	return len(b.delayed.timers)
}
