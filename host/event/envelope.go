package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// The envelope is the binary form of an event that crosses the plugin ABI
// (ABI v1, section 4):
//
//	attribute*  0x00  data
//	attribute := name_len u8 (1..255) | name | value_len u32 LE | value
//
// Data is every byte after the terminator.

// ErrMalformed is wrapped by every envelope decoding error.
var ErrMalformed = errors.New("event: malformed envelope")

// TimeFormat is the layout of the time attribute on the wire (RFC 3339).
const TimeFormat = time.RFC3339Nano

// EnvelopeSize returns the number of bytes AppendEnvelope appends for e.
func EnvelopeSize(e *Event) int {
	n := 1 + len(e.Data)
	n += attrSize(AttrID, e.ID) + attrSize(AttrSource, e.Source) +
		attrSize(AttrType, e.Type) + attrSize(AttrSpecVersion, e.SpecVersion) +
		attrSize(AttrSubject, e.Subject) + attrSize(AttrDataContentType, e.DataContentType) +
		attrSize(AttrDataSchema, e.DataSchema)
	if !e.Time.IsZero() {
		n += 1 + len(AttrTime) + 4 + timeLen(e.Time)
	}
	for _, a := range e.Extensions {
		n += attrSize(a.Name, a.Value)
	}
	return n
}

// timeLen returns the length of t formatted with TimeFormat, without
// formatting it: 19 bytes of date and clock, the fraction with its
// trailing zeros trimmed, and Z or a ±hh:mm offset.
func timeLen(t time.Time) int {
	if y := t.Year(); y < 0 || y > 9999 {
		var buf [64]byte
		return len(t.AppendFormat(buf[:0], TimeFormat))
	}
	n := 19
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		n += 1 + digits
	}
	if t.Location() == time.UTC {
		return n + 1 // Z
	}
	if _, off := t.Zone(); off == 0 {
		n++
	} else {
		n += 6
	}
	return n
}

// appendTime appends t formatted with TimeFormat. UTC times of years 0 to
// 9999, what the host stamps, take a fast path that writes the digits
// directly; the result is the same as t.AppendFormat(b, TimeFormat).
func appendTime(b []byte, t time.Time) []byte {
	if t.Location() != time.UTC {
		return t.AppendFormat(b, TimeFormat)
	}
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, TimeFormat)
	}
	hour, min, sec := t.Clock()
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+min/10), byte('0'+min%10), ':',
		byte('0'+sec/10), byte('0'+sec%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [9]byte
		for i := 8; i >= 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 9
		for frac[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, frac[:n]...)
	}
	return append(b, 'Z')
}

func attrSize(name, value string) int {
	if value == "" {
		return 0
	}
	return 1 + len(name) + 4 + len(value)
}

// AppendEnvelope appends the envelope encoding of e to dst. Attributes with
// empty values are left out. It does not allocate when dst has room for
// EnvelopeSize(e) more bytes.
func AppendEnvelope(dst []byte, e *Event) []byte {
	dst = appendAttr(dst, AttrID, e.ID)
	dst = appendAttr(dst, AttrSource, e.Source)
	dst = appendAttr(dst, AttrType, e.Type)
	dst = appendAttr(dst, AttrSpecVersion, e.SpecVersion)
	if !e.Time.IsZero() {
		var buf [64]byte
		dst = appendAttrBytes(dst, AttrTime, appendTime(buf[:0], e.Time))
	}
	dst = appendAttr(dst, AttrSubject, e.Subject)
	dst = appendAttr(dst, AttrDataContentType, e.DataContentType)
	dst = appendAttr(dst, AttrDataSchema, e.DataSchema)
	for _, a := range e.Extensions {
		dst = appendAttr(dst, a.Name, a.Value)
	}
	dst = append(dst, 0)
	return append(dst, e.Data...)
}

func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

