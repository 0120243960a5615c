// Package event is evhost's vocabulary: the Event value (CloudEvents 1.0
// context attributes, extensions and data), its binary envelope as defined
// by the plugin ABI v1 (section 4), and its CloudEvents JSON form.
//
// It depends on the standard library only; every other package of evhost
// may import it, and it imports none of them.
package event

import (
	"errors"
	"time"
)

// SpecVersion is the CloudEvents specification version evhost speaks.
const SpecVersion = "1.0"

// Names of the CloudEvents context attributes and of the extensions that
// evhost itself owns.
const (
	AttrID              = "id"
	AttrSource          = "source"
	AttrType            = "type"
	AttrSpecVersion     = "specversion"
	AttrTime            = "time"
	AttrSubject         = "subject"
	AttrDataContentType = "datacontenttype"
	AttrDataSchema      = "dataschema"

	ExtCorrelationID = "correlationid"
	ExtCausationID   = "causationid"
	ExtDepth         = "depth"
	ExtTraceParent   = "traceparent"
	ExtTraceState    = "tracestate"
)

// Attr is one extension attribute: a name and its canonical string value.
type Attr struct {
	Name  string
	Value string
}

// Event is one CloudEvent. The zero value is not valid: ID, Source, Type
// and SpecVersion are required (see Validate).
//
// An Event is a value; the host never mutates an event once it has been
// published. Data is owned by the event.
type Event struct {
	ID              string
	Source          string
	Type            string
	SpecVersion     string
	Time            time.Time
	Subject         string
	DataContentType string
	DataSchema      string
	// Extensions holds every other attribute, in the order they were
	// given. Names are unique.
	Extensions []Attr
	Data       []byte
}

// Ext returns the value of the extension attribute name.
func (e *Event) Ext(name string) (string, bool) {
	for _, a := range e.Extensions {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// SetExt sets the extension attribute name to value, replacing an earlier
// value of the same name.
func (e *Event) SetExt(name, value string) {
	for i := range e.Extensions {
		if e.Extensions[i].Name == name {
			e.Extensions[i].Value = value
			return
		}
	}
	e.Extensions = append(e.Extensions, Attr{Name: name, Value: value})
}

// DeleteExt removes the extension attribute name if present.
func (e *Event) DeleteExt(name string) {
	for i := range e.Extensions {
		if e.Extensions[i].Name == name {
			e.Extensions = append(e.Extensions[:i], e.Extensions[i+1:]...)
			return
		}
	}
}

// Clone returns a deep copy of e.
func (e *Event) Clone() *Event {
	c := *e
	if e.Extensions != nil {
		c.Extensions = append([]Attr(nil), e.Extensions...)
	}
	if e.Data != nil {
		c.Data = append([]byte(nil), e.Data...)
	}
	return &c
}

// Errors returned by Validate.
var (
	ErrMissingID          = errors.New("event: missing required attribute id")
	ErrMissingSource      = errors.New("event: missing required attribute source")
	ErrMissingType        = errors.New("event: missing required attribute type")
	ErrMissingSpecVersion = errors.New("event: missing required attribute specversion")
	ErrSpecVersion        = errors.New("event: unsupported specversion (want 1.0)")
)

// Validate reports whether e carries the attributes CloudEvents 1.0
// requires, with valid names.
func (e *Event) Validate() error {
	switch {
	case e.ID == "":
		return ErrMissingID
	case e.Source == "":
		return ErrMissingSource
	case e.Type == "":
		return ErrMissingType
	case e.SpecVersion == "":
		return ErrMissingSpecVersion
	case e.SpecVersion != SpecVersion:
		return ErrSpecVersion
	}
	for _, a := range e.Extensions {
		if err := ValidExtensionName(a.Name); err != nil {
			return err
		}
	}
	return nil
}

// ValidExtensionName reports whether name is a valid CloudEvents extension
// attribute name: 1 to 20 lower-case ASCII letters or digits (evhost
// accepts names up to 255 bytes, the envelope's limit), not a core
// attribute.
func ValidExtensionName(name string) error {
	if name == "" || len(name) > 255 {
		return &AttrError{Name: name, Reason: "name must be 1 to 255 characters"}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return &AttrError{Name: name, Reason: "name must be lower-case letters and digits"}
		}
	}
	if isCore(name) || name == "data" || name == "data_base64" {
		return &AttrError{Name: name, Reason: "reserved name"}
	}
	return nil
}

func isCore(name string) bool {
	switch name {
	case AttrID, AttrSource, AttrType, AttrSpecVersion, AttrTime,
		AttrSubject, AttrDataContentType, AttrDataSchema:
		return true
	}
	return false
}

// AttrError reports an invalid attribute.
type AttrError struct {
	Name   string
	Reason string
}

func (e *AttrError) Error() string {
	return "event: attribute " + quote(e.Name) + ": " + e.Reason
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return "\"" + s + "\""
}
