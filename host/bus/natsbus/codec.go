package natsbus

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/evhost/evhost/host/event"
)

// Messages carry events in the CloudEvents binary content mode: each
// attribute is a header named ce-<attribute> and the data is the message
// body, as the CloudEvents SDK for Go writes them on NATS. Header values
// are percent-encoded as the CloudEvents HTTP binding prescribes (space,
// '"', '%', control characters and non-ASCII bytes), since a NATS header
// line cannot carry line breaks or surrounding spaces. See RATIONALE.md,
// "Why binary mode?".

// Header names.
const (
	hdrCE          = "ce-"
	hdrSpecVersion = "ce-specversion"
	hdrMsgID       = "Nats-Msg-Id"
	// hdrContentType is where some producers put datacontenttype in
	// binary mode, and where structured mode says so.
	hdrContentType = "content-type"

	// Headers of dead letters, besides the event's.
	hdrSub        = "Evhost-Subscription"
	hdrReason     = "Evhost-Reason"
	hdrAttempts   = "Evhost-Attempts"
	hdrTerminated = "Evhost-Terminated"
	hdrEventSeq   = "Evhost-Event-Seq"

	// Status headers of the NATS client.
	hdrStatus      = "Status"
	hdrDescription = "Description"
)

// errMalformed is wrapped by decodeEvent's errors.
var errMalformed = errors.New("natsbus: message is not a CloudEvent")

// eventHeader returns the headers of e in binary mode, with the
// Nats-Msg-Id id unless it is empty, and room for extra more headers.
func eventHeader(e *event.Event, id string, extra int) nats.Header {
	n := 5 + len(e.Extensions) + extra
	if !e.Time.IsZero() {
		n++
	}
	for _, s := range [...]string{e.Subject, e.DataContentType, e.DataSchema} {
		if s != "" {
			n++
		}
	}
	h := make(nats.Header, n)
	// One backing array for every value slice: two allocations instead
	// of one per header.
	vals := make([]string, 0, n)
	set := func(k, v string) {
		vals = append(vals, escape(v))
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	if id != "" {
		set(hdrMsgID, id)
	}
	set("ce-id", e.ID)
	set("ce-source", e.Source)
	set("ce-type", e.Type)
	set(hdrSpecVersion, e.SpecVersion)
	if !e.Time.IsZero() {
		var buf [40]byte
		set("ce-time", string(e.Time.AppendFormat(buf[:0], event.TimeFormat)))
	}
	if e.Subject != "" {
		set("ce-subject", e.Subject)
	}
	if e.DataContentType != "" {
		set("ce-datacontenttype", e.DataContentType)
	}
	if e.DataSchema != "" {
		set("ce-dataschema", e.DataSchema)
	}
	for _, a := range e.Extensions {
		set(hdrCE+a.Name, a.Value)
	}
	return h
}

// setHeader sets one header value, percent-encoded.
func setHeader(h nats.Header, k, v string) { h[k] = []string{escape(v)} }

// getHeader returns the first value of k, percent-decoded.
func getHeader(h nats.Header, k string) string {
	if vs := h[k]; len(vs) > 0 {
		return unescape(vs[0])
	}
	return ""
}

// decodeEvent decodes the event of a message: in binary mode when it has a
// ce-specversion header, in structured mode (the CloudEvents JSON format)
// otherwise. It validates the event, and wraps errMalformed.
func decodeEvent(h nats.Header, data []byte) (*event.Event, error) {
	e, err := decodeBinary(h, data)
	if err == nil && e == nil {
		e, err = event.DecodeJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if err := e.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if err := event.ValidType(e.Type); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return e, nil
}

// decodeBinary decodes a binary-mode event, or returns nil, nil when h
// has no ce-specversion header.
func decodeBinary(h nats.Header, data []byte) (*event.Event, error) {
	if len(h[hdrSpecVersion]) == 0 && h.Get("Ce-Specversion") == "" {
		return nil, nil
	}
	e := &event.Event{}
	var contentType string
	for k, vs := range h {
		if len(vs) == 0 {
			continue
		}
		if !hasCEPrefix(k) {
			if strings.EqualFold(k, hdrContentType) {
				contentType = vs[0]
			}
			continue
		}
		name := strings.ToLower(k[len(hdrCE):])
		v := unescape(vs[0])
		switch name {
		case event.AttrID:
			e.ID = v
		case event.AttrSource:
			e.Source = v
		case event.AttrType:
			e.Type = v
		case event.AttrSpecVersion:
			e.SpecVersion = v
		case event.AttrTime:
			t, err := event.ParseTime(v)
			if err != nil {
				return nil, fmt.Errorf("attribute time: %v", err)
			}
			e.Time = t
		case event.AttrSubject:
			e.Subject = v
		case event.AttrDataContentType:
			e.DataContentType = v
		case event.AttrDataSchema:
			e.DataSchema = v
		default:
			if err := event.ValidExtensionName(name); err != nil {
				return nil, err
			}
			e.Extensions = append(e.Extensions, event.Attr{Name: name, Value: v})
		}
	}
	if e.DataContentType == "" {
		e.DataContentType = contentType
	}
	// Header order is lost in a map: extensions come back sorted by
	// name, as the JSON decoder returns them.
	slices.SortFunc(e.Extensions, func(a, b event.Attr) int { return strings.Compare(a.Name, b.Name) })
	if len(data) > 0 {
		e.Data = data
	}
	return e, nil
}

func hasCEPrefix(k string) bool {
	return len(k) > 3 && k[0]|0x20 == 'c' && k[1]|0x20 == 'e' && k[2] == '-'
}

// msgID returns the Nats-Msg-Id of an event: 128 bits of SHA-256 of its
// source and id, so that every id has the same short length (the server
// keeps each one in memory for the dedup window) and no producer can
// choose one that collides with another's.
func msgID(source, id string) string {
	var buf [256]byte
	b := buf[:0]
	if len(source)+len(id)+8 > len(buf) {
		b = make([]byte, 0, len(source)+len(id)+8)
	}
	b = appendLen(b, len(source))
	b = append(b, source...)
	b = append(b, id...)
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func appendLen(b []byte, n int) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

// escape percent-encodes what a header value may not carry as is: bytes
// outside printable ASCII, space, '"' and '%' (CloudEvents HTTP binding,
// 3.1.3.2). It returns s itself when nothing needs encoding.
func escape(s string) string {
	i := 0
	for i < len(s) && !needsEscape(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		if c := s[i]; needsEscape(c) {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func needsEscape(c byte) bool { return c <= ' ' || c == '"' || c == '%' || c >= 0x7f }

// unescape reverses escape; a '%' not followed by two hex digits is kept
// as is. It returns s itself when it holds no '%'.
func unescape(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(hi<<4 | lo)
				i += 2
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
