package host

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// NativeFunc is a handler written in Go. It may call emit to publish
// follow-up events (published only if it returns nil). Its error decides
// the outcome: nil is done, an error made with Reject dead-letters the
// event now, any other error retries it with backoff.
type NativeFunc func(ctx context.Context, ev *event.Event, emit func(*event.Event)) error

// Reject wraps err so that a NativeFunc returning it dead-letters its
// event at once: retrying would not help.
func Reject(err error) error { return &rejectError{err} }

type rejectError struct{ err error }

func (e *rejectError) Error() string { return e.err.Error() }
func (e *rejectError) Unwrap() error { return e.err }

type nativeHandler struct {
	name     string
	fn       NativeFunc
	maxDepth int
}

// Handle implements dispatch.Handler.
func (n *nativeHandler) Handle(ctx context.Context, ev *event.Event, _ int) dispatch.Outcome {
	var emits []*event.Event
	depthErr := ""
	// The emits' time is read at the first emit, not at every run: most
	// runs emit nothing, and a clock reading is a visible share of a small
	// handler's run on these VMs.
	var now time.Time
	err := n.fn(ctx, ev, func(e *event.Event) {
		if d := event.ChildDepth(ev); d > n.maxDepth {
			depthErr = fmt.Sprintf("depth limit exceeded: emitting %q at depth %d, limit %d", e.Type, d, n.maxDepth)
			return
		}
		if now.IsZero() {
			now = time.Now().UTC()
		}
		event.StampChild(e, ev, "evhost://go/"+n.name, n.name, len(emits), now)
		emits = append(emits, e)
	})
	var rej *rejectError
	switch {
	case depthErr != "":
		return dispatch.Outcome{Status: dispatch.Reject, Reason: depthErr}
	case err == nil:
		return dispatch.Outcome{Status: dispatch.Done, Emits: emits}
	case errors.As(err, &rej):
		return dispatch.Outcome{Status: dispatch.Reject, Reason: err.Error()}
	default:
		return dispatch.Outcome{Status: dispatch.Retry, Reason: err.Error()}
	}
}
