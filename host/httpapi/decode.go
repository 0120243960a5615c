package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/event"
)

// The ingest decoders turn untrusted bytes into events. Each returns a
// *requestError naming the field at fault; finish then stamps what is
// missing and checks what the bus requires. They are fuzzed (fuzz_test.go).

// origin says where an event's attributes came from, to name fields in
// errors.
type origin struct {
	binary bool // ce- headers and Content-Type
	index  int  // batch element, or -1
}

var single = origin{index: -1}

// field returns the name of attribute attr as the producer wrote it; for
// attr "" it names the whole event ("[i]" in a batch, else "").
func (o origin) field(attr string) string {
	switch {
	case o.index >= 0 && attr == "":
		return "[" + strconv.Itoa(o.index) + "]"
	case attr == "":
		return ""
	case o.binary && attr == event.AttrDataContentType:
		return "Content-Type"
	case o.binary:
		return "ce-" + attr
	case o.index >= 0:
		return "[" + strconv.Itoa(o.index) + "]." + attr
	}
	return attr
}

// what names attribute attr in a sentence: "header ce-subject" or
// "attribute subject".
func (o origin) what(attr string) string {
	if o.binary {
		return "header " + o.field(attr)
	}
	return "attribute " + attr
}

// errorf returns the refusal of the event for a fault in attribute attr.
func (o origin) errorf(attr, format string, args ...any) *requestError {
	msg := fmt.Sprintf(format, args...)
	if o.index >= 0 {
		msg = "batch element " + strconv.Itoa(o.index) + ": " + msg
	}
	e := badRequest(o.field(attr), msg)
	e.index = o.index
	return e
}

// decodeStructured decodes one event in the CloudEvents JSON format.
func decodeStructured(b []byte) (*event.Event, *requestError) {
	e, err := event.DecodeJSON(b)
	if err != nil {
		// The codec says what is wrong but not always where, and of
		// several faults it reports any one: look again, in name order.
		field, msg := diagnose(b, "an event")
		if msg == "" {
			msg = strings.TrimPrefix(err.Error(), "event: ")
		}
		return nil, badRequest(field, msg)
	}
	if path, msg, ok := strictJSON(b); !ok {
		if path == "" {
			path = "body"
		}
		return nil, badRequest(path, msg)
	}
	return e, nil
}

// diagnose finds the first fault of a structured event that the event
// codec refused, and the attribute it is in ("" for the whole body). It
// returns an empty msg when it finds none.
func diagnose(b []byte, what string) (field, msg string) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return "", jsonError(err, what, "object")
	}
	if raw == nil {
		return "", what + " must be a JSON object, not null"
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", "trailing data after " + what
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names)
	if raw["data"] != nil && raw["data_base64"] != nil {
		return "data_base64", "give data or data_base64, not both"
	}
	for _, name := range names {
		v := bytes.TrimSpace(raw[name])
		if len(v) == 0 || v[0] == 'n' { // null: absent
			continue
		}
		switch {
		case name == "data":
			continue
		case name == "data_base64":
			var s string
			if json.Unmarshal(v, &s) != nil {
				return name, "data_base64 must be a string of base64"
			}
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return name, "data_base64 is not valid base64 (RFC 4648, with padding): " + err.Error()
			}
			continue
		case !isCore(name):
			if err := event.ValidExtensionName(name); err != nil {
				return name, "extension " + strconv.Quote(name) + ": " + extNameRule
			}
			if v[0] == '{' || v[0] == '[' {
				return name, "extension " + strconv.Quote(name) + " must be a string, a number or a boolean"
			}
			continue
		}
		if v[0] != '"' {
			return name, "attribute " + strconv.Quote(name) + " must be a string"
		}
		if name == event.AttrTime {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return name, "attribute time: " + err.Error()
			}
			if _, err := event.ParseTime(s); err != nil {
				return name, timeError(s)
			}
		}
	}
	return "", ""
}

const extNameRule = "an extension name is lower-case ASCII letters and digits, " +
	"at most 255 of them, and not a name the specification reserves"

func timeError(s string) string {
	return "time " + strconv.Quote(s) + " is not an RFC 3339 timestamp (such as 2024-05-01T12:00:00Z)"
}

