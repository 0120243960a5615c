package instrument

import (
	"cmp"
	"slices"
	"strings"
)

// appendSection appends a section with its id and size.
func appendSection(out []byte, id byte, payload []byte) []byte {
	out = append(out, id)
	out = appendU32(out, uint32(len(payload)))
	return append(out, payload...)
}

// appendTickImport appends the import of the tick function.
func (m *module) appendTickImport(dst []byte) []byte {
	dst = appendName(dst, m.opt.TickModule)
	dst = appendName(dst, m.opt.TickName)
	dst = append(dst, 0x00)
	return appendU32(dst, m.tickType)
}

// appendCounterGlobal appends the counter global.
func (m *module) appendCounterGlobal(dst []byte) []byte {
	dst = append(dst, valI32, 0x01, 0x41)
	dst = appendS32(dst, m.opt.Fuel)
	return append(dst, 0x0b)
}

// funcIndex maps a function index of the input to the output, where the
// tick import sits after the imported functions.
func (m *module) funcIndex(idx uint32, at int) (uint32, error) {
	if idx < m.funcImports {
		return idx, nil
	}
	if uint64(idx) >= uint64(m.funcImports)+uint64(m.funcs) {
		return 0, malformed(at, "function index %d out of range (%d functions)", idx, m.funcImports+m.funcs)
	}
	return idx + 1, nil
}

// funcRef decodes a function index and appends its rewritten form.
func (m *module) funcRef(d *decoder, dst []byte) ([]byte, error) {
	at := d.p
	idx, err := d.u32()
	if err != nil {
		return dst, err
	}
	idx, err = m.funcIndex(idx, at)
	return appendU32(dst, idx), err
}

// tables rewrites the table section: tables with an initialiser
// expression (typed function references) may hold ref.func, and with
// Options.MaxTableElements each table's maximum is capped (see Options).
func (m *module) tables(d *decoder) error {
	n, err := d.count("table")
	if err != nil {
		return err
	}
	m.sec = appendU32(m.sec, n)
	limit := uint64(m.opt.MaxTableElements)
	spare := limit - m.tableMins // checked by scanTables
	for i := uint32(0); i < n; i++ {
		var lim tableLimits
		if _, err := m.tableType(d, &lim); err != nil {
			return err
		}
		m.sec = append(m.sec, d.b[lim.start:lim.at]...)
		end := lim.init
		if end < 0 {
			end = d.p
		}
		if limit == 0 {
			m.sec = append(m.sec, d.b[lim.at:end]...)
		} else {
			max := lim.min + spare
			if lim.flags&1 != 0 && lim.max < max {
				max = lim.max
			}
			spare -= max - lim.min
			m.info.TableElements += max
			m.sec = append(m.sec, lim.flags|1)
			m.sec = append(m.sec, d.b[lim.at+1:lim.minEnd]...)
			m.sec = appendU64(m.sec, max)
		}
		if lim.init >= 0 {
			if m.sec, err = m.constExpr(&decoder{b: d.b[:d.p], p: lim.init}, m.sec); err != nil {
				return err
			}
		}
	}
	return d.expectEnd("table section")
}

// tableLimits locates the parts of a table type in the input.
type tableLimits struct {
	start, at, minEnd, init int // table, its limits, the end of min, its initialiser (-1: none)
	flags                   byte
	min, max                uint64
}

