package bus

import (
	"time"

	"github.com/evhost/evhost/host/event"
)

// UseBackoff, as the delay of Delivery.Nak, lets the subscription's Backoff
// choose the delay for the attempt that failed. Any negative delay means
// the same.
const UseBackoff time.Duration = -1

// Delivery is one delivery of an event to a subscription: one attempt. The
// consumer settles it exactly once, with Ack, Nak or Term; a second
// settlement, or one after the bus settled it itself because its ack wait
// expired, returns ErrSettled and changes nothing.
//
// A Delivery is a small value (a handle); copies refer to the same
// delivery. Its methods may be called from any goroutine. The zero Delivery
// is settled already.
//
// Delivery is a struct rather than an interface so that an implementation
// can recycle its per-delivery state without allocating per delivery and
// still refuse a stale handle (see RATIONALE.md).
type Delivery struct {
	ev      *event.Event
	attempt int
	s       Settler
	token   uint64
}

// Settler settles the deliveries of one bus implementation; token identifies
// the delivery to it. Consumers never call a Settler: they call the methods
// of Delivery, which forward to it. Each method returns ErrSettled for a
// token that is stale (settled already, or expired).
type Settler interface {
	Ack(token uint64) error
	Nak(token uint64, delay time.Duration, reason string) error
	Term(token uint64, reason string) error
	Extend(token uint64) error
}

// NewDelivery is for bus implementations: it returns the delivery of e, on
// its attempt-th attempt (1 for the first), that s settles under token.
func NewDelivery(e *event.Event, attempt int, s Settler, token uint64) Delivery {
	return Delivery{ev: e, attempt: attempt, s: s, token: token}
}

// Event returns the delivered event. It is shared with the other
// subscriptions and must not be modified. It is nil for the zero Delivery.
func (d Delivery) Event() *event.Event { return d.ev }

// Token returns the Settler of d and the token it settles d under: for a
// bus implementation that settles many of its deliveries at once.
func (d Delivery) Token() (Settler, uint64) { return d.s, d.token }

// Attempt returns the number of this attempt: 1 for the first delivery of
// the event to the subscription, 2 for the first redelivery, and so on.
func (d Delivery) Attempt() int { return d.attempt }

// Ack settles the delivery as done: the subscription is finished with the
// event.
func (d Delivery) Ack() error {
	if d.s == nil {
		return ErrSettled
	}
	return d.s.Ack(d.token)
}

// Nak settles the delivery as a failed attempt, for reason. If the event
// has now failed the subscription's MaxAttempts attempts, the bus
// dead-letters it with reason and the attempt count before Nak returns;
// otherwise the event is delivered again after delay: at once for zero,
// after the subscription's Backoff.Delay(d.Attempt()) for a negative delay
// (UseBackoff). A redelivery is not earlier than delay, and may be later
// when the subscription's consumers are busy.
func (d Delivery) Nak(delay time.Duration, reason string) error {
	if d.s == nil {
		return ErrSettled
	}
	return d.s.Nak(d.token, delay, reason)
}

// Term settles the delivery as a failure that retrying cannot fix: the bus
// dead-letters the event with reason before Term returns, whatever the
// attempts left.
func (d Delivery) Term(reason string) error {
	if d.s == nil {
		return ErrSettled
	}
	return d.s.Term(d.token, reason)
}

// Extend tells the bus that the consumer is still working on the
// delivery: its ack wait starts again (NATS's in-progress acknowledgement),
// so it is neither redelivered nor, on its last attempt, dead-lettered
// while the consumer extends it. It settles nothing and counts no attempt.
// It returns ErrSettled for a delivery settled or expired already.
func (d Delivery) Extend() error {
	if d.s == nil {
		return ErrSettled
	}
	return d.s.Extend(d.token)
}