// jsonError says why the JSON decoder refused a body that should hold one
// JSON value of the kind want ("object" or "array").
func jsonError(err error, what, want string) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the body is empty; it must hold " + what
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the body ends in the middle of a value"
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ) && typ.Field == "":
		msg := what + " must be a JSON " + want + ", not " + article(typ.Value)
		if want == "object" && typ.Value == "array" {
			msg += " (send a batch as application/cloudevents-batch+json)"
		}
		if want == "array" && typ.Value == "object" {
			msg += " (send a single event as application/cloudevents+json)"
		}
		return msg
	}
	return "invalid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
}

func article(kind string) string {
	switch kind {
	case "array", "object":
		return "an " + kind
	}
	return "a " + kind
}

func isCore(name string) bool {
	switch name {
	case event.AttrID, event.AttrSource, event.AttrType, event.AttrSpecVersion, event.AttrTime,
		event.AttrSubject, event.AttrDataContentType, event.AttrDataSchema:
		return true
	}
	return false
}

// decodeBatch decodes a JSON array of structured events (the JSON batch
// format). An empty array is a valid, empty batch.
func decodeBatch(b []byte, maxBatch int) ([]*event.Event, *requestError) {
	var elems []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&elems); err != nil {
		return nil, badRequest("", jsonError(err, "a batch", "array"))
	}
	if elems == nil {
		return nil, badRequest("", "a batch must be a JSON array, not null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("", "trailing data after the batch")
	}
	if maxBatch > 0 && len(elems) > maxBatch {
		return nil, &requestError{status: http.StatusRequestEntityTooLarge, field: "body", index: -1,
			msg: fmt.Sprintf("the batch has %d events, more than the limit of %d: send it in smaller batches", len(elems), maxBatch)}
	}
	events := make([]*event.Event, len(elems))
	for i, el := range elems {
		o := origin{index: i}
		if el = bytes.TrimSpace(el); len(el) == 0 || el[0] != '{' {
			e := badRequest(o.field(""), fmt.Sprintf("batch element %d is not an object: a batch is an array of structured events", i))
			e.index = i
			return nil, e
		}
		e, rerr := decodeStructured(el)
		if rerr != nil {
			rerr.index = i
			rerr.msg = fmt.Sprintf("batch element %d: %s", i, rerr.msg)
			rerr.field = o.field(rerr.field)
			return nil, rerr
		}
		events[i] = e
	}
	return events, nil
}

// headerPrefix is the prefix of the HTTP headers that carry attributes in
// binary mode, canonicalised as net/http does.
const headerPrefix = "Ce-"

// hasCEHeaders reports whether h holds any ce- header.
func hasCEHeaders(h http.Header) bool {
	for k := range h {
		if len(k) > len(headerPrefix) && strings.EqualFold(k[:len(headerPrefix)], headerPrefix) {
			return true
		}
	}
	return false
}

// decodeBinary decodes an event in binary mode: attributes in ce- headers,
// datacontenttype in Content-Type, data in the body. body is kept.
func decodeBinary(h http.Header, body []byte) (*event.Event, *requestError) {
	e, rerr := fromHeaders(h)
	if rerr != nil {
		return nil, rerr
	}
	e.DataContentType = h.Get("Content-Type")
	if rerr := setData(e, body); rerr != nil {
		return nil, rerr
	}
	return e, nil
}

// decodeTyped decodes the event of POST /v1/events/{type}: typ from the
// path, the body as its data, Content-Type as its datacontenttype
// (application/json by default), and the attributes of any ce- headers.
func decodeTyped(typ string, h http.Header, body []byte) (*event.Event, *requestError) {
	if err := event.ValidType(typ); err != nil {
		return nil, badRequest("path", "the event type in the path: "+strings.TrimPrefix(err.Error(), "event: "))
	}
	ct := h.Get("Content-Type")
	if isEventFormat(mediaType(ct)) {
		return nil, &requestError{status: http.StatusUnsupportedMediaType, field: "Content-Type", index: -1,
			msg: "POST /v1/events/{type} takes the data alone; post structured events and batches to /v1/events"}
	}
	e, rerr := fromHeaders(h)
	if rerr != nil {
		return nil, rerr
	}
	if e.Type != "" && e.Type != typ {
		return nil, badRequest("ce-type", fmt.Sprintf("header ce-type %q differs from the type in the path %q", e.Type, typ))
	}
	e.Type = typ
	if ct == "" && len(body) > 0 {
		ct = "application/json"
	}
	e.DataContentType = ct
	if rerr := setData(e, body); rerr != nil {
		return nil, rerr
	}
	return e, nil
}