// tableType decodes a table type and its initialiser, if any, and returns
// the table's initial size; lim, when not nil, receives where its parts are.
func (m *module) tableType(d *decoder, lim *tableLimits) (uint64, error) {
	var l tableLimits
	l.start, l.init = d.p, -1
	withInit := false
	if d.p < len(d.b) && d.b[d.p] == 0x40 {
		d.p++
		if b, err := d.byte(); err != nil || b != 0 {
			return 0, malformed(l.start, "table with initialiser: expected 0x40 0x00")
		}
		withInit = true
	}
	if err := d.valtype(); err != nil {
		return 0, err
	}
	l.at = d.p
	var err error
	if l.flags, l.min, l.max, l.minEnd, err = d.limits(); err != nil {
		return 0, err
	}
	if l.flags&1 != 0 && l.max < l.min {
		return 0, malformed(l.at, "table maximum %d below its minimum %d", l.max, l.min)
	}
	if withInit {
		l.init = d.p
		if m.body, err = m.constExpr(d, m.body[:0]); err != nil {
			return 0, err
		}
	}
	if lim != nil {
		*lim = l
	}
	return l.min, nil
}

// memories rewrites the memory section to cap the maximum of each memory,
// or only checks it when there is no limit. With Options.TableElementSize
// the tables' maxima are taken off the cap first.
func (m *module) memories(d *decoder) error {
	n, err := d.count("memory")
	if err != nil {
		return err
	}
	limit := uint64(m.opt.MaxMemoryPages)
	var tablePages uint64
	if limit != 0 && m.opt.MaxTableElements != 0 && m.opt.TableElementSize != 0 {
		tablePages = m.info.TableElements * uint64(m.opt.TableElementSize) / 65536
	}
	left := limit - min(limit, tablePages)
	m.info.MemoryPages = uint32(left)
	m.sec = appendU32(m.sec, n)
	for i := uint32(0); i < n; i++ {
		start := d.p
		flags, min, max, minEnd, err := d.limits()
		if err != nil {
			return err
		}
		if limit == 0 {
			continue
		}
		if min > left {
			if tablePages > 0 {
				return newError(ErrLimit, start, "memory %d has %d initial pages, more than the limit of %d pages less %d pages for %d table elements", m.memImports+i, min, limit, tablePages, m.info.TableElements)
			}
			return newError(ErrLimit, start, "memory %d has %d initial pages, more than the limit of %d pages", m.memImports+i, min, limit)
		}
		if flags&1 == 0 || max > left {
			max = left
		}
		m.sec = append(m.sec, flags|1)
		m.sec = append(m.sec, d.b[start+1:minEnd]...)
		m.sec = appendU64(m.sec, max)
	}
	return d.expectEnd("memory section")
}

// globalSection rewrites the global section's initialisers and appends the
// counter.
func (m *module) globalSection(d *decoder) error {
	n, err := d.count("global")
	if err != nil {
		return err
	}
	m.sec = appendU32(m.sec, n+1)
	for i := uint32(0); i < n; i++ {
		start := d.p
		if err := d.valtype(); err != nil {
			return err
		}
		if _, err := d.byte(); err != nil { // mutability
			return err
		}
		m.sec = append(m.sec, d.b[start:d.p]...)
		if m.sec, err = m.constExpr(d, m.sec); err != nil {
			return err
		}
	}
	if err := d.expectEnd("global section"); err != nil {
		return err
	}
	m.sec = m.appendCounterGlobal(m.sec)
	return nil
}

// exports rewrites the indices of exported functions.
func (m *module) exports(d *decoder) error {
	n, err := d.count("export")
	if err != nil {
		return err
	}
	m.sec = appendU32(m.sec, n)
	for i := uint32(0); i < n; i++ {
		start := d.p
		if _, err := d.name(); err != nil {
			return err
		}
		kind, err := d.byte()
		if err != nil {
			return err
		}
		m.sec = append(m.sec, d.b[start:d.p]...)
		if kind == 0 {
			m.sec, err = m.funcRef(d, m.sec)
		} else {
			var idx uint32
			idx, err = d.u32()
			m.sec = appendU32(m.sec, idx)
		}
		if err != nil {
			return err
		}
	}
	return d.expectEnd("export section")
}

// start rewrites the start function's index.
func (m *module) start(d *decoder) error {
	var err error
	if m.sec, err = m.funcRef(d, m.sec); err != nil {
		return err
	}
	return d.expectEnd("start section")
}

