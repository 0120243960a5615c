package instrument

// opKind says how an opcode's immediates are encoded and how it affects the
// rewrite.
type opKind uint8

const (
	opUnknown      opKind = iota
	opNone                // no immediates
	opBlock               // block: blocktype
	opLoop                // loop: blocktype; gets a check
	opIf                  // if: blocktype
	opElse                // else
	opEnd                 // end
	opBranch              // br, br_if, br_on_null, br_on_non_null: label
	opBrTable             // br_table: vec(label) label
	opReturn              // return
	opCall                // call, return_call: funcidx, rewritten
	opCallIndirect        // call_indirect, return_call_indirect: typeidx tableidx
	opCallRef             // call_ref, return_call_ref: typeidx
	opSelectT             // select t*: vec(valtype)
	opIndex               // one u32: local.*, global.*, table.get/set, memory.size/grow
	opMemarg              // loads and stores
	opI32                 // i32.const
	opI64                 // i64.const
	opF32                 // f32.const
	opF64                 // f64.const
	opRefNull             // ref.null: heap type
	opRefFunc             // ref.func: funcidx, rewritten
	opTryTable            // try_table: blocktype vec(catch)
	opThrow               // throw: tagidx
	opThrowRef            // throw_ref
	opPrefixFC            // saturating truncation, bulk memory, tables
	opPrefixFD            // SIMD
	opPrefixFE            // threads
)

// opKinds maps every one-byte opcode to its kind.
var opKinds = func() (t [256]opKind) {
	set := func(k opKind, ops ...byte) {
		for _, op := range ops {
			t[op] = k
		}
	}
	span := func(k opKind, lo, hi byte) {
		for op := int(lo); op <= int(hi); op++ {
			t[op] = k
		}
	}
	set(opNone, 0x00, 0x01, 0x1a, 0x1b, 0xd1, 0xd4) // unreachable nop drop select ref.is_null ref.as_non_null
	span(opNone, 0x45, 0xc4)                        // numeric, including sign extension
	set(opBlock, 0x02)
	set(opLoop, 0x03)
	set(opIf, 0x04)
	set(opElse, 0x05)
	set(opEnd, 0x0b)
	set(opBranch, 0x0c, 0x0d, 0xd5, 0xd6)
	set(opBrTable, 0x0e)
	set(opReturn, 0x0f)
	set(opCall, 0x10, 0x12)
	set(opCallIndirect, 0x11, 0x13)
	set(opCallRef, 0x14, 0x15)
	set(opSelectT, 0x1c)
	span(opIndex, 0x20, 0x26) // local.get/set/tee, global.get/set, table.get/set
	span(opMemarg, 0x28, 0x3e)
	set(opIndex, 0x3f, 0x40) // memory.size, memory.grow
	set(opI32, 0x41)
	set(opI64, 0x42)
	set(opF32, 0x43)
	set(opF64, 0x44)
	set(opRefNull, 0xd0)
	set(opRefFunc, 0xd2)
	set(opTryTable, 0x1f)
	set(opThrow, 0x08)
	set(opThrowRef, 0x0a)
	set(opPrefixFC, 0xfc)
	set(opPrefixFD, 0xfd)
	set(opPrefixFE, 0xfe)
	return t
}()

// MaxLocals is the most locals a function may declare, the limit that web
// browsers enforce. A runtime that allocates the declared locals up front
// (wazero does) would otherwise take gigabytes for a few bytes of input.
const MaxLocals = 50000

// code rewrites the code section.
func (m *module) code(d *decoder) error {
	at := d.p
	n, err := d.count("function body")
	if err != nil {
		return err
	}
	if n != m.funcs {
		return malformed(at, "code section has %d bodies for %d declared functions", n, m.funcs)
	}
	m.sec = appendU32(m.sec, n)
	for i := uint32(0); i < n; i++ {
		size, err := d.u32()
		if err != nil {
			return err
		}
		body, err := d.sub(size, "function body")
		if err != nil {
			return err
		}
		if err := m.function(&body); err != nil {
			return inFunc(err, m.funcImports+i)
		}
	}
	return d.expectEnd("code section")
}

