package orderkey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/evhost/evhost/host/event"
)

// Limits of a key's text.
const (
	MaxLength   = 256
	maxSegments = 16
)

// Func returns the key of an event: the value of the attribute, or the
// value at the path into the data (a JSON string as itself, any other
// value as its JSON text). An event without it (no such attribute, data
// that is not JSON or lacks the path) has the key "": such events are
// ordered among themselves.
type Func func(*event.Event) string

// Compile returns the key named by spec:
//
//   - "subject", "source", "type": the CloudEvents attribute;
//   - "data.a.b" (or "data.items.0.id"): the value at that path into the
//     event's JSON data, a number selecting an array's element;
//   - any other name: the extension attribute of that name (lowercase
//     letters and digits, per CloudEvents).
func Compile(spec string) (Func, error) {
	switch {
	case spec == "":
		return nil, errors.New("empty: name an attribute (subject, or an extension) or a path into data (data.customer.id)")
	case len(spec) > MaxLength:
		return nil, fmt.Errorf("longer than %d characters", MaxLength)
	case spec == "subject":
		return func(e *event.Event) string { return e.Subject }, nil
	case spec == "source":
		return func(e *event.Event) string { return e.Source }, nil
	case spec == "type":
		return func(e *event.Event) string { return e.Type }, nil
	case spec == "id":
		return nil, errors.New(`"id" is unique per event: it would order nothing`)
	case spec == "data":
		return nil, errors.New(`"data" alone is the whole document: give a path into it, such as data.customer.id`)
	}
	if path, ok := strings.CutPrefix(spec, "data."); ok {
		segs := strings.Split(path, ".")
		if len(segs) > maxSegments {
			return nil, fmt.Errorf("path %q: more than %d segments", spec, maxSegments)
		}
		for _, s := range segs {
			if s == "" {
				return nil, fmt.Errorf("path %q: empty segment", spec)
			}
		}
		return func(e *event.Event) string { return lookup(e.Data, segs) }, nil
	}
	if err := event.ValidExtensionName(spec); err != nil {
		return nil, fmt.Errorf("%q is neither subject, source, type, a path into data (data.x.y) nor an extension attribute name: %w", spec, err)
	}
	return func(e *event.Event) string { v, _ := e.Ext(spec); return v }, nil
}

// lookup returns the value at path in the JSON document data, or "".
func lookup(data []byte, path []string) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for _, seg := range path {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch tok {
		case json.Delim('{'):
			if !findKey(dec, seg) {
				return ""
			}
		case json.Delim('['):
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 {
				return ""
			}
			for ; i > 0; i-- {
				if !dec.More() || skip(dec) != nil {
					return ""
				}
			}
			if !dec.More() {
				return ""
			}
		default:
			return ""
		}
	}
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return ""
	}
	return buf.String()
}

// findKey reads an object's members up to the one named key, leaving the
// decoder before its value.
func findKey(dec *json.Decoder, key string) bool {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if k, _ := tok.(string); k == key {
			return true
		}
		if skip(dec) != nil {
			return false
		}
	}
	return false
}

// skip reads one value.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
