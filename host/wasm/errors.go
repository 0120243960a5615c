package wasm

import (
	"errors"
	"fmt"
)

// Errors returned by Load (wrapped in a *LoadError) and by calls.
var (
	// ErrInvalidModule is wrapped by every load-time refusal.
	ErrInvalidModule = errors.New("wasm: invalid plugin module")
	// ErrTimeout means the call ran past its deadline and was stopped.
	ErrTimeout = errors.New("wasm: call timed out")
	// ErrCanceled means the caller's context ended during the call.
	ErrCanceled = errors.New("wasm: call canceled")
	// ErrGuestFault means the guest broke the ABI (for example an
	// evhost_alloc result outside its memory).
	ErrGuestFault = errors.New("wasm: guest fault")
	// ErrClosed is returned by calls on a closed plugin or runtime.
	ErrClosed = errors.New("wasm: plugin closed")
)

// LoadError is a load-time refusal of a plugin module.
type LoadError struct {
	Plugin string // plugin name
	Reason string
	Err    error // underlying cause, if any

	abi int32 // the ABI version a reactor said it speaks, when that is the reason
}

func (e *LoadError) Error() string {
	msg := "wasm: plugin " + quote(e.Plugin) + " refused: " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match ErrInvalidModule and the cause.
func (e *LoadError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrInvalidModule, e.Err}
	}
	return []error{ErrInvalidModule}
}

func refuse(plugin string, err error, format string, args ...any) error {
	return &LoadError{Plugin: plugin, Reason: fmt.Sprintf(format, args...), Err: err}
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
