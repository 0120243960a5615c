package pdk

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/evhost/evhost/plugins/pdk/internal/envelope"
)

// Names of the CloudEvents 1.0 context attributes, as they appear in the
// envelope and as Event.Attr accepts them.
const (
	AttrID              = "id"
	AttrSource          = "source"
	AttrType            = "type"
	AttrSpecVersion     = "specversion"
	AttrTime            = "time"
	AttrSubject         = "subject"
	AttrDataContentType = "datacontenttype"
	AttrDataSchema      = "dataschema"
)

// Names of the extension attributes that the host owns: it sets them on every
// emitted event, replacing values that a plugin gives.
const (
	ExtCorrelationID = "correlationid"
	ExtCausationID   = "causationid"
	ExtDepth         = "depth"
	ExtTraceParent   = "traceparent"
)

// Event is one CloudEvent: its context attributes, its extensions and its
// data.
//
// The *Event that a Handler receives, and everything in it, is valid only
// until the handler returns: the PDK reuses the struct and its Extensions
// map for the next event, and its strings (the attributes, the names and
// values of the extensions) and its Data point straight into the buffer
// the host wrote the event into, which the next event overwrites. Decoding
// an event thus costs no copy and no allocation. To keep a value, copy it
// (strings.Clone, bytes.Clone); to keep the event, Clone it. Passing values
// on within the call is fine: Emit, the log functions, KVSet and DoHTTP
// copy what they are given before they return.
type Event struct {
	ID              string
	Source          string
	Type            string
	SpecVersion     string
	Subject         string
	DataContentType string
	DataSchema      string
	// Extensions holds every other attribute by name (correlationid,
	// causationid, traceparent, depth, ...). Nil or empty when there are
	// none.
	Extensions map[string]string
	// Data is the payload; nil when the event has none.
	Data []byte

	// rawTime is the time attribute as on the wire, in RFC 3339: parsed
	// only when asked (Time), because most handlers never look at it.
	rawTime string
}

// Time returns the time attribute: when the event happened, as its
// producer stamped it. It is the zero Time when the event has none (or,
// which the host never sends, one that is not RFC 3339). Time parses the
// attribute on each call; Attr(AttrTime) returns its text.
func (e *Event) Time() time.Time {
	if e.rawTime == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, e.rawTime)
	if err != nil {
		return time.Time{}
	}
	return t
}

// SetTime sets the time attribute, in RFC 3339 with nanoseconds as the host
// writes it; the zero Time removes it.
func (e *Event) SetTime(t time.Time) {
	if t.IsZero() {
		e.rawTime = ""
		return
	}
	e.rawTime = t.Format(time.RFC3339Nano)
}

// Attr returns the value of the attribute name as text (time in RFC 3339),
// whether a context attribute such as "subject" or an extension such as
// "correlationid", and whether it is present.
func (e *Event) Attr(name string) (string, bool) {
	var v string
	switch name {
	case AttrID:
		v = e.ID
	case AttrSource:
		v = e.Source
	case AttrType:
		v = e.Type
	case AttrSpecVersion:
		v = e.SpecVersion
	case AttrTime:
		v = e.rawTime
	case AttrSubject:
		v = e.Subject
	case AttrDataContentType:
		v = e.DataContentType
	case AttrDataSchema:
		v = e.DataSchema
	default:
		v, ok := e.Extensions[name]
		return v, ok
	}
	return v, v != ""
}

// Decode unmarshals the data as JSON into v (see encoding/json), whatever
// DataContentType says. A handler usually answers a Decode error with
// Reject: the event will not get better with a retry.
func (e *Event) Decode(v any) error {
	if len(e.Data) == 0 {
		return fmt.Errorf("pdk: decode %s event: no data", e.Type)
	}
	if err := json.Unmarshal(e.Data, v); err != nil {
		return fmt.Errorf("pdk: decode %s event: %w", e.Type, err)
	}
	return nil
}

