package dispatch

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/outcome"
)

// Status is what a handler asks the dispatcher to do with an event: the
// enum the wasm runtime returns too.
type Status = outcome.Status

// Statuses of an Outcome.
const (
	// Done: the event is handled; its emits are published, then it is
	// acknowledged.
	Done = outcome.Done
	// Retry: the attempt failed; redeliver after the outcome's Delay, or
	// the subscription's backoff when it has none, up to its max
	// attempts, then dead-letter.
	Retry = outcome.Retry
	// Reject: the event can never be handled; dead-letter it now.
	Reject = outcome.Reject
)

// Outcome is the result of one handler call.
type Outcome struct {
	Status Status
	// Reason says why the call failed; it is kept with the retry and the
	// dead letter.
	Reason string
	// Emits are the events to publish if Status is Done, with their
	// host-owned attributes filled in (see event.StampChild).
	Emits []*event.Event
	// Delay, when positive, replaces the subscription's backoff before the
	// redelivery of a Retry (a webhook receiver's Retry-After). It is
	// ignored for other statuses.
	Delay time.Duration
}

// Handler handles one delivery's event. ctx is cancelled when the
// dispatcher stops hard. A Handler is called from many goroutines at once,
// up to its subscription's concurrency.
type Handler interface {
	Handle(ctx context.Context, ev *event.Event, attempt int) Outcome
}

// HandlerFunc adapts a function to a Handler.
type HandlerFunc func(ctx context.Context, ev *event.Event, attempt int) Outcome

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, ev *event.Event, attempt int) Outcome {
	return f(ctx, ev, attempt)
}

// Middleware wraps the Handler of a route (watermill's router middleware,
// for evhost's deliveries): tracing is attached to every route this way.
// It is called again when a route's handler is swapped; it must not keep
// r, which the dispatcher owns.
type Middleware func(r *Route, next Handler) Handler

// Recover turns a panic of the handler into a Retry outcome, so that a bug
// in a native handler fails its event, not the process.
func Recover(next Handler) Handler {
	return HandlerFunc(func(ctx context.Context, ev *event.Event, attempt int) (out Outcome) {
		defer func() {
			if r := recover(); r != nil {
				out = Outcome{Status: Retry, Reason: fmt.Sprintf("handler panicked: %v\n%s", r, debug.Stack())}
			}
		}()
		return next.Handle(ctx, ev, attempt)
	})
}