// setData makes body the data of e; a JSON datacontenttype requires JSON.
func setData(e *event.Event, body []byte) *requestError {
	if len(body) == 0 {
		return nil
	}
	if e.DataContentType != "" && event.IsJSONContentType(e.DataContentType) && !json.Valid(body) {
		var v json.RawMessage
		err := json.Unmarshal(body, &v)
		return badRequest("body", fmt.Sprintf("Content-Type %q says JSON, but the body is not: %s",
			e.DataContentType, jsonError(err, "the data", "value")))
	}
	if e.DataContentType != "" && event.IsJSONContentType(e.DataContentType) {
		if path, msg, ok := strictJSON(body); !ok {
			if path != "" {
				msg = "the data, at " + path + ": " + msg
			}
			return badRequest("body", msg)
		}
	}
	e.Data = body
	return nil
}

// fromHeaders collects the attributes of the ce- headers of h.
func fromHeaders(h http.Header) (*event.Event, *requestError) {
	e := &event.Event{}
	for key, vals := range h {
		if len(key) <= len(headerPrefix) || !strings.EqualFold(key[:len(headerPrefix)], headerPrefix) {
			continue
		}
		name := strings.ToLower(key[len(headerPrefix):])
		field := "ce-" + name
		if len(vals) != 1 {
			return nil, badRequest(field, fmt.Sprintf("header %s is given %d times; give it once", field, len(vals)))
		}
		v, err := decodeHeaderValue(vals[0])
		if err != nil {
			return nil, badRequest(field, "header "+field+": "+err.Error())
		}
		if name == event.AttrDataContentType {
			return nil, badRequest(field, "in binary mode the data's content type is the Content-Type header; drop "+field)
		}
		if !isCore(name) {
			if event.ValidExtensionName(name) != nil {
				return nil, badRequest(field, "header "+field+": "+extNameRule)
			}
			if v == "" { // an empty extension is an absent one
				continue
			}
			if _, dup := e.Ext(name); dup {
				return nil, badRequest(field, "header "+field+" is given more than once; give it once")
			}
			e.Extensions = append(e.Extensions, event.Attr{Name: name, Value: v})
			continue
		}
		var dst *string
		switch name {
		case event.AttrID:
			dst = &e.ID
		case event.AttrSource:
			dst = &e.Source
		case event.AttrType:
			dst = &e.Type
		case event.AttrSpecVersion:
			dst = &e.SpecVersion
		case event.AttrSubject:
			dst = &e.Subject
		case event.AttrDataSchema:
			dst = &e.DataSchema
		case event.AttrTime:
			if v == "" {
				continue
			}
			if !e.Time.IsZero() {
				return nil, badRequest(field, "header "+field+" is given more than once; give it once")
			}
			t, err := event.ParseTime(v)
			if err != nil {
				return nil, badRequest(field, "header "+field+": "+timeError(v))
			}
			e.Time = t
			continue
		}
		if *dst != "" && v != "" {
			return nil, badRequest(field, "header "+field+" is given more than once; give it once")
		}
		if v != "" {
			*dst = v
		}
	}
	// Map order is random: sort, as the JSON codec does.
	slices.SortFunc(e.Extensions, func(a, b event.Attr) int { return strings.Compare(a.Name, b.Name) })
	return e, nil
}