// Clone returns a deep copy of e that shares no memory with it, strings
// included: what a handler can keep of the event it receives.
func (e *Event) Clone() *Event {
	c := Event{
		ID:              strings.Clone(e.ID),
		Source:          strings.Clone(e.Source),
		Type:            strings.Clone(e.Type),
		SpecVersion:     strings.Clone(e.SpecVersion),
		Subject:         strings.Clone(e.Subject),
		DataContentType: strings.Clone(e.DataContentType),
		DataSchema:      strings.Clone(e.DataSchema),
		rawTime:         strings.Clone(e.rawTime),
	}
	if e.Extensions != nil {
		c.Extensions = make(map[string]string, len(e.Extensions))
		for k, v := range e.Extensions {
			c.Extensions[strings.Clone(k)] = strings.Clone(v)
		}
	}
	if e.Data != nil {
		c.Data = slices.Clone(e.Data)
	}
	return &c
}

// MarshalBinary encodes e in the ABI v1 envelope encoding (section 4), the
// bytes the host passes to evhost_handle. Empty attributes are left out;
// extensions come after the context attributes, sorted by name.
func (e *Event) MarshalBinary() ([]byte, error) {
	return e.AppendBinary(nil)
}

// AppendBinary appends the encoding of MarshalBinary to b.
func (e *Event) AppendBinary(b []byte) ([]byte, error) {
	b = appendAttr(b, AttrID, e.ID)
	b = appendAttr(b, AttrSource, e.Source)
	b = appendAttr(b, AttrType, e.Type)
	b = appendAttr(b, AttrSpecVersion, e.SpecVersion)
	b = appendAttr(b, AttrTime, e.rawTime)
	b = appendAttr(b, AttrSubject, e.Subject)
	b = appendAttr(b, AttrDataContentType, e.DataContentType)
	b = appendAttr(b, AttrDataSchema, e.DataSchema)
	for _, name := range slices.Sorted(maps.Keys(e.Extensions)) {
		if err := checkExtName(name); err != nil {
			return b, err
		}
		b = envelope.AppendAttr(b, name, e.Extensions[name])
	}
	return envelope.AppendEnd(b, e.Data), nil
}

// UnmarshalBinary decodes an envelope into e, replacing its contents. The
// result shares no memory with b. It rejects what the host would reject: a
// broken framing, names or values that are not UTF-8, a name given twice,
// a time that is not RFC 3339.
func (e *Event) UnmarshalBinary(b []byte) error {
	var attrs [16]envelope.Attr
	if _, _, err := envelope.Scan(attrs[:0], b); err != nil {
		return err
	}
	*e = Event{}
	// The strings and Data alias a copy of b that nothing else sees.
	c := append(make([]byte, 0, len(b)+envelopePadding), b...)
	if err := decode(e, c); err != nil {
		return err
	}
	if e.rawTime != "" {
		if _, err := time.Parse(time.RFC3339Nano, e.rawTime); err != nil {
			return fmt.Errorf("%w: time %q is not RFC 3339", ErrMalformed, e.rawTime)
		}
	}
	return nil
}

// appendAttr appends one context attribute when its value is not empty.
func appendAttr(b []byte, name, value string) []byte {
	if value == "" {
		return b
	}
	return envelope.AppendAttr(b, name, value)
}

// checkExtName reports an extension name that cannot be encoded or that
// would collide with a context attribute.
func checkExtName(name string) error {
	if err := envelope.CheckName(name); err != nil {
		return err
	}
	if isContextAttr(name) {
		return fmt.Errorf("%w: extension %q is a context attribute", ErrMalformed, name)
	}
	return nil
}

func isContextAttr(name string) bool {
	switch name {
	case AttrID, AttrSource, AttrType, AttrSpecVersion, AttrTime, AttrSubject, AttrDataContentType, AttrDataSchema:
		return true
	}
	return false
}
