package instrument

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed is wrapped by every error about input that is not a valid
	// WebAssembly binary: bad magic, truncated or overlong integers, sections
	// out of order, sizes that run past their section, a function body
	// without its final end.
	ErrMalformed = errors.New("malformed module")

	// ErrUnsupported is wrapped by errors about input that may be valid but
	// uses an encoding this package does not know: an unknown opcode, section
	// id or type form (for example the GC proposal's recursive types).
	ErrUnsupported = errors.New("unsupported module")

	// ErrLimit is wrapped by errors about a module that is well formed but
	// too large: a defined memory whose initial size exceeds
	// Options.MaxMemoryPages (less what the tables take), tables whose
	// initial sizes add up to more than Options.MaxTableElements, or a
	// function with more than MaxLocals locals.
	ErrLimit = errors.New("module exceeds a limit")

	// ErrOptions is wrapped by errors about invalid Options.
	ErrOptions = errors.New("invalid options")
)

// Error describes why a module could not be rewritten. It wraps one of
// ErrMalformed, ErrUnsupported, ErrLimit or ErrOptions.
type Error struct {
	// Offset is the byte offset in the input where the problem was found,
	// or -1 when the problem is not tied to one place.
	Offset int
	// Func is the index of the function, in the input module's function
	// index space, whose body holds the problem, or -1.
	Func int64
	// Msg says what was wrong.
	Msg string
	// Kind is the sentinel error that Unwrap returns.
	Kind error
}

// Error returns a message of the form
// "instrument: function 7: unknown opcode 0xfd 0x120 at offset 0x4f2 (unsupported module)".
func (e *Error) Error() string {
	s := "instrument: "
	if e.Func >= 0 {
		s += fmt.Sprintf("function %d: ", e.Func)
	}
	s += e.Msg
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset 0x%x", e.Offset)
	}
	return s + " (" + e.Kind.Error() + ")"
}

// Unwrap returns the sentinel error that classifies e.
func (e *Error) Unwrap() error { return e.Kind }

// newError returns an *Error of the given kind at offset off.
func newError(kind error, off int, format string, args ...any) *Error {
	return &Error{Offset: off, Func: -1, Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// malformed returns an *Error wrapping ErrMalformed.
func malformed(off int, format string, args ...any) error {
	return newError(ErrMalformed, off, format, args...)
}

// unsupported returns an *Error wrapping ErrUnsupported.
func unsupported(off int, format string, args ...any) error {
	return newError(ErrUnsupported, off, format, args...)
}

// inFunc records the function index in err if it is an *Error.
func inFunc(err error, fn uint32) error {
	var e *Error
	if errors.As(err, &e) && e.Func < 0 {
		e.Func = int64(fn)
	}
	return err
}