// decodeHeaderValue decodes a ce- header value as the HTTP binding says
// (section 3.1.3.2): a double-quoted string is unquoted first, then one
// round of percent-decoding is done, and the result must be UTF-8.
//
// A '%' that does not start a %XX escape is kept as it is: some senders,
// the CloudEvents Go SDK among them, do not percent-encode, and a value such
// as "50% off" is better kept than refused.
func decodeHeaderValue(s string) (string, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var b strings.Builder
		in := s[1 : len(s)-1]
		for i := 0; i < len(in); i++ {
			c := in[i]
			switch c {
			case '\\':
				i++
				if i == len(in) {
					return "", errors.New("malformed quoted string: a trailing backslash")
				}
				c = in[i]
			case '"':
				return "", errors.New("malformed quoted string: an unescaped double quote inside")
			}
			b.WriteByte(c)
		}
		s = b.String()
	}
	if strings.IndexByte(s, '%') >= 0 {
		b := make([]byte, 0, len(s))
		for i := 0; i < len(s); i++ {
			if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
				i += 2
				continue
			}
			b = append(b, s[i])
		}
		s = string(b)
	}
	if !utf8.ValidString(s) {
		return "", errors.New("not valid UTF-8 once percent-decoded")
	}
	return s, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// mediaType returns the media type of a Content-Type value, lower-case,
// without parameters.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// Media types of the CloudEvents JSON event formats.
const (
	structuredJSON = "application/cloudevents+json"
	batchJSON      = "application/cloudevents-batch+json"
)

// isEventFormat reports whether mt is the media type of a CloudEvents event
// format (structured or batch), JSON or not.
func isEventFormat(mt string) bool {
	return mt == "application/cloudevents" || mt == "application/cloudevents-batch" ||
		strings.HasPrefix(mt, "application/cloudevents+") ||
		strings.HasPrefix(mt, "application/cloudevents-batch+")
}

// stamper fills in the attributes a producer may leave out.
type stamper struct {
	source string
	now    func() time.Time
}

// finish stamps what e lacks and checks it as the bus will: specversion
// 1.0, a type usable as a subject, attribute values that CloudEvents allows.
func (s *stamper) finish(e *event.Event, o origin) *requestError {
	switch e.SpecVersion {
	case "":
		e.SpecVersion = event.SpecVersion
	case event.SpecVersion:
	default:
		return o.errorf(event.AttrSpecVersion, "specversion %q is not supported: evhost speaks CloudEvents 1.0", e.SpecVersion)
	}
	if e.Type == "" {
		return o.errorf(event.AttrType, "%s is missing; it is required", o.what(event.AttrType))
	}
	if err := event.ValidType(e.Type); err != nil {
		return o.errorf(event.AttrType, "%s", strings.TrimPrefix(err.Error(), "event: "))
	}
	if err := event.ResolveDelay(e, s.now()); err != nil {
		attr := event.ExtDelay
		if ae, ok := err.(*event.AttrError); ok {
			attr = ae.Name
		}
		return o.errorf(attr, "%s", strings.TrimPrefix(err.Error(), "event: "))
	}
	event.Stamp(e, s.source, s.now())
	for _, a := range [...]event.Attr{
		{Name: event.AttrID, Value: e.ID},
		{Name: event.AttrSource, Value: e.Source},
		{Name: event.AttrSubject, Value: e.Subject},
		{Name: event.AttrDataContentType, Value: e.DataContentType},
		{Name: event.AttrDataSchema, Value: e.DataSchema},
	} {
		if reason := badValue(a.Value); reason != "" {
			return o.errorf(a.Name, "%s %s", o.what(a.Name), reason)
		}
	}
	for _, a := range e.Extensions {
		if reason := badValue(a.Value); reason != "" {
			return o.errorf(a.Name, "%s %s", o.what(a.Name), reason)
		}
	}
	if err := e.Validate(); err != nil { // a backstop: the checks above cover it
		return o.errorf("", "%s", strings.TrimPrefix(err.Error(), "event: "))
	}
	return nil
}

// badValue says why v cannot be a CloudEvents String, or "": it must be
// UTF-8 without control characters (U+0000-U+001F, U+007F-U+009F).
func badValue(v string) string {
	for _, r := range v {
		switch {
		case r == utf8.RuneError:
			if !utf8.ValidString(v) {
				return "is not valid UTF-8"
			}
		case r < 0x20 || r >= 0x7f && r <= 0x9f:
			return "contains a control character"
		}
	}
	return ""
}
