package pdk

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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
// The *Event that a Handler receives is owned by the PDK and reused for the
// next event: it, its Extensions map and above all its Data (which aliases
// the buffer the host wrote the event into, to save a copy) are valid only
// until the handler returns. The string fields themselves are ordinary Go
// strings and may be kept. Use Clone to keep the whole event.
type Event struct {
	ID              string
	Source          string
	Type            string
	SpecVersion     string
	Time            time.Time // zero when absent; RFC 3339 on the wire
	Subject         string
	DataContentType string
	DataSchema      string
	// Extensions holds every other attribute by name (correlationid,
	// causationid, traceparent, depth, ...). Nil or empty when there are
	// none.
	Extensions map[string]string
	// Data is the payload; nil when the event has none.
	Data []byte
}

// Attr returns the value of the attribute name in its canonical string
// form (time as RFC 3339), whether a context attribute such as "subject" or
// an extension such as "correlationid", and whether it is present.
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
		if e.Time.IsZero() {
			return "", false
		}
		return e.Time.Format(time.RFC3339Nano), true
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

// Clone returns a deep copy of e that shares no memory with it.
func (e *Event) Clone() *Event {
	c := *e
	c.Extensions = maps.Clone(e.Extensions)
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
	if !e.Time.IsZero() {
		b = appendAttr(b, AttrTime, e.Time.Format(time.RFC3339Nano))
	}
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
	*e = Event{}
	if _, err := e.decode(b, attrs[:0]); err != nil {
		return err
	}
	if e.Data != nil {
		e.Data = slices.Clone(e.Data)
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

// decode decodes the envelope b into e, reusing e's Extensions map (cleared)
// and attrs (scratch for the attribute offsets, returned for reuse). Data
// aliases b. All strings are substrings of one copy of the attribute block,
// so decoding costs one allocation when the storage is warm. e must be
// cleared by the caller except for the Extensions map.
func (e *Event) decode(b []byte, attrs []envelope.Attr) ([]envelope.Attr, error) {
	attrs, dataStart, err := envelope.Scan(attrs[:0], b)
	if err != nil {
		return attrs, err
	}
	hdr := string(b[:dataStart])
	var seen uint8 // one bit per context attribute
	for _, a := range attrs {
		name, value := hdr[a.NameStart:a.NameEnd], hdr[a.ValueStart:a.ValueEnd]
		var bit uint8
		switch name {
		case AttrID:
			bit, e.ID = 1<<0, value
		case AttrSource:
			bit, e.Source = 1<<1, value
		case AttrType:
			bit, e.Type = 1<<2, value
		case AttrSpecVersion:
			bit, e.SpecVersion = 1<<3, value
		case AttrTime:
			bit = 1 << 4
			t, err := time.Parse(time.RFC3339Nano, value)
			if err != nil {
				return attrs, fmt.Errorf("%w: time %q is not RFC 3339", ErrMalformed, value)
			}
			e.Time = t
		case AttrSubject:
			bit, e.Subject = 1<<5, value
		case AttrDataContentType:
			bit, e.DataContentType = 1<<6, value
		case AttrDataSchema:
			bit, e.DataSchema = 1<<7, value
		default:
			if e.Extensions == nil {
				e.Extensions = make(map[string]string, len(attrs))
			} else if _, dup := e.Extensions[name]; dup {
				return attrs, fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
			}
			e.Extensions[name] = value
			continue
		}
		if seen&bit != 0 {
			return attrs, fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
		}
		seen |= bit
	}
	if dataStart < len(b) {
		e.Data = b[dataStart:]
	}
	return attrs, nil
}
