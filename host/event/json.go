package event

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidJSON is wrapped by every structured-mode decoding error.
var ErrInvalidJSON = errors.New("event: invalid CloudEvents JSON")

// IsJSONContentType reports whether a datacontenttype denotes JSON
// (application/json, text/json, or a +json suffix). An empty content type
// counts as JSON, as CloudEvents' JSON format says.
func IsJSONContentType(ct string) bool {
	if ct == "" {
		return true
	}
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/json" || ct == "text/json" || strings.HasSuffix(ct, "+json")
}

// MarshalJSON encodes e in the CloudEvents JSON format (structured mode).
// JSON data is embedded as is; other data is a string when it is UTF-8
// text, and data_base64 otherwise.
func (e *Event) MarshalJSON() ([]byte, error) {
	return AppendJSON(nil, e), nil
}

// AppendJSON appends the CloudEvents JSON form of e to dst.
func AppendJSON(dst []byte, e *Event) []byte {
	dst = append(dst, '{')
	first := true
	str := func(name, v string) {
		if v == "" {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendJSONString(dst, name)
		dst = append(dst, ':')
		dst = appendJSONString(dst, v)
	}
	str(AttrSpecVersion, e.SpecVersion)
	str(AttrID, e.ID)
	str(AttrSource, e.Source)
	str(AttrType, e.Type)
	if !e.Time.IsZero() {
		str(AttrTime, e.Time.Format(TimeFormat))
	}
	str(AttrSubject, e.Subject)
	str(AttrDataContentType, e.DataContentType)
	str(AttrDataSchema, e.DataSchema)
	for _, a := range e.Extensions {
		str(a.Name, a.Value)
	}
	if len(e.Data) > 0 {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		switch {
		case IsJSONContentType(e.DataContentType) && json.Valid(e.Data):
			dst = append(dst, `"data":`...)
			var buf bytes.Buffer
			if json.Compact(&buf, e.Data) == nil {
				dst = append(dst, buf.Bytes()...)
			} else {
				dst = append(dst, e.Data...)
			}
		case !IsJSONContentType(e.DataContentType) && utf8.Valid(e.Data):
			dst = append(dst, `"data":`...)
			dst = appendJSONString(dst, string(e.Data))
		default:
			dst = append(dst, `"data_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, e.Data)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // never fails for a string
	return append(dst, b...)
}

// DecodeJSON decodes one event in the CloudEvents JSON format (structured
// mode). Extension values that are numbers or booleans are kept in their
// canonical string form. It checks the framing only; call Validate for the
// required attributes.
func DecodeJSON(b []byte) (*Event, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidJSON)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the event", ErrInvalidJSON)
	}
	return fromMembers(raw)
}

func fromMembers(raw map[string]json.RawMessage) (*Event, error) {
	e := &Event{}
	var data, data64 json.RawMessage
	for name, v := range raw {
		switch name {
		case "data":
			data = v
			continue
		case "data_base64":
			data64 = v
			continue
		}
		s, err := canonical(name, v)
		if err != nil {
			return nil, err
		}
		if s == nil { // null: attribute absent
			continue
		}
		if !isCore(name) {
			if err := ValidExtensionName(name); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
			}
		}
		if err := e.setAttr(name, *s); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
		}
	}
	sortExtensions(e.Extensions)
	switch {
	case data != nil && data64 != nil:
		return nil, fmt.Errorf("%w: both data and data_base64 are present", ErrInvalidJSON)
	case data64 != nil:
		var s string
		if err := json.Unmarshal(data64, &s); err != nil {
			return nil, fmt.Errorf("%w: data_base64 must be a string", ErrInvalidJSON)
		}
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: data_base64: %v", ErrInvalidJSON, err)
		}
		e.Data = d
	case data != nil && string(data) != "null":
		if data[0] == '"' && !IsJSONContentType(e.DataContentType) {
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				return nil, fmt.Errorf("%w: data: %v", ErrInvalidJSON, err)
			}
			e.Data = []byte(s)
		} else {
			e.Data = append([]byte(nil), data...)
			if e.DataContentType == "" {
				e.DataContentType = "application/json"
			}
		}
	}
	return e, nil
}

// canonical returns the canonical string form of an attribute's JSON
// value, or nil for null.
func canonical(name string, v json.RawMessage) (*string, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, fmt.Errorf("%w: attribute %q is empty", ErrInvalidJSON, name)
	}
	var s string
	switch v[0] {
	case 'n':
		return nil, nil
	case '"':
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%w: attribute %q: %v", ErrInvalidJSON, name, err)
		}
	case 't', 'f':
		if isCore(name) {
			return nil, fmt.Errorf("%w: attribute %q must be a string", ErrInvalidJSON, name)
		}
		s = string(v)
	default:
		if isCore(name) || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9') {
			return nil, fmt.Errorf("%w: attribute %q must be a string", ErrInvalidJSON, name)
		}
		s = string(v)
	}
	return &s, nil
}

// DecodeJSONBatch decodes a JSON array of structured events (the
// CloudEvents batch format, application/cloudevents-batch+json).
func DecodeJSONBatch(b []byte) ([]*Event, error) {
	var raws []map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raws); err != nil {
		return nil, fmt.Errorf("%w: batch: %v", ErrInvalidJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: batch: trailing data after the array", ErrInvalidJSON)
	}
	events := make([]*Event, 0, len(raws))
	for i, raw := range raws {
		if raw == nil {
			return nil, fmt.Errorf("%w: batch element %d is not an object", ErrInvalidJSON, i)
		}
		e, err := fromMembers(raw)
		if err != nil {
			return nil, fmt.Errorf("batch element %d: %w", i, err)
		}
		events = append(events, e)
	}
	return events, nil
}

// ParseTime parses a CloudEvents time attribute (RFC 3339).
func ParseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

func sortExtensions(a []Attr) {
	// Insertion sort: extension lists are short, and map order is random.
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].Name < a[j-1].Name; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}
