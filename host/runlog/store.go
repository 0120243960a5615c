package runlog

import (
	"context"
	"errors"
	"time"
)

// ErrClosed is wrapped by the errors of a closed Store or Recorder.
var ErrClosed = errors.New("runlog: closed")

// DefaultListLimit is the number of records List returns when the filter
// sets no Limit.
const DefaultListLimit = 1000

// Store keeps run records. Its methods are safe for concurrent use.
type Store interface {
	// Append stores the records, in order, and sets their Seq. When it
	// returns nil they are stored (durably, for a durable store) and every
	// read that follows sees them. A record without EventID is refused
	// with ErrInvalidRecord, before any is stored; on any other error,
	// some of the records may have been stored (those whose Seq is set).
	// An empty Kind becomes KindDelivery. Append does not keep the
	// pointers recs holds once it returns (the Recorder reuses them); it
	// may keep the events of their Emits, which are never modified.
	Append(ctx context.Context, recs ...*Record) error
	// ByEvent returns the records of the event id, in append order (of
	// every subscription, attempt and kind), or none.
	ByEvent(ctx context.Context, eventID string) ([]Record, error)
	// List returns the records that f selects, in append order, from the
	// oldest kept: the delivery log. Page with f.After set to the Seq of
	// the last record of the previous page. A durable store may read every
	// record from its start point to find a subscription's: bound it with
	// After or Since.
	List(ctx context.Context, f Filter) ([]Record, error)
	// Close releases what the store holds (not the bus that keeps a
	// durable store); later calls return ErrClosed.
	Close(ctx context.Context) error
}

// Filter selects records for Store.List.
type Filter struct {
	// Subscription, if not empty, selects that subscription's records.
	Subscription string
	// After selects the records appended after the one of this Seq.
	After uint64
	// Since, if not zero, selects the records of runs that started at or
	// after it.
	Since time.Time
	// Limit caps the records returned; zero means DefaultListLimit.
	Limit int
}

// Match reports whether f selects r (Limit aside).
func (f *Filter) Match(r *Record) bool {
	return (f.Subscription == "" || r.Subscription == f.Subscription) &&
		r.Seq > f.After &&
		(f.Since.IsZero() || !r.Start.Before(f.Since))
}

// Max returns the number of records f lets List return: f.Limit, or
// DefaultListLimit when it is not positive.
func (f *Filter) Max() int {
	if f.Limit <= 0 {
		return DefaultListLimit
	}
	return f.Limit
}

// Check reports the first record of recs that cannot be stored (nil, or
// without EventID, or with a nil emit), wrapping ErrInvalidRecord; when
// there is none, it gives them their defaults (KindDelivery for an empty
// Kind). For Store implementations, before storing any.
func Check(recs []*Record) error {
	for _, r := range recs {
		if err := r.check(); err != nil {
			return err
		}
	}
	for _, r := range recs {
		r.normalize()
	}
	return nil
}
