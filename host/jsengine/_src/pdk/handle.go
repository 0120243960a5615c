package pdk

import (
	"errors"
	"fmt"
	"runtime/debug"
)

// ABIVersion is the version of the evhost plugin ABI that this PDK
// implements; the module's evhost_abi_version export returns it.
const ABIVersion = 1

// A Handler handles one event. It returns nil when the event is done (the
// host acknowledges it and publishes what the handler emitted), an error
// made with Reject when the event must not be retried (dead-letter now), or
// any other error to have it retried with backoff (as with Retry). The error
// text becomes the failure reason kept with the retry or dead-letter record.
//
// Calls are sequential: an instance of the plugin runs one handler call at a
// time, and the host may run many instances side by side, so package-level
// state is per instance, not shared, and not durable (use KVSet for that).
type Handler func(e *Event) error

var handler Handler

// Handle registers h as the plugin's handler. Call it from an init function
// of package main: a reactor module runs package initialisers when the host
// instantiates it, but never calls main. The last registration wins.
func Handle(h Handler) {
	handler = h
}

// Status is the value evhost_handle returns to the host (ABI section 5).
type Status int32

// The statuses of ABI v1.
const (
	StatusDone   Status = 0 // acknowledge; emitted events are published
	StatusRetry  Status = 1 // failed; retry with backoff up to the attempt limit
	StatusReject Status = 2 // failed; dead-letter now, do not retry
)

// String returns "done", "retry", "reject" or "status(N)".
func (s Status) String() string {
	switch s {
	case StatusDone:
		return "done"
	case StatusRetry:
		return "retry"
	case StatusReject:
		return "reject"
	}
	return fmt.Sprintf("status(%d)", int32(s))
}

// outcome marks an error with the status a handler returning it gets.
type outcome struct {
	status Status
	err    error
}

func (o *outcome) Error() string { return o.err.Error() }
func (o *outcome) Unwrap() error { return o.err }

// Retry marks err as temporary: a handler returning it fails with status
// 1, the host retries the event with backoff. Returning an unmarked error
// has the same effect; Retry documents the intent and overrides a Reject
// that err wraps. Retry(nil) is an error too, with a generic reason.
func Retry(err error) error {
	if err == nil {
		err = errors.New("retry requested")
	}
	return &outcome{status: StatusRetry, err: err}
}

// Reject marks err as permanent: a handler returning it fails with status
// 2, the host dead-letters the event at once. Use it when the event itself
// is bad (undecodable, invalid), since a retry would fail the same way.
// Reject(nil) is an error too, with a generic reason.
func Reject(err error) error {
	if err == nil {
		err = errors.New("rejected")
	}
	return &outcome{status: StatusReject, err: err}
}

// Retryf is Retry(fmt.Errorf(format, args...)).
func Retryf(format string, args ...any) error {
	return Retry(fmt.Errorf(format, args...))
}

// Rejectf is Reject(fmt.Errorf(format, args...)).
func Rejectf(format string, args ...any) error {
	return Reject(fmt.Errorf(format, args...))
}

// StatusOf returns the status a handler returning err gets: StatusDone for
// nil, the status of the outermost Retry or Reject that err wraps, and
// StatusRetry for any other error.
func StatusOf(err error) Status {
	if err == nil {
		return StatusDone
	}
	var o *outcome
	if errors.As(err, &o) {
		return o.status
	}
	return StatusRetry
}

// current is the event being handled, reused from call to call.
var current Event

// dispatch is the body of evhost_handle for both the WebAssembly export and
// the native harness: decode env into the reused current event, run h (the
// registered handler when nil), report the failure reason with fail, and
// return the status. The event's strings and Data alias env, which must not
// change until dispatch returns.
func dispatch(h Handler, env []byte) (st Status) {
	if h == nil {
		h = handler
	}
	if h == nil {
		hostFail("pdk: no handler registered: call pdk.Handle from an init function of package main")
		return StatusRetry
	}
	if err := decode(&current, env); err != nil {
		hostFail("pdk: cannot decode the event: " + err.Error())
		return StatusReject
	}
	// A panic in h becomes a failure with status 1: the Go runtime unwinds
	// cleanly, so the instance stays usable. The deferred function calls
	// recover only when h did not return (recover is a runtime call, and
	// the deferred function runs for every event).
	returned := false
	defer func() {
		current.Data = nil // do not pin the event block
		if !returned {
			if r := recover(); r != nil {
				st = handlerPanicked(r)
			}
		}
	}()
	err := h(&current)
	returned = true
	if err == nil {
		return StatusDone
	}
	hostFail(err.Error())
	return StatusOf(err)
}

// handlerPanicked reports a handler's panic with the value r: the reason
// for fail, the stack as an error log line.
func handlerPanicked(r any) Status {
	reason := fmt.Sprintf("pdk: handler panicked: %v", r)
	hostLog(LevelError, reason+"\n"+string(debug.Stack()))
	hostFail(reason)
	return StatusRetry
}
