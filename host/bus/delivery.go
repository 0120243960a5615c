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

// BatchAcker is implemented by a Settler that can settle many of its
// deliveries as done at once, cheaper than one by one (the memory bus:
// one take of the subscription's lock).
type BatchAcker interface {
	// AckBatch acks each of tokens, setting errs[i] to what
	// Ack(tokens[i]) would have returned.
	AckBatch(tokens []uint64, errs []error)
}

// AckAll acks every delivery of dls and sets errs[i] (len(errs) >=
// len(dls)) to the error of dls[i]'s ack: 16 at a time when they share one
// Settler that is a BatchAcker, else one by one.
func AckAll(dls []Delivery, errs []error) {
	if len(dls) == 0 {
		return
	}
	ba, ok := dls[0].s.(BatchAcker)
	if !ok || !sameSettler(dls) {
		for i, d := range dls {
			errs[i] = d.Ack()
		}
		return
	}
	var tokens [16]uint64 // small: it is zeroed at every call
	for len(dls) > 0 {
		n := min(len(dls), len(tokens))
		for i := range n {
			tokens[i] = dls[i].token
		}
		ba.AckBatch(tokens[:n], errs[:n])
		dls, errs = dls[n:], errs[n:]
	}
}

// sameSettler reports whether every delivery of dls has the Settler of
// the first.
func sameSettler(dls []Delivery) bool {
	for _, d := range dls[1:] {
		if d.s != dls[0].s {
			return false
		}
	}
	return true
}

// NewDelivery is for bus implementations: it returns the delivery of e, on
// its attempt-th attempt (1 for the first), that s settles under token.
func NewDelivery(e *event.Event, attempt int, s Settler, token uint64) Delivery {
	return Delivery{ev: e, attempt: attempt, s: s, token: token}
}

// Event returns the delivered event. It is shared with the other
// subscriptions and must not be modified. It is nil for the zero Delivery.
func (d Delivery) Event() *event.Event { return d.ev }

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
