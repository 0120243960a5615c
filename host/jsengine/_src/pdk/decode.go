package pdk

import (
	"encoding/binary"
	"fmt"
	"unsafe"
)

// This file is the per-event decoder. It runs for every event inside
// WebAssembly, where Go code is several times slower than natively and
// where every taken branch goes through the function's dispatch table
// (the Go wasm backend compiles a function into one loop around a
// br_table), so it is written for few instructions: no copies, no
// allocation, unsafe loads after a bounds check instead of a check per
// byte, and straight-line, branch-free code for the attributes in the order
// in which the host writes them. RATIONALE.md ("Why is the per-event path
// written the way it is?") has the measurements.

// decode decodes the envelope b into e, replacing all of it; e's Extensions
// map is reused. The strings of e (names and values of the extensions too)
// and e.Data alias b.
//
// decode checks the framing, repeated names and the presence of the
// terminator, as the ABI requires, but it trusts the host on the rest: it
// checks neither that names and values are UTF-8 nor the form of the time
// (Event.Time parses it when asked). UnmarshalBinary, for input from
// anywhere, checks both.
func decode(e *Event, b []byte) error {
	n := len(b)
	if cap(b)-n < lookahead {
		return decodeSlow(e, b) // no room to read ahead
	}
	// The context attributes in the host's order, each one taken or
	// skipped without a branch: when the attribute at off is not the
	// expected one, hit is 0, the field gets "" and off stays. An attribute
	// is recognised by its first 8 or 16 bytes (key* below). Each step reads
	// lookahead bytes at off <= n, so up to lookahead bytes past the end of
	// b, within its capacity; an attribute is taken only if it lies in b.
	p := unsafe.Pointer(unsafe.SliceData(b))
	off := 0
	var vs, vl int
	var hit uint64
	// id
	hit = match(ld64(p, off)&0xffffff ^ keyID)
	vs, vl = off+7&int(hit), int(ld32(p, off+3))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.ID, off = str(p, vs, vl), vs+vl
	// source
	hit = match(ld64(p, off)&0xffffffffffffff ^ keySource)
	vs, vl = off+11&int(hit), int(ld32(p, off+7))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.Source, off = str(p, vs, vl), vs+vl
	// type
	hit = match(ld64(p, off)&0xffffffffff ^ keyType)
	vs, vl = off+9&int(hit), int(ld32(p, off+5))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.Type, off = str(p, vs, vl), vs+vl
	// specversion
	hit = match((ld64(p, off) ^ keySpecVersion) | (ld64(p, off+8)&0xffffffff ^ keySpecVersionHi))
	vs, vl = off+16&int(hit), int(ld32(p, off+12))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.SpecVersion, off = str(p, vs, vl), vs+vl
	// time
	hit = match(ld64(p, off)&0xffffffffff ^ keyTime)
	vs, vl = off+9&int(hit), int(ld32(p, off+5))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.rawTime, off = str(p, vs, vl), vs+vl
	// subject
	hit = match(ld64(p, off) ^ keySubject)
	vs, vl = off+12&int(hit), int(ld32(p, off+8))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.Subject, off = str(p, vs, vl), vs+vl
	// datacontenttype
	hit = match((ld64(p, off) ^ keyDataContentType) | (ld64(p, off+8) ^ keyDataContentTypeHi))
	vs, vl = off+20&int(hit), int(ld32(p, off+16))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.DataContentType, off = str(p, vs, vl), vs+vl
	// dataschema
	hit = match((ld64(p, off) ^ keyDataSchema) | (ld64(p, off+8)&0xffffff ^ keyDataSchemaHi))
	vs, vl = off+15&int(hit), int(ld32(p, off+11))&int(hit)
	if vs+vl > n {
		return decodeSlow(e, b)
	}
	e.DataSchema, off = str(p, vs, vl), vs+vl
	if off < n && b[off] == 0 {
		// The usual end: no extensions, nothing out of the host's order.
		if len(e.Extensions) != 0 {
			clear(e.Extensions)
		}
		e.Data = nil
		if off+1 < n {
			e.Data = b[off+1 : n : n]
		}
		return nil
	}
	return decodeRest(e, b, off)
}

// The first 16 bytes of each context attribute, the length byte and the
// name, as two little-endian words (Hi is 0 for names of up to 7 bytes);
// decode masks off what follows a shorter name. TestDecodeKeys checks them.
const (
	keyID, keyIDHi                           = 0x646902, 0x0                          // 2, "id"
	keySource, keySourceHi                   = 0x656372756f7306, 0x0                  // 6, "source"
	keyType, keyTypeHi                       = 0x6570797404, 0x0                      // 4, "type"
	keySpecVersion, keySpecVersionHi         = 0x726576636570730b, 0x6e6f6973         // 11, "specversion"
	keyTime, keyTimeHi                       = 0x656d697404, 0x0                      // 4, "time"
	keySubject, keySubjectHi                 = 0x7463656a62757307, 0x0                // 7, "subject"
	keyDataContentType, keyDataContentTypeHi = 0x6e6f63617461640f, 0x65707974746e6574 // 15, "datacontenttype"
	keyDataSchema, keyDataSchemaHi           = 0x686373617461640a, 0x616d65           // 10, "dataschema"
)

// lookahead is how many bytes decode reads at the start of an attribute,
// whatever the attribute: the length byte and the longest context
// attribute's name (16 bytes), and the value length after that name. It
// reads them even at the end of the envelope, so the envelope needs that
// much spare capacity for the fast path: the event blocks of evhost_alloc
// have envelopePadding.
const lookahead = 1 + len(AttrDataContentType) + 4

