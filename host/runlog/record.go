package runlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/event"
)

// Kinds of run.
const (
	// KindDelivery is a run of a live subscription on a delivery of the
	// bus (the default).
	KindDelivery = "delivery"
	// KindReplay is a run of a subscription on an event replayed from the
	// journal.
	KindReplay = "replay"
	// KindShadow is a run of a candidate plugin that is not live, on a
	// recorded event; its emits were captured, never published.
	KindShadow = "shadow"
	// KindWebhook is one HTTP attempt of a webhook endpoint on a
	// delivery; its Reason starts with "HTTP <status>" when the endpoint
	// answered.
	KindWebhook = "webhook"
)

// Statuses of a run: the names of the dispatcher's outcomes
// (dispatch.Status.String()).
const (
	StatusDone   = "done"
	StatusRetry  = "retry"
	StatusReject = "reject"
)

// Record is one handler run: one attempt of one subscription on one
// event, and its outcome.
//
// A Record handed to a Store or a Recorder is theirs: neither it nor the
// events of its Emits may be modified afterwards (events are never
// modified once published anyway). Records returned by a Store share their
// Emits with it; treat them as read-only.
type Record struct {
	// Seq is the record's position in its Store, assigned by Append
	// (increasing in append order); zero before. It is not part of the
	// JSON form: it is where the record is, not what it says.
	Seq uint64
	// Kind is KindDelivery, KindReplay, KindShadow or KindWebhook; empty means
	// KindDelivery.
	Kind string
	// Subscription is the route's name.
	Subscription string
	// Plugin is the plugin that served the subscription, and Version the
	// hash of its version; both may be empty (a native Go handler, a
	// webhook).
	Plugin  string
	Version string
	// EventID, EventSource and EventType identify the event handled;
	// EventID is required. EventSeq is its sequence in the journal, when
	// known (zero otherwise).
	EventID     string
	EventSource string
	EventType   string
	EventSeq    uint64
	// EventTime is the event's time attribute, when it has one.
	EventTime time.Time
	// Attempt is the delivery attempt, from 1.
	Attempt int
	// Status is how the run ended: StatusDone, StatusRetry, StatusReject
	// (the dispatcher's outcomes), or another word a kind of handler
	// defines.
	Status string
	// Reason says why a run failed.
	Reason string
	// Start is when the run started, and Duration how long it took.
	Start    time.Time
	Duration time.Duration
	// Emits are the events the run emitted, as published (with the ids,
	// sources and causation that event.StampChild gave them), in order.
	// Only a done run's emits are published; shadow runs keep the emits
	// they captured.
	Emits []*event.Event
	// Truncated reports that the record was too large for its store, so
	// that Emits lost their data (attributes kept) or their tail, or
	// Reason its tail. See AppendJSONLimit.
	Truncated bool
}

// ErrInvalidRecord is wrapped by the errors of Append for records that
// cannot be stored.
var ErrInvalidRecord = errors.New("runlog: invalid record")

// check reports why r cannot be stored.
func (r *Record) check() error {
	switch {
	case r == nil:
		return fmt.Errorf("%w: nil", ErrInvalidRecord)
	case r.EventID == "":
		return fmt.Errorf("%w: no event id", ErrInvalidRecord)
	}
	for i, e := range r.Emits {
		if e == nil {
			return fmt.Errorf("%w: emit %d is nil", ErrInvalidRecord, i)
		}
	}
	return nil
}

// normalize fills the defaults of a record about to be stored.
func (r *Record) normalize() {
	if r.Kind == "" {
		r.Kind = KindDelivery
	}
}

// MarshalJSON encodes r in its JSON form; see AppendJSON.
func (r *Record) MarshalJSON() ([]byte, error) {
	return AppendJSON(nil, r), nil
}

// AppendJSON appends the JSON form of r to dst: one compact object whose
// members always come in this order, empty ones left out (those marked *
// are always present):
//
//	{"kind":"delivery",*            KindDelivery when r.Kind is empty
//	 "subscription":"payment",*
//	 "plugin":"charge","version":"9f86d081884c7d65",
//	 "event_id":"0190...",* "event_source":"/shop","event_type":"order.placed","event_seq":42,
//	 "event_time":"2025-01-02T03:04:00Z",          RFC 3339 in UTC, nanoseconds
//	 "attempt":1,* "status":"done",* "reason":"...",
//	 "start":"2025-01-02T03:04:05.123456789Z",*   RFC 3339 in UTC, nanoseconds
//	 "duration_ns":1234567,*                       time.Duration, an integer of nanoseconds
//	 "emits":[{CloudEvents JSON},...],             structured mode, as event.AppendJSON writes it
//	 "truncated":true}
//
// The duration is an integer of nanoseconds, not a string like "1.2ms":
// exact, and readable by any JSON tool without a parser for Go durations.
func AppendJSON(dst []byte, r *Record) []byte {
	kind := r.Kind
	if kind == "" {
		kind = KindDelivery
	}
	dst = append(dst, `{"kind":`...)
	dst = appendString(dst, kind)
	dst = append(dst, `,"subscription":`...)
	dst = appendString(dst, r.Subscription)
	dst = appendMember(dst, "plugin", r.Plugin)
	dst = appendMember(dst, "version", r.Version)
	dst = append(dst, `,"event_id":`...)
	dst = appendString(dst, r.EventID)
	dst = appendMember(dst, "event_source", r.EventSource)
	dst = appendMember(dst, "event_type", r.EventType)
	if r.EventSeq != 0 {
		dst = append(dst, `,"event_seq":`...)
		dst = strconv.AppendUint(dst, r.EventSeq, 10)
	}
	if !r.EventTime.IsZero() {
		dst = append(dst, `,"event_time":"`...)
		dst = r.EventTime.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"attempt":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempt), 10)
	dst = append(dst, `,"status":`...)
	dst = appendString(dst, r.Status)
	dst = appendMember(dst, "reason", r.Reason)
	dst = append(dst, `,"start":"`...)
	dst = r.Start.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","duration_ns":`...)
	dst = strconv.AppendInt(dst, int64(r.Duration), 10)
	if len(r.Emits) > 0 {
		dst = append(dst, `,"emits":[`...)
		for i, e := range r.Emits {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = event.AppendJSON(dst, e)
		}
		dst = append(dst, ']')
	}
	if r.Truncated {
		dst = append(dst, `,"truncated":true`...)
	}
	return append(dst, '}')
}