// function rewrites one function body and appends it, with its size, to
// m.sec. It copies the input in runs and only re-encodes what changes:
// function indices, and the check after each loop header and, if needed,
// at entry.
func (m *module) function(d *decoder) error {
	localsStart := d.p
	n, err := d.count("local declaration")
	if err != nil {
		return err
	}
	var locals uint64
	for i := uint32(0); i < n; i++ {
		k, err := d.u32()
		if err != nil {
			return err
		}
		if locals += uint64(k); locals > MaxLocals {
			return newError(ErrLimit, localsStart, "more than %d locals", MaxLocals)
		}
		if err := d.valtype(); err != nil {
			return err
		}
	}
	localsEnd := d.p

	m.body = m.body[:0]
	from := d.p        // start of the run not yet copied to m.body
	depth := 0         // open blocks, not counting the function's own
	scanning := true   // no control instruction seen yet
	loopFirst := false // a loop header comes before any control instruction
	calls := false     // the body calls another function
	for {
		at := d.p
		op, err := d.byte()
		if err != nil {
			return malformed(at, "function body ends before its final end")
		}
		switch opKinds[op] {
		case opNone:
		case opEnd:
			if depth == 0 {
				if !d.done() {
					return malformed(at, "end of function before the end of its body")
				}
				m.body = append(m.body, d.b[from:d.p]...)
				entry := calls && !loopFirst
				size := localsEnd - localsStart + len(m.body)
				if entry {
					size += len(m.check)
					m.info.EntryChecks++
				}
				m.sec = appendU32(m.sec, uint32(size))
				m.sec = append(m.sec, d.b[localsStart:localsEnd]...)
				if entry {
					m.sec = append(m.sec, m.check...)
				}
				m.sec = append(m.sec, m.body...)
				return nil
			}
			depth--
		case opBlock:
			err = d.blocktype()
			depth++
		case opLoop:
			if err = d.blocktype(); err != nil {
				break
			}
			depth++
			m.body = append(m.body, d.b[from:d.p]...)
			m.body = append(m.body, m.check...)
			from = d.p
			m.info.Loops++
			if scanning {
				loopFirst, scanning = true, false
			}
		case opIf:
			err = d.blocktype()
			depth++
			scanning = false
		case opElse, opReturn, opThrowRef:
			scanning = false
		case opBranch, opThrow:
			_, err = d.u32()
			scanning = false
		case opBrTable:
			var k uint32
			if k, err = d.count("br_table label"); err != nil {
				break
			}
			for i := uint64(0); i <= uint64(k) && err == nil; i++ { // k labels and the default
				_, err = d.u32()
			}
			scanning = false
		case opCall:
			m.body = append(m.body, d.b[from:d.p]...)
			m.body, err = m.funcRef(d, m.body)
			from = d.p
			calls, scanning = true, false
		case opCallIndirect:
			if _, err = d.u32(); err == nil {
				_, err = d.u32()
			}
			calls, scanning = true, false
		case opCallRef:
			_, err = d.u32()
			calls, scanning = true, false
		case opSelectT:
			var k uint32
			if k, err = d.count("select type"); err != nil {
				break
			}
			for i := uint32(0); i < k && err == nil; i++ {
				err = d.valtype()
			}
		case opIndex:
			_, err = d.u32()
		case opMemarg:
			err = d.memarg()
		case opI32:
			_, err = d.signed(32)
		case opI64:
			_, err = d.signed(64)
		case opF32:
			err = d.skip(4)
		case opF64:
			err = d.skip(8)
		case opRefNull:
			_, err = d.signed(33)
		case opRefFunc:
			m.body = append(m.body, d.b[from:d.p]...)
			m.body, err = m.funcRef(d, m.body)
			from = d.p
		case opTryTable:
			err = d.tryTable()
			depth++
			scanning = false
		case opPrefixFC:
			err = d.prefixFC(at)
		case opPrefixFD:
			err = d.prefixFD(at)
		case opPrefixFE:
			err = d.prefixFE(at)
		default:
			return unsupported(at, "unknown opcode 0x%02x", op)
		}
		if err != nil {
			return err
		}
	}
}

// memarg decodes a memory argument: alignment, the memory index when bit 6
// of the alignment is set (multi-memory), and the offset (u64 so that
// memory64 offsets decode too).
func (d *decoder) memarg() error {
	align, err := d.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := d.u32(); err != nil {
			return err
		}
	}
	_, err = d.u64()
	return err
}

// tryTable decodes the immediates of try_table: a block type and the catch
// clauses.
func (d *decoder) tryTable() error {
	if err := d.blocktype(); err != nil {
		return err
	}
	n, err := d.count("catch clause")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		at := d.p
		kind, err := d.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0, 1: // catch, catch_ref: tag label
			if _, err = d.u32(); err == nil {
				_, err = d.u32()
			}
		case 2, 3: // catch_all, catch_all_ref: label
			_, err = d.u32()
		default:
			err = unsupported(at, "catch clause kind %d", kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// prefixFC decodes the instructions under prefix 0xfc: saturating
// float-to-int conversions (0-7), bulk memory and table instructions (8-17).
func (d *decoder) prefixFC(at int) error {
	sub, err := d.u32()
	if err != nil {
		return err
	}
	var indices int
	switch sub {
	case 0, 1, 2, 3, 4, 5, 6, 7:
	case 9, 11, 13, 15, 16, 17: // data.drop memory.fill elem.drop table.grow table.size table.fill
		indices = 1
	case 8, 10, 12, 14: // memory.init memory.copy table.init table.copy
		indices = 2
	default:
		return unsupported(at, "unknown opcode 0xfc %d", sub)
	}
	for range indices {
		if _, err := d.u32(); err != nil {
			return err
		}
	}
	return nil
}

// prefixFD decodes the SIMD instructions under prefix 0xfd.
func (d *decoder) prefixFD(at int) error {
	sub, err := d.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores
		return d.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle
		return d.skip(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane
		return d.skip(1)
	case sub >= 84 && sub <= 91: // load_lane, store_lane
		if err := d.memarg(); err != nil {
			return err
		}
		return d.skip(1)
	case sub <= 255:
		return nil
	}
	return unsupported(at, "unknown opcode 0xfd %d", sub)
}

// prefixFE decodes the atomic instructions under prefix 0xfe.
func (d *decoder) prefixFE(at int) error {
	sub, err := d.u32()
	if err != nil {
		return err
	}
	switch {
	case sub == 0x03: // atomic.fence
		return d.skip(1)
	case sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e):
		return d.memarg()
	}
	return unsupported(at, "unknown opcode 0xfe %d", sub)
}