// envelopePadding is the spare capacity given to envelopes for decode
// (hostabi.Padding, for pdktest, is the same).
const envelopePadding = 32

var _ [envelopePadding - lookahead]struct{} // lookahead <= envelopePadding

// match returns all ones when x is 0 (the attribute is the expected one),
// else 0: a mask, to take or skip an attribute without a branch.
func match(x uint64) uint64 { return ^uint64(int64(x|-x) >> 63) }

// ld64 and ld32 load little-endian integers at p+off (one load each where
// unaligned loads are allowed, as in WebAssembly); str returns the n bytes
// at p+off as a string. The caller checks the bounds.
func ld64(p unsafe.Pointer, off int) uint64 {
	return binary.LittleEndian.Uint64((*[8]byte)(unsafe.Add(p, off))[:])
}
func ld32(p unsafe.Pointer, off int) uint32 {
	return binary.LittleEndian.Uint32((*[4]byte)(unsafe.Add(p, off))[:])
}
func str(p unsafe.Pointer, off, n int) string {
	return unsafe.String((*byte)(unsafe.Add(p, off)), n)
}

// Indices of the context attributes in the seen bits.
const (
	idxID = iota
	idxSource
	idxType
	idxSpecVersion
	idxTime
	idxSubject
	idxDataContentType
	idxDataSchema
)

// contextIndex returns the idx* of the context attribute name, or -1.
func contextIndex(name string) int {
	switch name {
	case AttrID:
		return idxID
	case AttrSource:
		return idxSource
	case AttrType:
		return idxType
	case AttrSpecVersion:
		return idxSpecVersion
	case AttrTime:
		return idxTime
	case AttrSubject:
		return idxSubject
	case AttrDataContentType:
		return idxDataContentType
	case AttrDataSchema:
		return idxDataSchema
	}
	return -1
}

// testDecodeRest, when set by a test, is called by decodeRest: the tests
// check that envelopes in the host's order never get there.
var testDecodeRest func()

// decodeSlow decodes b without the fast path: an envelope without spare
// capacity for it, or one in which the fast path found a value running
// past the end (to report the error).
func decodeSlow(e *Event, b []byte) error {
	e.ID, e.Source, e.Type, e.SpecVersion, e.rawTime = "", "", "", "", ""
	e.Subject, e.DataContentType, e.DataSchema = "", "", ""
	return decodeRest(e, b, 0)
}

// decodeRest decodes the attributes from offset off on, the terminator and
// the data: extensions, context attributes out of the host's order, and
// all of an envelope that does not take the fast path. The attributes
// before off are context attributes that decode took, each once.
func decodeRest(e *Event, b []byte, off int) error {
	if testDecodeRest != nil {
		testDecodeRest()
	}
	if len(e.Extensions) != 0 {
		clear(e.Extensions)
	}
	p := unsafe.Pointer(unsafe.SliceData(b))
	start := off
	var seen uint32 // a bit for each context attribute decoded from start on
	for {
		if off >= len(b) {
			return fmt.Errorf("%w: missing 0x00 terminator", ErrMalformed)
		}
		nlen := int(b[off])
		if nlen == 0 {
			off++
			break
		}
		if len(b)-off-1 < nlen+4 {
			return fmt.Errorf("%w: attribute at byte %d is truncated", ErrMalformed, off)
		}
		name := str(p, off+1, nlen)
		vstart := off + 1 + nlen + 4
		vlen := int(ld32(p, vstart-4))
		if vlen > len(b)-vstart {
			return fmt.Errorf("%w: value of %q runs past the end", ErrMalformed, name)
		}
		off = vstart + vlen
		value := str(p, vstart, vlen)
		idx := contextIndex(name)
		if idx < 0 {
			// An extension. Its name aliases b as well: the map is
			// cleared before b changes.
			if e.Extensions == nil {
				e.Extensions = make(map[string]string)
			}
			had := len(e.Extensions)
			e.Extensions[name] = value
			if len(e.Extensions) == had {
				return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
			}
			continue
		}
		// A context attribute out of the host's order (rare): given twice
		// if seen here already or taken by decode before start.
		if seen&(1<<idx) != 0 || tookBefore(b, start, idx) {
			return fmt.Errorf("%w: attribute %q given twice", ErrMalformed, name)
		}
		seen |= 1 << idx
		switch idx {
		case idxID:
			e.ID = value
		case idxSource:
			e.Source = value
		case idxType:
			e.Type = value
		case idxSpecVersion:
			e.SpecVersion = value
		case idxTime:
			e.rawTime = value
		case idxSubject:
			e.Subject = value
		case idxDataContentType:
			e.DataContentType = value
		case idxDataSchema:
			e.DataSchema = value
		}
	}
	e.Data = nil
	if off < len(b) {
		e.Data = b[off:len(b):len(b)]
	}
	return nil
}

// tookBefore reports whether the attributes of b before offset end, which
// decode took, include the context attribute idx.
func tookBefore(b []byte, end, idx int) bool {
	for o := 0; o < end; {
		nlen := int(b[o])
		if contextIndex(string(b[o+1:o+1+nlen])) == idx {
			return true
		}
		o += 1 + nlen + 4 + int(binary.LittleEndian.Uint32(b[o+1+nlen:]))
	}
	return false
}