// AppendJSONLimit appends the JSON form of r to dst, shortened, if it
// would take more than limit bytes, until it fits: first the emits lose
// their data (their attributes, ids included, are kept for the trace
// tree); then, if the record without its emits is still too long, its
// reason is cut; then emits are left out from the last one. A shortened
// form says "truncated":true. A record that does not fit even then (an
// event id of nearly limit bytes) is appended as short as it can be,
// longer than limit.
func AppendJSONLimit(dst []byte, r *Record, limit int) []byte {
	start := len(dst)
	dst = AppendJSON(dst, r)
	if len(dst)-start <= limit {
		return dst
	}
	c := *r
	c.Truncated = true
	emits := make([]*event.Event, len(c.Emits))
	for i, e := range c.Emits {
		b := *e
		b.Data = nil
		emits[i] = &b
	}
	c.Emits = nil
	dst = AppendJSON(dst[:start], &c)
	if len(dst)-start > limit && c.Reason != "" {
		// The longest prefix of the reason that fits, by bisection (a
		// byte of the reason takes one to six bytes of JSON).
		full := c.Reason
		lo, hi := 0, len(full)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			c.Reason = cutUTF8(full, mid)
			if len(AppendJSON(dst[:start], &c))-start <= limit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		c.Reason = cutUTF8(full, lo)
		dst = AppendJSON(dst[:start], &c)
	}
	// The size of the record without emits, and each emit's, decide how
	// many emits fit.
	size := len(dst) - start + len(`,"emits":[]`)
	n := 0
	for _, e := range emits {
		size += len(event.AppendJSON(nil, e)) + 1 // and a comma, an upper bound
		if size > limit {
			break
		}
		n++
	}
	if n > 0 {
		c.Emits = emits[:n]
		dst = AppendJSON(dst[:start], &c)
	}
	return dst
}

// cutUTF8 returns s cut to at most n bytes, on a rune boundary.
func cutUTF8(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func appendMember(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, name...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json writes it
// without HTML escaping: invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			// Valid JSON, but not valid JavaScript; encoding/json escapes
			// them too.
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// wireRecord is the JSON form of a Record, for decoding.
type wireRecord struct {
	Kind         string            `json:"kind"`
	Subscription string            `json:"subscription"`
	Plugin       string            `json:"plugin"`
	Version      string            `json:"version"`
	EventID      string            `json:"event_id"`
	EventSource  string            `json:"event_source"`
	EventType    string            `json:"event_type"`
	EventSeq     uint64            `json:"event_seq"`
	EventTime    time.Time         `json:"event_time"`
	Attempt      int               `json:"attempt"`
	Status       string            `json:"status"`
	Reason       string            `json:"reason"`
	Start        time.Time         `json:"start"`
	DurationNS   int64             `json:"duration_ns"`
	Emits        []json.RawMessage `json:"emits"`
	Truncated    bool              `json:"truncated"`
}

// ErrInvalidJSON is wrapped by the errors of DecodeJSON.
var ErrInvalidJSON = errors.New("runlog: invalid record JSON")

// UnmarshalJSON decodes the JSON form of a record into r (Seq is left as
// it is).
func (r *Record) UnmarshalJSON(b []byte) error {
	var w wireRecord
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	var emits []*event.Event
	if len(w.Emits) > 0 {
		emits = make([]*event.Event, len(w.Emits))
		for i, raw := range w.Emits {
			e, err := event.DecodeJSON(raw)
			if err != nil {
				return fmt.Errorf("%w: emit %d: %w", ErrInvalidJSON, i, err)
			}
			emits[i] = e
		}
	}
	*r = Record{
		Seq:          r.Seq,
		Kind:         w.Kind,
		Subscription: w.Subscription,
		Plugin:       w.Plugin,
		Version:      w.Version,
		EventID:      w.EventID,
		EventSource:  w.EventSource,
		EventType:    w.EventType,
		EventSeq:     w.EventSeq,
		EventTime:    w.EventTime,
		Attempt:      w.Attempt,
		Status:       w.Status,
		Reason:       w.Reason,
		Start:        w.Start,
		Duration:     time.Duration(w.DurationNS),
		Emits:        emits,
		Truncated:    w.Truncated,
	}
	return nil
}

// DecodeJSON decodes the JSON form of a record. Emits come back as
// event.DecodeJSON returns them (extensions sorted by name).
func DecodeJSON(b []byte) (*Record, error) {
	r := &Record{}
	if err := r.UnmarshalJSON(b); err != nil {
		return nil, err
	}
	if r.EventID == "" {
		return nil, fmt.Errorf("%w: no event_id", ErrInvalidJSON)
	}
	return r, nil
}