// elements rewrites the function indices and ref.func expressions of the
// element segments, in all eight encodings.
func (m *module) elements(d *decoder) error {
	n, err := d.count("element segment")
	if err != nil {
		return err
	}
	m.sec = appendU32(m.sec, n)
	for i := uint32(0); i < n; i++ {
		flagsAt := d.p
		flags, err := d.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return unsupported(flagsAt, "element segment flags %d", flags)
		}
		m.sec = appendU32(m.sec, flags)
		// Bit 0: passive or declarative; bit 1: explicit table index (if
		// active) or declarative (if not); bit 2: expressions instead of
		// function indices.
		active := flags&1 == 0
		if active && flags&2 != 0 {
			start := d.p
			if _, err := d.u32(); err != nil {
				return err
			}
			m.sec = append(m.sec, d.b[start:d.p]...)
		}
		if active {
			if m.sec, err = m.constExpr(d, m.sec); err != nil {
				return err
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			start := d.p
			if flags&4 == 0 {
				if _, err = d.byte(); err != nil {
					return err
				}
			} else if err = d.valtype(); err != nil {
				return err
			}
			m.sec = append(m.sec, d.b[start:d.p]...)
		}
		k, err := d.count("element")
		if err != nil {
			return err
		}
		m.sec = appendU32(m.sec, k)
		for j := uint32(0); j < k; j++ {
			if flags&4 == 0 {
				m.sec, err = m.funcRef(d, m.sec)
			} else {
				m.sec, err = m.constExpr(d, m.sec)
			}
			if err != nil {
				return err
			}
		}
	}
	return d.expectEnd("element section")
}

// constExpr copies a constant expression, rewriting ref.func.
func (m *module) constExpr(d *decoder, dst []byte) ([]byte, error) {
	from := d.p
	for {
		at := d.p
		op, err := d.byte()
		if err != nil {
			return dst, err
		}
		switch op {
		case 0x0b: // end
			return append(dst, d.b[from:d.p]...), nil
		case 0x41: // i32.const
			_, err = d.signed(32)
		case 0x42: // i64.const
			_, err = d.signed(64)
		case 0x43: // f32.const
			err = d.skip(4)
		case 0x44: // f64.const
			err = d.skip(8)
		case 0x23: // global.get
			_, err = d.u32()
		case 0xd0: // ref.null
			_, err = d.signed(33)
		case 0xd2: // ref.func
			dst = append(dst, d.b[from:d.p]...)
			dst, err = m.funcRef(d, dst)
			from = d.p
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		case 0xfd:
			var sub uint32
			if sub, err = d.u32(); err == nil {
				if sub != 12 {
					return dst, unsupported(at, "instruction 0xfd %d in a constant expression", sub)
				}
				err = d.skip(16) // v128.const
			}
		default:
			return dst, unsupported(at, "instruction 0x%02x in a constant expression", op)
		}
		if err != nil {
			return dst, err
		}
	}
}

// checkData checks the framing of the data section, which is copied as it
// is unless mergeData merges its segments: each segment's byte count must
// fit in the section, so that a runtime that allocates it before reading it
// is not asked for gigabytes. It returns the segments when
// every one is active, of memory 0, at an i32.const offset (those mergeData
// may merge), and nil otherwise.
func (m *module) checkData(d *decoder) ([]dataSegment, error) {
	n, err := d.count("data segment")
	if err != nil {
		return nil, err
	}
	segs := make([]dataSegment, 0, n)
	for i := uint32(0); i < n; i++ {
		at := d.p
		flags, err := d.u32()
		if err != nil {
			return nil, err
		}
		switch flags {
		case 0: // active, memory 0
			m.body, err = m.constExpr(d, m.body[:0])
		case 1: // passive
		case 2: // active, explicit memory
			if _, err = d.u32(); err == nil {
				m.body, err = m.constExpr(d, m.body[:0])
			}
		default:
			return nil, unsupported(at, "data segment flags %d", flags)
		}
		if err != nil {
			return nil, err
		}
		b, err := d.name() // the bytes: vec(byte)
		if err != nil {
			return nil, err
		}
		if segs != nil {
			if off, ok := constOffset(m.body); flags == 0 && ok {
				segs = append(segs, dataSegment{off: off, bytes: b})
			} else {
				segs = nil
			}
		}
	}
	return segs, d.expectEnd("data section")
}

