package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Sentinel errors classify every problem that Load, Parse and Validate report.
// Test for them with errors.Is on the returned error (an ErrorList or an
// *Error); the message itself says more.
var (
	// ErrSyntax marks a file that is not valid TOML.
	ErrSyntax = errors.New("config: syntax error")
	// ErrUnknownKey marks a key that the schema does not define.
	ErrUnknownKey = errors.New("config: unknown key")
	// ErrType marks a value of the wrong TOML type (a number where a string belongs).
	ErrType = errors.New("config: wrong type")
	// ErrMissing marks a required key that is absent.
	ErrMissing = errors.New("config: missing key")
	// ErrInvalid marks a value of the right type that is out of range or malformed.
	ErrInvalid = errors.New("config: invalid value")
)

// Error is one problem found in a configuration.
//
// Its message has the form
//
//	config.toml:12:3: plugins.payment.timeout: invalid duration "5x": ...
//
// File, Line and Column are zero when the problem was found by
// [Config.Validate] in a Config that was not read from a file. Line and
// Column count from 1; Column counts bytes, as Go's own tools do.
type Error struct {
	File   string // the name given to Load or Parse
	Line   int    // 1-based line, 0 when unknown
	Column int    // 1-based byte column, 0 when unknown
	Path   string // the key path, such as plugins.payment.timeout or webhooks[1].url; empty for syntax errors
	Err    error  // what is wrong; wraps one of the sentinel errors
}

// Error returns the problem as one line: file:line:column: path: message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Column)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error, so that errors.Is finds the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in one configuration, sorted by position
// (problems without a position keep the order they were found in).
// Load, Parse and Validate return a non-empty ErrorList as their error.
type ErrorList []*Error

// Error returns the problems one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.Is and errors.As look at each.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// sortErrors orders l by line and column, stably.
func sortErrors(l ErrorList) {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}

// problem is the message of an Error together with the sentinel that
// classifies it and, optionally, the error that caused it.
type problem struct {
	kind  error
	msg   string
	cause error
	alt   string // for a problem between two keys: the path of the other one
	onKey bool   // the key's name is the problem, not its value
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.cause == nil {
		return []error{p.kind}
	}
	return []error{p.kind, p.cause}
}

// newProblem formats a message classified by kind (one of the sentinels).
func newProblem(kind error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// wrapProblem is newProblem for a message that ends with cause.
func wrapProblem(kind, cause error, format string, args ...any) error {
	return &problem{kind: kind, msg: fmt.Sprintf(format, args...) + ": " + cause.Error(), cause: cause}
}
