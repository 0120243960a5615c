package event

import (
	"fmt"
	"time"
)

// The extension attributes of a delayed event. deliverat is the time
// (RFC 3339, UTC) at which the bus enqueues the event for its
// subscriptions; delay is a producer's shorthand, a Go duration ("90s",
// "10m") from the moment the event is stamped, which Stamp and StampChild
// turn into deliverat.
const (
	ExtDeliverAt = "deliverat"
	ExtDelay     = "delay"
)

// ResolveDelay replaces e's delay extension, if any, by the deliverat it
// names (now plus the delay), and checks a deliverat already there. It
// returns an error, and changes nothing, when delay is not a positive
// duration or deliverat is not an RFC 3339 time; giving both is an error.
func ResolveDelay(e *Event, now time.Time) error {
	d, hasDelay := e.Ext(ExtDelay)
	at, hasAt := e.Ext(ExtDeliverAt)
	if hasAt {
		if _, err := ParseTime(at); err != nil {
			return &AttrError{Name: ExtDeliverAt, Reason: fmt.Sprintf("%q is not an RFC 3339 time", at)}
		}
	}
	if !hasDelay {
		return nil
	}
	if hasAt {
		return &AttrError{Name: ExtDelay, Reason: "give delay or deliverat, not both"}
	}
	dur, err := time.ParseDuration(d)
	if err != nil || dur <= 0 {
		return &AttrError{Name: ExtDelay, Reason: fmt.Sprintf("%q is not a positive duration such as \"90s\" or \"10m\"", d)}
	}
	e.DeleteExt(ExtDelay)
	e.SetExt(ExtDeliverAt, now.Add(dur).UTC().Format(time.RFC3339Nano))
	return nil
}

// HasDelay reports whether e has a deliverat or delay extension: the cheap
// test before the others.
func HasDelay(e *Event) bool {
	for i := range e.Extensions {
		if n := e.Extensions[i].Name; n == ExtDeliverAt || n == ExtDelay {
			return true
		}
	}
	return false
}

// DeliverAt returns the time e's deliverat extension names, and whether it
// has a valid one. An event without one is delivered at once.
func DeliverAt(e *Event) (time.Time, bool) {
	at, ok := e.Ext(ExtDeliverAt)
	if !ok {
		return time.Time{}, false
	}
	t, err := ParseTime(at)
	return t, err == nil
}

// CheckDelay reports why a bus refuses e's delay: a delay extension left
// unresolved (ResolveDelay failed), a deliverat that is not a time, or one
// more than maxDelay after now (maxDelay > 0). A deliverat in the past is
// fine: the event is delivered at once.
func CheckDelay(e *Event, now time.Time, maxDelay time.Duration) error {
	if d, ok := e.Ext(ExtDelay); ok {
		return &AttrError{Name: ExtDelay, Reason: fmt.Sprintf("%q is not a positive duration such as \"90s\" or \"10m\"", d)}
	}
	at, ok := e.Ext(ExtDeliverAt)
	if !ok {
		return nil
	}
	t, err := ParseTime(at)
	if err != nil {
		return &AttrError{Name: ExtDeliverAt, Reason: fmt.Sprintf("%q is not an RFC 3339 time", at)}
	}
	if maxDelay > 0 && t.Sub(now) > maxDelay {
		return &AttrError{Name: ExtDeliverAt, Reason: fmt.Sprintf("%s is more than the maximum delay (%s) away", at, maxDelay)}
	}
	return nil
}
