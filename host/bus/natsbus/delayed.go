package natsbus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// A delayed event (its deliverat extension in the future) is a JetStream
// message schedule (nats-server 2.12 and later, ADR-51): the event's
// message, stored on <prefix>.delayed.<msg id> with the headers
// Nats-Schedule "@at <deliverat>" and Nats-Schedule-Target
// <prefix>.events.<type>. At that time the server itself stores a copy on
// the target subject, where the subscriptions find it, and in the same
// write purges the schedule: the delivery happens once, on the server,
// whichever daemons run, and a schedule survives restarts as any stored
// message does. The schedule's Nats-Msg-Id is the event's, so a producer's
// retry within the dedup window schedules nothing twice. See RATIONALE.md,
// "Why the broker's message schedules for delayed events?".

// Headers of a message schedule.
const (
	hdrSchedule       = "Nats-Schedule"
	hdrScheduleTarget = "Nats-Schedule-Target"
)

// delayedRefresh is how often, at most, the count of waiting delayed
// events is read from the server.
const delayedRefresh = 2 * time.Second

// delayedCount estimates the delayed events waiting on the server: the
// count read at most every delayedRefresh, plus what this process
// scheduled since. Other processes' schedules count from the next read.
type delayedCount struct {
	mu sync.Mutex
	n  int
	at time.Time
}

// delay returns when e is due, if it is a delayed event (deliverat more
// than a millisecond ahead), or the ErrInvalidEvent of a delay the bus
// refuses (see event.CheckDelay; past Options.MaxDelay).
func (b *Bus) delay(e *event.Event) (time.Time, bool, error) {
	if !event.HasDelay(e) {
		return time.Time{}, false, nil
	}
	now := time.Now()
	if err := event.CheckDelay(e, now, b.opts.MaxDelay); err != nil {
		return time.Time{}, false, fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	at, ok := event.DeliverAt(e)
	delayed := ok && at.Sub(now) > time.Millisecond
	if delayed && !b.schedules {
		return time.Time{}, false, fmt.Errorf("%w: a delayed event (deliverat %s), and the NATS server does not schedule messages (nats-server 2.12 or later does)",
			bus.ErrInvalidEvent, at.UTC().Format(time.RFC3339))
	}
	return at, delayed, nil
}

// delayedMsg counts one more delayed event, refusing it past
// Options.MaxDelayed, and returns its schedule message.
func (b *Bus) delayedMsg(ctx context.Context, e *event.Event, at time.Time) (*nats.Msg, error) {
	if err := b.reserveDelayed(ctx); err != nil {
		return nil, err
	}
	id := msgID(e.Source, e.ID)
	msg := &nats.Msg{Subject: b.delayedPrefix + id, Header: eventHeader(e, id, 2), Data: e.Data}
	msg.Header[hdrSchedule] = []string{"@at " + at.UTC().Format(time.RFC3339Nano)}
	msg.Header[hdrScheduleTarget] = []string{b.eventsPrefix + e.Type}
	return msg, nil
}

// publishDelayed stores the schedule of the delayed event e, due at at.
func (b *Bus) publishDelayed(ctx context.Context, e *event.Event, at time.Time) (bus.PubAck, error) {
	msg, err := b.delayedMsg(ctx, e, at)
	if err != nil {
		return bus.PubAck{}, err
	}
	r, err := b.publishMsg(ctx, msg)
	if err != nil {
		b.delayed.mu.Lock()
		b.delayed.n--
		b.delayed.mu.Unlock()
		return bus.PubAck{}, err
	}
	return bus.PubAck{Seq: r.seq, Duplicate: r.dup}, nil
}

// reserveDelayed counts one more delayed event, or refuses it with
// backpressure when Options.MaxDelayed are waiting.
func (b *Bus) reserveDelayed(ctx context.Context) error {
	d := &b.delayed
	d.mu.Lock()
	defer d.mu.Unlock()
	if time.Since(d.at) >= delayedRefresh {
		n, err := b.Delayed(ctx)
		if err != nil {
			return fmt.Errorf("natsbus: count the delayed events: %w", err)
		}
		d.n, d.at = n, time.Now()
	}
	if d.n >= b.opts.MaxDelayed {
		return &bus.BackpressureError{Subscription: bus.DelayedQueue, Queue: b.opts.MaxDelayed}
	}
	d.n++
	return nil
}

// Delayed returns the number of delayed events waiting on the server.
func (b *Bus) Delayed(ctx context.Context) (int, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	info, err := b.events.Info(ctx, jetstream.WithSubjectFilter(b.delayedPrefix+">"))
	if err != nil {
		return 0, err
	}
	return len(info.State.Subjects), nil
}
