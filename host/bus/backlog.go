package bus

import (
	"context"
	"fmt"
	"time"
)

// Backlogs is implemented by a bus that can tell, by asking its server,
// the age of each subscription's oldest unsettled event and the journal's
// retention (the NATS bus). Backlog may answer from a report a few seconds
// old, and bounds what it asks: it is meant for status requests and
// metrics scrapes.
type Backlogs interface {
	Backlog(ctx context.Context) (*Backlog, error)
}

// Backlog is a report of the subscriptions' oldest unsettled events and
// of the retention of the journal that holds them.
type Backlog struct {
	// Time is when the report was made.
	Time time.Time
	// Oldest maps each subscription that holds unsettled events (whose
	// oldest one the report found) to that event.
	Oldest map[string]OldestPending
	// Journal is the retention and the state of the journal.
	Journal Retention
}

// OldestPending is the oldest event a subscription holds unsettled.
type OldestPending struct {
	// Seq is its position in the journal; Time is when the journal
	// stored it.
	Seq  uint64
	Time time.Time
}

// Retention is the retention of the journal and what it holds.
type Retention struct {
	// MaxAge, MaxBytes and MaxMsgs are its limits (zero: none);
	// DiscardOld is true when, at a size limit, it drops its oldest
	// events (false: it refuses new ones).
	MaxAge     time.Duration
	MaxBytes   int64
	MaxMsgs    int64
	DiscardOld bool
	// Bytes and Msgs are what it holds, from FirstSeq to LastSeq.
	Bytes, Msgs       uint64
	FirstSeq, LastSeq uint64
}

// RetentionNear is the share of a retention limit past which a
// subscription's backlog is said to be near it.
const RetentionNear = 0.8

// Warning returns why the retention is about to drop events that the
// subscription name has not handled yet, or "": its oldest unsettled event
// is older than RetentionNear of MaxAge; or the journal, which drops its
// oldest events at a size limit, is past RetentionNear of MaxBytes or
// MaxMsgs and that event is among the oldest 1-RetentionNear of the
// events it holds (the next to go).
func (b *Backlog) Warning(name string, now time.Time) string {
	if b == nil {
		return ""
	}
	old, ok := b.Oldest[name]
	if !ok {
		return ""
	}
	j := &b.Journal
	if age := now.Sub(old.Time); j.MaxAge > 0 && age > time.Duration(RetentionNear*float64(j.MaxAge)) {
		return fmt.Sprintf("its oldest pending event is %v old; the journal drops events after %v ([broker] max_age)",
			age.Round(time.Second), j.MaxAge)
	}
	if !j.DiscardOld || j.LastSeq < j.FirstSeq || old.Seq < j.FirstSeq {
		return ""
	}
	front := float64(old.Seq-j.FirstSeq) < (1-RetentionNear)*float64(j.LastSeq-j.FirstSeq+1)
	switch {
	case front && j.MaxBytes > 0 && float64(j.Bytes) > RetentionNear*float64(j.MaxBytes):
		return fmt.Sprintf("the journal holds %d of its %d bytes ([broker] max_bytes) and drops its oldest events first: this subscription's pending events are among the next to go",
			j.Bytes, j.MaxBytes)
	case front && j.MaxMsgs > 0 && float64(j.Msgs) > RetentionNear*float64(j.MaxMsgs):
		return fmt.Sprintf("the journal holds %d of its %d events and drops its oldest first: this subscription's pending events are among the next to go",
			j.Msgs, j.MaxMsgs)
	}
	return ""
}
