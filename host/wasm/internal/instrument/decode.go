package instrument

import "unicode/utf8"

// decoder reads the WebAssembly binary format from b, starting at p. Offsets
// are absolute offsets into the module being rewritten (b is a prefix of it,
// cut at the end of the span being decoded), so errors name a byte position
// that a hex dump of the input shows.
//
// Every read checks bounds and returns an error instead of panicking, and
// every read that succeeds consumes at least one byte, so that loops driven
// by a count read from the input end when the input does.
type decoder struct {
	b []byte
	p int
}

// sub returns a decoder for the n bytes at the current position and moves
// past them.
func (d *decoder) sub(n uint32, what string) (decoder, error) {
	if uint64(n) > uint64(len(d.b)-d.p) {
		return decoder{}, malformed(d.p, "%s of %d bytes runs past its enclosing section", what, n)
	}
	s := decoder{b: d.b[:d.p+int(n)], p: d.p}
	d.p += int(n)
	return s, nil
}

// done reports whether the decoder has consumed its span.
func (d *decoder) done() bool { return d.p >= len(d.b) }

// expectEnd returns an error if bytes remain in the span.
func (d *decoder) expectEnd(what string) error {
	if d.p != len(d.b) {
		return malformed(d.p, "%d unexpected bytes at the end of %s", len(d.b)-d.p, what)
	}
	return nil
}

// byte reads one byte.
func (d *decoder) byte() (byte, error) {
	if d.p >= len(d.b) {
		return 0, malformed(d.p, "unexpected end of input")
	}
	c := d.b[d.p]
	d.p++
	return c, nil
}

// skip moves past n bytes.
func (d *decoder) skip(n int) error {
	if n > len(d.b)-d.p {
		return malformed(d.p, "unexpected end of input: want %d bytes, have %d", n, len(d.b)-d.p)
	}
	d.p += n
	return nil
}

// u32 decodes an unsigned LEB128 value of at most 32 bits. Encodings longer
// than 5 bytes, or whose last byte sets bits above bit 31, are rejected, as
// the specification requires.
func (d *decoder) u32() (uint32, error) {
	if d.p < len(d.b) && d.b[d.p] < 0x80 { // one byte: most indices
		d.p++
		return uint32(d.b[d.p-1]), nil
	}
	return d.u32Long()
}

