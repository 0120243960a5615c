package bus

import (
	"errors"
	"strconv"
)

// Sentinel errors. Implementations wrap them with context (a package prefix,
// the subscription's name) and callers test them with errors.Is.
var (
	// ErrClosed is returned by every operation on a closed bus, and by
	// Next and Fetch on a closed Subscriber or one whose subscription was
	// deleted.
	ErrClosed = errors.New("bus: closed")
	// ErrBackpressure means that an event was refused because a
	// subscription it would go to is full. Nothing was enqueued; the
	// producer may retry the same event later. The error is a
	// *BackpressureError naming the subscription.
	ErrBackpressure = errors.New("bus: subscription queue full")
	// ErrSettled is returned when a delivery is settled a second time, or
	// after the bus settled it itself because its ack wait expired.
	ErrSettled = errors.New("bus: delivery already settled")
	// ErrNotFound is returned for a subscription or a dead letter that
	// does not exist.
	ErrNotFound = errors.New("bus: not found")
	// ErrInvalidEvent is wrapped by Publish's refusal of an event that is
	// not valid (event.Validate) or whose type cannot be a subject
	// (event.ValidType).
	ErrInvalidEvent = errors.New("bus: invalid event")
	// ErrInvalidSubscription is wrapped by Subscribe's refusal of a
	// Subscription that fails Validate.
	ErrInvalidSubscription = errors.New("bus: invalid subscription")
	// ErrUnavailable is wrapped by the failure of a durable bus that cannot
	// take or confirm an event for now: its broker is unreachable, elects
	// a leader, or did not answer in time. The event may or may not have
	// been stored; publishing it again is safe (a stored copy is reported
	// as a duplicate within the dedup window). Retry later.
	ErrUnavailable = errors.New("bus: broker unavailable")
)

// DelayedQueue is the Subscription of the BackpressureError of a delayed
// event refused because the bus holds as many delayed events as it may.
const DelayedQueue = "(delayed events)"

// BackpressureError is the error of an event refused because the queue of
// Subscription holds Queue unsettled events already. errors.Is(err,
// ErrBackpressure) is true for it.
type BackpressureError struct {
	Subscription string
	Queue        int
}

func (e *BackpressureError) Error() string {
	return "bus: subscription " + strconv.Quote(e.Subscription) + " is full (" +
		strconv.Itoa(e.Queue) + " unsettled events); retry later"
}

// Unwrap returns ErrBackpressure.
func (e *BackpressureError) Unwrap() error { return ErrBackpressure }
