// Package envelope is the binary encoding of events, emits and HTTP messages
// of the evhost plugin ABI v1 (section 4):
//
//	attribute*  0x00  data
//	attribute := name_len u8 (1..255) | name (UTF-8) | value_len u32 LE | value (UTF-8)
//	data      := every byte after the 0x00 terminator (may be empty)
//
// Both the guest path of package pdk (inside WebAssembly) and the native test
// harness (package pdktest, playing the host) go through this one codec, so
// a handler tested natively sees exactly the bytes and the checks it sees in
// production. It depends on the standard library only and imports nothing
// else of the PDK.
package envelope

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// ErrMalformed is wrapped by every error of this package. Package pdk
// exports the same value as pdk.ErrMalformed, the meaning of the ABI error
// code -2.
var ErrMalformed = errors.New("pdk: malformed input")

// MaxNameLen is the longest attribute name the encoding can carry.
const MaxNameLen = 255

// MultiValuedPrefix starts the only attribute names that may repeat: HTTP
// headers in http_request messages.
const MultiValuedPrefix = "header."

// Attr locates one attribute inside an envelope by byte offsets: the name is
// b[NameStart:NameEnd] and the value b[ValueStart:ValueEnd]. Offsets (rather
// than subslices) let a caller convert the attribute block to one string
// once and take every name and value as a substring of it, which costs no
// further allocation.
type Attr struct {
	NameStart, NameEnd, ValueStart, ValueEnd uint32
}

// Scan checks the framing of the envelope b and appends the location of
// each attribute, in order, to dst. It returns the extended slice and the
// offset of the data (the byte after the 0x00 terminator), so the data is
// b[dataStart:]. Names must be 1 to 255 bytes, names and values valid UTF-8.
// Scan does not check for repeated names (see Decode and CheckUnique). It
// allocates nothing when dst has room.
func Scan(dst []Attr, b []byte) (attrs []Attr, dataStart int, err error) {
	off := 0
	for {
		if off >= len(b) {
			return dst, 0, fmt.Errorf("%w: missing 0x00 terminator after %d attributes", ErrMalformed, len(dst))
		}
		nlen := int(b[off])
		off++
		if nlen == 0 {
			return dst, off, nil
		}
		if len(b)-off < nlen+4 {
			return dst, 0, fmt.Errorf("%w: attribute at byte %d is truncated", ErrMalformed, off-1)
		}
		nameStart := off
		off += nlen
		vlen := binary.LittleEndian.Uint32(b[off:])
		off += 4
		if uint64(vlen) > uint64(len(b)-off) {
			return dst, 0, fmt.Errorf("%w: value of %q runs past the end (%d bytes, %d left)",
				ErrMalformed, b[nameStart:nameStart+nlen], vlen, len(b)-off)
		}
		a := Attr{
			NameStart:  uint32(nameStart),
			NameEnd:    uint32(nameStart + nlen),
			ValueStart: uint32(off),
			ValueEnd:   uint32(off) + vlen,
		}
		off += int(vlen)
		if !utf8.Valid(b[a.NameStart:a.NameEnd]) {
			return dst, 0, fmt.Errorf("%w: attribute name at byte %d is not UTF-8", ErrMalformed, nameStart)
		}
		if !utf8.Valid(b[a.ValueStart:a.ValueEnd]) {
			return dst, 0, fmt.Errorf("%w: value of %q is not UTF-8", ErrMalformed, b[a.NameStart:a.NameEnd])
		}
		dst = append(dst, a)
	}
}

// Field is one decoded attribute.
type Field struct {
	Name, Value string
}

// Decode decodes the envelope b into its attributes, in order, and its
// data. Names and values are copies; data aliases b (nil when empty). A
// name given twice is malformed, except names that start with "header."
// (multi-valued HTTP headers).
func Decode(b []byte) (fields []Field, data []byte, err error) {
	var buf [16]Attr
	attrs, dataStart, err := Scan(buf[:0], b)
	if err != nil {
		return nil, nil, err
	}
	hdr := string(b[:dataStart])
	fields = make([]Field, len(attrs))
	for i, a := range attrs {
		fields[i] = Field{Name: hdr[a.NameStart:a.NameEnd], Value: hdr[a.ValueStart:a.ValueEnd]}
	}
	if err := CheckUnique(fields); err != nil {
		return nil, nil, err
	}
	if dataStart < len(b) {
		data = b[dataStart:]
	}
	return fields, data, nil
}

// CheckUnique reports a name that fields gives twice, other than names
// that start with "header.".
func CheckUnique(fields []Field) error {
	if len(fields) <= 16 {
		for i, f := range fields {
			if strings.HasPrefix(f.Name, MultiValuedPrefix) {
				continue
			}
			for _, g := range fields[:i] {
				if g.Name == f.Name {
					return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, f.Name)
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		if strings.HasPrefix(f.Name, MultiValuedPrefix) {
			continue
		}
		if _, dup := seen[f.Name]; dup {
			return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, f.Name)
		}
		seen[f.Name] = struct{}{}
	}
	return nil
}

// CheckName reports whether name can be encoded: 1 to 255 bytes of UTF-8.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return fmt.Errorf("%w: attribute name %q must be 1 to %d bytes", ErrMalformed, name, MaxNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: attribute name %q is not UTF-8", ErrMalformed, name)
	}
	return nil
}

// AppendAttr appends one attribute. The caller has checked name with
// CheckName; the value is written as given.
func AppendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(value)))
	return append(dst, value...)
}

// AppendEnd appends the 0x00 terminator and the data.
func AppendEnd(dst, data []byte) []byte {
	dst = append(dst, 0)
	return append(dst, data...)
}

// Append appends the envelope of fields, in order, and data to dst. It
// checks the names (CheckName) but not that they are unique or that values
// are UTF-8: the receiving side does (the host answers -2).
func Append(dst []byte, fields []Field, data []byte) ([]byte, error) {
	for _, f := range fields {
		if err := CheckName(f.Name); err != nil {
			return dst, err
		}
		if uint64(len(f.Value)) > math.MaxUint32 {
			return dst, fmt.Errorf("%w: value of %q is longer than 4 GiB", ErrMalformed, f.Name)
		}
		dst = AppendAttr(dst, f.Name, f.Value)
	}
	return AppendEnd(dst, data), nil
}