// u32Long is u32 for encodings of more than one byte.
func (d *decoder) u32Long() (uint32, error) {
	start := d.p
	var v uint32
	for i := 0; ; i++ {
		if d.p >= len(d.b) {
			return 0, malformed(start, "truncated LEB128 integer")
		}
		c := d.b[d.p]
		d.p++
		if i == 4 && c&0xf0 != 0 {
			return 0, malformed(start, "LEB128 integer too long or too large for 32 bits")
		}
		v |= uint32(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// u64 decodes an unsigned LEB128 value of at most 64 bits.
func (d *decoder) u64() (uint64, error) {
	start := d.p
	var v uint64
	for i := 0; ; i++ {
		if d.p >= len(d.b) {
			return 0, malformed(start, "truncated LEB128 integer")
		}
		c := d.b[d.p]
		d.p++
		if i == 9 && c&0xfe != 0 {
			return 0, malformed(start, "LEB128 integer too long or too large for 64 bits")
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			return v, nil
		}
	}
}

// signed decodes a signed LEB128 value of the given width in bits (32, 33
// or 64). In the last permitted byte the bits beyond the width must repeat
// the sign bit.
func (d *decoder) signed(bits int) (int64, error) {
	start := d.p
	maxBytes := (bits + 6) / 7
	var v int64
	shift := 0
	for i := 0; ; i++ {
		if d.p >= len(d.b) {
			return 0, malformed(start, "truncated LEB128 integer")
		}
		c := d.b[d.p]
		d.p++
		if i == maxBytes-1 {
			// Bits of c that lie at or above the sign bit of the value:
			// all zero (non-negative) or all one (negative), and no
			// continuation.
			used := bits - 7*i // value bits carried by this byte, 1..7
			mask := byte(0x7f) &^ (byte(1)<<(used-1) - 1)
			if c&0x80 != 0 || (c&mask != 0 && c&mask != mask) {
				return 0, malformed(start, "LEB128 integer too long or too large for %d bits", bits)
			}
		}
		v |= int64(c&0x7f) << shift
		shift += 7
		if c&0x80 == 0 {
			if shift < 64 && c&0x40 != 0 {
				v |= -1 << shift
			}
			return v, nil
		}
	}
}

// name decodes a vec(byte) and returns it. Names are not checked for UTF-8
// here: only the name of a custom section is, because that decides how the
// section is treated.
func (d *decoder) name() ([]byte, error) {
	n, err := d.u32()
	if err != nil {
		return nil, err
	}
	if uint64(n) > uint64(len(d.b)-d.p) {
		return nil, malformed(d.p, "name of %d bytes runs past its section", n)
	}
	s := d.b[d.p : d.p+int(n)]
	d.p += int(n)
	return s, nil
}

// count decodes the length of a vector whose elements take at least one
// byte each, and rejects lengths that cannot fit in what is left.
func (d *decoder) count(what string) (uint32, error) {
	start := d.p
	n, err := d.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n) > uint64(len(d.b)-d.p) {
		return 0, malformed(start, "%s count %d exceeds the remaining %d bytes", what, n, len(d.b)-d.p)
	}
	return n, nil
}

// Value type encodings (single byte forms) and the prefixes of typed
// references.
const (
	valI32       = 0x7f
	valI64       = 0x7e
	valF32       = 0x7d
	valF64       = 0x7c
	valV128      = 0x7b
	valFuncref   = 0x70
	valExternref = 0x6f
	valExnref    = 0x69
	refNullable  = 0x63
	refNonNull   = 0x64
	blockEmpty   = 0x40
)

// valtype decodes a value type: a number, vector or reference type in the
// one-byte form, or (ref null? ht) of the typed function references proposal.
func (d *decoder) valtype() error {
	start := d.p
	c, err := d.byte()
	if err != nil {
		return err
	}
	switch c {
	case valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref, valExnref:
		return nil
	case refNullable, refNonNull:
		_, err := d.signed(33) // heap type
		return err
	}
	return unsupported(start, "value type 0x%02x", c)
}

// blocktype decodes the type of a block, loop, if or try_table: empty, a
// value type, or a type index (s33, non-negative) for multi-value blocks.
func (d *decoder) blocktype() error {
	start := d.p
	if d.p < len(d.b) && (d.b[d.p] == refNullable || d.b[d.p] == refNonNull) {
		return d.valtype()
	}
	v, err := d.signed(33)
	if err != nil {
		return err
	}
	if v >= 0 {
		return nil // type index
	}
	switch byte(v & 0x7f) {
	case blockEmpty, valI32, valI64, valF32, valF64, valV128, valFuncref, valExternref, valExnref:
		if v >= -64 {
			return nil
		}
	}
	return unsupported(start, "block type %d", v)
}

// limits decodes a limits structure and returns its fields. Flag bit 0 says a
// maximum follows, bit 1 marks shared memory (threads), bit 2 a 64-bit index
// type (memory64), whose bounds are u64.
func (d *decoder) limits() (flags byte, min, max uint64, minEnd int, err error) {
	start := d.p
	if flags, err = d.byte(); err != nil {
		return
	}
	if flags > 7 {
		err = unsupported(start, "limits flags 0x%02x", flags)
		return
	}
	read := func() (uint64, error) {
		if flags&4 != 0 {
			return d.u64()
		}
		v, err := d.u32()
		return uint64(v), err
	}
	if min, err = read(); err != nil {
		return
	}
	minEnd = d.p
	if flags&1 != 0 {
		max, err = read()
	}
	return
}

// validUTF8 reports whether b is valid UTF-8, as names must be.
func validUTF8(b []byte) bool { return utf8.Valid(b) }

// appendU32 appends v in the shortest unsigned LEB128 encoding.
func appendU32(dst []byte, v uint32) []byte { return appendU64(dst, uint64(v)) }

// appendU64 appends v in the shortest unsigned LEB128 encoding.
func appendU64(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

// appendS32 appends v in the shortest signed LEB128 encoding.
func appendS32(dst []byte, v int32) []byte {
	x := int64(v)
	for {
		c := byte(x & 0x7f)
		x >>= 7
		if (x == 0 && c&0x40 == 0) || (x == -1 && c&0x40 != 0) {
			return append(dst, c)
		}
		dst = append(dst, c|0x80)
	}
}

// appendName appends s as a vec(byte).
func appendName(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}