func appendAttrBytes(dst []byte, name string, value []byte) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// AppendAttr appends one attribute in envelope encoding; callers that build
// envelopes by hand (HTTP messages, tests) end them with a 0x00 byte and
// the data.
func AppendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// WalkEnvelope calls fn for each attribute of the envelope b, in order, and
// returns the data that follows the terminator. Names and values alias b.
// It checks the framing, that names and values are valid UTF-8, and that
// no name is given twice.
func WalkEnvelope(b []byte, fn func(name, value []byte) error) (data []byte, err error) {
	// Names seen so far: a small slice, then a map for hostile inputs with
	// many attributes, so that the check stays linear.
	var seenArr [16]string
	seen := seenArr[:0]
	var seenMap map[string]struct{}
	for off := 0; ; {
		if off >= len(b) {
			return nil, fmt.Errorf("%w: missing 0x00 terminator", ErrMalformed)
		}
		nlen := int(b[off])
		off++
		if nlen == 0 {
			return b[off:], nil
		}
		if len(b)-off < nlen+4 {
			return nil, fmt.Errorf("%w: attribute at byte %d is truncated", ErrMalformed, off-1)
		}
		name := b[off : off+nlen]
		off += nlen
		vlen := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if uint64(vlen) > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: value of %q runs past the end (%d bytes, %d left)", ErrMalformed, name, vlen, len(b)-off)
		}
		value := b[off : off+int(vlen)]
		off += int(vlen)
		if !utf8.Valid(name) {
			return nil, fmt.Errorf("%w: attribute name is not UTF-8", ErrMalformed)
		}
		if !utf8.Valid(value) {
			return nil, fmt.Errorf("%w: value of %q is not UTF-8", ErrMalformed, name)
		}
		if !isMultiValued(name) {
			if seenMap != nil {
				if _, dup := seenMap[string(name)]; dup {
					return nil, fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
				}
				seenMap[string(name)] = struct{}{}
			} else {
				for _, s := range seen {
					if s == string(name) {
						return nil, fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
					}
				}
				if len(seen) < cap(seen) {
					seen = append(seen, string(name))
				} else {
					seenMap = make(map[string]struct{}, 2*len(seen))
					for _, s := range seen {
						seenMap[s] = struct{}{}
					}
					seenMap[string(name)] = struct{}{}
				}
			}
		}
		if fn != nil {
			if err := fn(name, value); err != nil {
				return nil, err
			}
		}
	}
}

// isMultiValued reports whether an attribute may repeat: HTTP headers in
// http_request messages.
func isMultiValued(name []byte) bool {
	return len(name) > 7 && string(name[:7]) == "header."
}

// DecodeEnvelope decodes an envelope into a new Event. Strings and data are
// copied: the result does not alias b. The time attribute, when present,
// must be RFC 3339.
func DecodeEnvelope(b []byte) (*Event, error) {
	e := &Event{}
	data, err := WalkEnvelope(b, func(name, value []byte) error {
		return e.setAttr(string(name), string(value))
	})
	if err != nil {
		return nil, err
	}
	if len(data) > 0 {
		e.Data = append([]byte(nil), data...)
	}
	return e, nil
}

// setAttr sets one attribute from its canonical string form.
func (e *Event) setAttr(name, value string) error {
	switch name {
	case AttrID:
		e.ID = value
	case AttrSource:
		e.Source = value
	case AttrType:
		e.Type = value
	case AttrSpecVersion:
		e.SpecVersion = value
	case AttrTime:
		t, err := time.Parse(time.RFC3339Nano, value)
		if err != nil {
			return fmt.Errorf("%w: time %q is not RFC 3339", ErrMalformed, value)
		}
		e.Time = t
	case AttrSubject:
		e.Subject = value
	case AttrDataContentType:
		e.DataContentType = value
	case AttrDataSchema:
		e.DataSchema = value
	default:
		if value != "" { // an empty extension is an absent one
			e.Extensions = append(e.Extensions, Attr{Name: name, Value: value})
		}
	}
	return nil
}
