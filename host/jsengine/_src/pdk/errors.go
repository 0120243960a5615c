package pdk

import (
	"errors"
	"fmt"

	"github.com/evhost/evhost/plugins/pdk/internal/envelope"
)

// Errors that the host functions return, one per ABI error code (section 6).
// Errors returned by this package wrap one of them; test with errors.Is.
var (
	// ErrNotFound is code -1: no configuration value or KV entry for the key.
	ErrNotFound = errors.New("pdk: not found")
	// ErrMalformed is code -2: bad encoding, missing event type, invalid
	// name or KV key. Local encoding errors wrap it too.
	ErrMalformed = envelope.ErrMalformed
	// ErrNotPermitted is code -3: capability not granted, host not on the
	// allow-list, event type not allowed, or emit outside a handler call.
	ErrNotPermitted = errors.New("pdk: not permitted")
	// ErrLimit is code -4: emits per event, value size, request size or
	// event depth exceeded. An emit refused with ErrLimit makes the host
	// dead-letter the event whatever the handler returns.
	ErrLimit = errors.New("pdk: limit exceeded")
	// ErrTransient is code -5: the KV store or the remote host failed; the
	// operation may succeed later (return it, or Retry(err), to be retried).
	ErrTransient = errors.New("pdk: transient failure")
)

// HostError is a negative result of a host function. It unwraps to the
// sentinel error of its code (ErrNotFound ... ErrTransient), or to nothing
// for a code this version of the PDK does not know.
type HostError struct {
	Op   string // the host function: "emit", "kv_get", ...
	Code int32  // the ABI error code, -1 to -5
}

// Error returns "pdk: <op>: <meaning> (<code>)".
func (e *HostError) Error() string {
	if s := e.Unwrap(); s != nil {
		return fmt.Sprintf("pdk: %s: %s (%d)", e.Op, s.Error()[len("pdk: "):], e.Code)
	}
	return fmt.Sprintf("pdk: %s: host error %d", e.Op, e.Code)
}

// Unwrap returns the sentinel error of e.Code.
func (e *HostError) Unwrap() error {
	switch e.Code {
	case -1:
		return ErrNotFound
	case -2:
		return ErrMalformed
	case -3:
		return ErrNotPermitted
	case -4:
		return ErrLimit
	case -5:
		return ErrTransient
	}
	return nil
}

// hostError returns nil for code 0 and a *HostError otherwise.
func hostError(op string, code int32) error {
	if code == 0 {
		return nil
	}
	return &HostError{Op: op, Code: code}
}