// constOffset returns the offset the constant expression expr gives when
// it is exactly "i32.const N end" with N not negative.
func constOffset(expr []byte) (uint32, bool) {
	if len(expr) < 2 || expr[0] != 0x41 || expr[len(expr)-1] != 0x0b {
		return 0, false
	}
	d := decoder{b: expr[1 : len(expr)-1]}
	v, err := d.signed(32)
	if err != nil || !d.done() || v < 0 {
		return 0, false
	}
	return uint32(v), true
}

// checkTags checks the framing of the tag section, which is copied as it is.
func (m *module) checkTags(d *decoder) error {
	n, err := d.count("tag")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		if _, err := d.byte(); err != nil { // attribute
			return err
		}
		if _, err := d.u32(); err != nil { // type index
			return err
		}
	}
	return d.expectEnd("tag section")
}

type customAction int

const (
	keepSection customAction = iota
	rewriteSection
	dropSection
)

// custom decides what to do with a custom section and, for the name
// section, writes its rewritten payload.
func (m *module) custom(d *decoder) (customAction, error) {
	start := d.p
	name, err := d.name()
	if err != nil {
		return 0, err
	}
	switch {
	case strings.HasPrefix(string(name), ".debug_"):
		return dropSection, nil
	case string(name) == "name":
		m.sec = append(m.sec, d.b[start:d.p]...)
		if err := m.names(d); err != nil {
			// A custom section's contents never make a module invalid;
			// names are only for stack traces.
			m.sec = m.sec[:0]
			return dropSection, nil
		}
		return rewriteSection, nil
	}
	return keepSection, nil
}

// names rewrites the name section: the function names (subsection 1) and
// local names (2) are keyed by function index and get shifted; the
// subsections keyed by other index spaces are kept; label names (3), which
// count the blocks the rewrite adds, and unknown subsections are dropped.
func (m *module) names(d *decoder) error {
	for !d.done() {
		start := d.p
		id, _ := d.byte()
		size, err := d.u32()
		if err != nil {
			return err
		}
		sub, err := d.sub(size, "name subsection")
		if err != nil {
			return err
		}
		switch id {
		case 1, 2:
			m.sec = append(m.sec, id)
			lenAt := len(m.sec)
			m.sec = append(m.sec, 0, 0, 0, 0, 0) // size, patched below
			bodyAt := len(m.sec)
			if err := m.nameMap(&sub, id == 2); err != nil {
				return err
			}
			if err := sub.expectEnd("name subsection"); err != nil {
				return err
			}
			m.sec = patchSize(m.sec, lenAt, bodyAt)
		case 0, 4, 5, 6, 7, 8, 9, 11: // module, types, tables, memories, globals, elems, data, tags
			m.sec = append(m.sec, d.b[start:d.p]...)
		}
	}
	return nil
}

// nameMap rewrites a name map (or, if indirect, an indirect name map) whose
// outer indices are function indices.
func (m *module) nameMap(d *decoder, indirect bool) error {
	n, err := d.count("name")
	if err != nil {
		return err
	}
	m.sec = appendU32(m.sec, n)
	for i := uint32(0); i < n; i++ {
		idx, err := d.u32()
		if err != nil {
			return err
		}
		if idx >= m.funcImports {
			if idx == 1<<32-1 {
				return malformed(d.p, "function index out of range")
			}
			idx++
		}
		m.sec = appendU32(m.sec, idx)
		start := d.p
		if indirect {
			k, err := d.count("local name")
			if err != nil {
				return err
			}
			for j := uint32(0); j < k; j++ {
				if _, err := d.u32(); err != nil {
					return err
				}
				if _, err := d.name(); err != nil {
					return err
				}
			}
		} else if _, err := d.name(); err != nil {
			return err
		}
		m.sec = append(m.sec, d.b[start:d.p]...)
	}
	return nil
}

// patchSize replaces the 5 bytes reserved at lenAt with the minimal LEB128
// encoding of the length of buf[bodyAt:], moving the body down.
func patchSize(buf []byte, lenAt, bodyAt int) []byte {
	size := uint32(len(buf) - bodyAt)
	var tmp [5]byte
	enc := appendU32(tmp[:0], size)
	n := copy(buf[lenAt:], enc)
	copy(buf[lenAt+n:], buf[bodyAt:])
	return buf[:len(buf)-(bodyAt-lenAt-n)]
}

// maxDataGap is the widest run of zero bytes between two active data
// segments that mergeData writes out to make them one: wazero spends about
// as long instantiating a segment as copying a kilobyte.
const maxDataGap = 256

var zeros [maxDataGap]byte

// dataSegment is an active data segment of memory 0 at a constant offset.
type dataSegment struct {
	off   uint32
	bytes []byte
}

// mergeData writes into m.sec the data section whose segments checkData
// returned, with the segments merged where the gaps between them are at
// most maxDataGap bytes, filled with zeros, and reports whether it did. It
// leaves the section as it is unless checkData returned its segments (every
// one active, of memory 0, at an i32.const offset) and no two overlap (so
// that the order in which they are applied cannot matter); unless the
// module's memory is defined, not imported (a failed instantiation could
// have written part of an imported one); and unless no instruction names a
// segment (there is no data count section). The zeros written are at most
// half the module's size and 64 KiB. See RATIONALE.md, "Why merge data
// segments?".
func (m *module) mergeData(segs []dataSegment) bool {
	if _, ok := m.find(secDataCount); ok || m.memImports > 0 || len(segs) < 2 {
		return false
	}
	slices.SortStableFunc(segs, func(a, b dataSegment) int { return cmp.Compare(a.off, b.off) })
	for i := 1; i < len(segs); i++ {
		if uint64(segs[i-1].off)+uint64(len(segs[i-1].bytes)) > uint64(segs[i].off) {
			return false
		}
	}
	// Group the segments: a group starts where a gap is too wide, or would
	// take the zeros written past their budget.
	budget := len(m.in)/2 + 64<<10
	starts := []int{0}
	for i := 1; i < len(segs); i++ {
		gap := int(segs[i].off - segs[i-1].off - uint32(len(segs[i-1].bytes)))
		if gap > maxDataGap || gap > budget {
			starts = append(starts, i)
			continue
		}
		budget -= gap
	}
	if len(starts) == len(segs) {
		return false
	}
	m.sec = appendU32(m.sec[:0], uint32(len(starts)))
	for g, from := range starts {
		to := len(segs)
		if g+1 < len(starts) {
			to = starts[g+1]
		}
		first, last := segs[from], segs[to-1]
		size := last.off + uint32(len(last.bytes)) - first.off
		m.sec = append(m.sec, 0x00, 0x41)
		m.sec = appendS32(m.sec, int32(first.off))
		m.sec = append(m.sec, 0x0b)
		m.sec = appendU32(m.sec, size)
		at := first.off
		for _, s := range segs[from:to] {
			m.sec = append(m.sec, zeros[:s.off-at]...) // at most maxDataGap
			m.sec = append(m.sec, s.bytes...)
			at = s.off + uint32(len(s.bytes))
		}
	}
	m.info.MergedDataSegments = len(segs) - len(starts)
	return true
}
