package instrument

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Options says what to add to a module.
type Options struct {
	// TickModule and TickName name the function import that the rewritten
	// module calls when its counter runs out. Its type is () -> (i32); the
	// result becomes the new counter. A result of zero or less makes the
	// next check call it again.
	TickModule, TickName string

	// Fuel is the counter's initial value: the number of checks (loop
	// headers and function entries passed) before the first tick. It must
	// be positive.
	Fuel int32

	// MaxMemoryPages, when not zero, caps the maximum size of every memory
	// the module defines, in 64 KiB pages. A memory whose initial size
	// exceeds it is an error (ErrLimit). Imported memories are left
	// alone.
	MaxMemoryPages uint32

	// MaxTableElements, when not zero, caps the elements of the tables the
	// module defines, each and all together: the tables' initial sizes
	// added up must not exceed it (ErrLimit), and each table's maximum is
	// lowered (or set, if it had none) so that the maxima add up to at most
	// MaxTableElements. The room to grow left after the initial sizes goes
	// to the tables in order: a table keeps its declared maximum while it
	// fits, and the first table without one gets all that is left. So
	// table.grow past the cap returns -1, as the specification says.
	// Imported tables are left alone.
	MaxTableElements uint32

	// TableElementSize, when not zero together with MaxMemoryPages and
	// MaxTableElements, charges the tables to the memory cap: the maxima
	// of the defined tables, at TableElementSize bytes an element, in whole
	// pages (rounded down, so tables under a page are free), are taken off
	// MaxMemoryPages before it caps the memories. A memory, or the tables, that no longer fit are an error
	// (ErrLimit).
	TableElementSize uint32
}

// Info describes what Instrument did, for tests and metrics.
type Info struct {
	// FuncImports is the number of functions the input module imports; the
	// tick import is added after them, at index FuncImports.
	FuncImports int
	// Funcs is the number of functions the module defines.
	Funcs int
	// Loops is the number of loop headers that got a check.
	Loops int
	// EntryChecks is the number of functions that got a check at entry.
	EntryChecks int
	// CounterGlobal is the index of the added counter global.
	CounterGlobal uint32
	// DroppedSections is the number of custom sections left out: DWARF
	// (.debug_*), whose code offsets the rewrite invalidates, and name
	// sections that could not be parsed.
	DroppedSections int
	// TableElements is the sum of the maxima of the tables the module
	// defines, after the cap (Options.MaxTableElements); zero without a
	// cap.
	TableElements uint64
	// MemoryPages is the cap the defined memories got, in pages: at most
	// Options.MaxMemoryPages, less the pages charged for the tables
	// (Options.TableElementSize); zero without a cap.
	MemoryPages uint32
	// MergedDataSegments is the number of active data segments merged into
	// their neighbours (Go's linker writes tens of thousands, each of which
	// costs time at every instantiation); see RATIONALE.md.
	MergedDataSegments int
}

// Section ids of the binary format.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
	secTag       = 13
)

// sectionRank gives the position of each known non-custom section in the
// order the binary format requires; zero marks an unknown id.
var sectionRank = [...]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5,
	secTag: 6, secGlobal: 7, secExport: 8, secStart: 9, secElement: 10,
	secDataCount: 11, secCode: 12, secData: 13,
}

// section is one section of the input: its id and the span of its payload.
type section struct {
	id         byte
	start, end int // payload
	header     int // offset of the id byte
}

// module holds the state of one rewrite.
type module struct {
	in  []byte
	opt Options

	sections []section

	types         uint32 // entries in the type section
	tickType      uint32 // type index of () -> (i32)
	needTickType  bool   // whether that type must be appended
	funcImports   uint32
	globalImports uint32
	memImports    uint32
	funcs         uint32 // defined functions
	tableMins     uint64 // initial elements of the defined tables, added up
	globals       uint32 // defined globals
	counter       uint32 // index of the added global
	check         []byte // the encoded check sequence

	info Info
	sec  []byte // payload of the section being written
	body []byte // instructions of the body being written
}

// Version names the rewrite this package does. A cache of its output
// (evhost keeps one beside wazero's compilation cache) puts it in its keys:
// it must change whenever the same input and options could give different
// bytes. TestVersionNamesTheRewrite fails until it does.
const Version = "2"

// Instrument rewrites the WebAssembly module wasm so that it calls the
// import opt.TickModule.opt.TickName every opt.Fuel loop iterations or
// function entries, and caps its memory at opt.MaxMemoryPages. See the
// package documentation for the exact rewrite.
//
// wasm is not modified and the result does not alias it. The same input and
// options always give the same output. Errors are *Error values wrapping
// ErrMalformed, ErrUnsupported, ErrLimit or ErrOptions; Instrument never
// panics, and its time and memory are linear in len(wasm) whatever the
// input declares. It is safe to call concurrently.
//
// Run it before handing the bytes to a runtime: besides the rewrite, it
// checks every count in the module against the bytes that follow it, which
// wazero v1.12 does not do before allocating.
func Instrument(wasm []byte, opt Options) ([]byte, Info, error) {
	if err := opt.validate(); err != nil {
		return nil, Info{}, err
	}
	m := &module{in: wasm, opt: opt}
	if err := m.split(); err != nil {
		return nil, Info{}, err
	}
	if err := m.scan(); err != nil {
		return nil, Info{}, err
	}
	out, err := m.emit()
	if err != nil {
		return nil, Info{}, err
	}
	return out, m.info, nil
}

// validate checks the options.
func (o *Options) validate() error {
	bad := func(format string, args ...any) error {
		return newError(ErrOptions, -1, format, args...)
	}
	switch {
	case o.TickModule == "" || o.TickName == "":
		return bad("TickModule and TickName must be set")
	case !utf8.ValidString(o.TickModule) || !utf8.ValidString(o.TickName):
		return bad("TickModule and TickName must be valid UTF-8")
	case o.Fuel <= 0:
		return bad("Fuel must be positive, got %d", o.Fuel)
	}
	return nil
}

var magic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// split checks the header and the section framing and order.
func (m *module) split() error {
	if len(m.in) < len(magic) || !bytes.Equal(m.in[:4], magic[:4]) {
		return malformed(0, "not a WebAssembly binary (bad magic)")
	}
	if !bytes.Equal(m.in[4:8], magic[4:8]) {
		return unsupported(4, "binary version % x (only version 1 modules are supported)", m.in[4:8])
	}
	d := decoder{b: m.in, p: len(magic)}
	last := 0
	for !d.done() {
		header := d.p
		id, _ := d.byte()
		size, err := d.u32()
		if err != nil {
			return err
		}
		body, err := d.sub(size, fmt.Sprintf("section %d", id))
		if err != nil {
			return err
		}
		start := body.p
		if id != secCustom {
			if int(id) >= len(sectionRank) || sectionRank[id] == 0 {
				return unsupported(header, "unknown section id %d", id)
			}
			rank := sectionRank[id]
			if rank <= last {
				return malformed(header, "section %d out of order or repeated", id)
			}
			last = rank
		} else if name, err := body.name(); err != nil {
			return err
		} else if !validUTF8(name) {
			return malformed(header, "custom section name is not valid UTF-8")
		}
		m.sections = append(m.sections, section{id: id, start: start, end: len(body.b), header: header})
	}
	return nil
}

// find returns the section with the given id.
func (m *module) find(id byte) (section, bool) {
	for _, s := range m.sections {
		if s.id == id {
			return s, true
		}
	}
	return section{}, false
}

// decoderFor returns a decoder for the payload of s.
func (m *module) decoderFor(s section) decoder {
	return decoder{b: m.in[:s.end], p: s.start}
}

// scan reads the counts the rewrite needs before it writes anything: the
// number of types and whether () -> (i32) is among them, the imports by
// kind, and the numbers of defined functions and globals.
func (m *module) scan() error {
	m.needTickType = true
	if s, ok := m.find(secType); ok {
		if err := m.scanTypes(s); err != nil {
			return err
		}
	}
	if m.needTickType {
		m.tickType = m.types
	}
	if s, ok := m.find(secImport); ok {
		if err := m.scanImports(s); err != nil {
			return err
		}
	}
	if s, ok := m.find(secFunction); ok {
		d := m.decoderFor(s)
		n, err := d.count("function")
		if err != nil {
			return err
		}
		m.funcs = n
	}
	if s, ok := m.find(secTable); ok {
		if err := m.scanTables(s); err != nil {
			return err
		}
	}
	if s, ok := m.find(secGlobal); ok {
		d := m.decoderFor(s)
		n, err := d.count("global")
		if err != nil {
			return err
		}
		m.globals = n
	}
	if m.funcImports == 1<<32-1 || uint64(m.funcImports)+uint64(m.funcs) >= 1<<32-1 {
		return unsupported(-1, "too many functions")
	}
	m.counter = m.globalImports + m.globals
	m.info.FuncImports = int(m.funcImports)
	m.info.Funcs = int(m.funcs)
	m.info.CounterGlobal = m.counter

	// global.get $g; i32.const 1; i32.sub; global.set $g;
	// global.get $g; i32.const 1; i32.lt_s;
	// if; call $tick; global.set $g; end
	g := appendU32(nil, m.counter)
	c := append([]byte{0x23}, g...)
	c = append(c, 0x41, 0x01, 0x6b, 0x24)
	c = append(c, g...)
	c = append(c, 0x23)
	c = append(c, g...)
	c = append(c, 0x41, 0x01, 0x48, 0x04, blockEmpty, 0x10)
	c = appendU32(c, m.funcImports)
	c = append(c, 0x24)
	c = append(c, g...)
	m.check = append(c, 0x0b)
	return nil
}

// scanTypes counts the types and looks for () -> (i32).
func (m *module) scanTypes(s section) error {
	d := m.decoderFor(s)
	n, err := d.count("type")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		start := d.p
		form, err := d.byte()
		if err != nil {
			return err
		}
		if form != 0x60 {
			return unsupported(start, "type form 0x%02x (only function types are supported)", form)
		}
		for range 2 { // params, results
			k, err := d.count("value type")
			if err != nil {
				return err
			}
			for j := uint32(0); j < k; j++ {
				if err := d.valtype(); err != nil {
					return err
				}
			}
		}
		if m.needTickType && bytes.Equal(d.b[start:d.p], []byte{0x60, 0x00, 0x01, valI32}) {
			m.tickType, m.needTickType = i, false
		}
	}
	m.types = n
	return d.expectEnd("type section")
}

// scanTables adds up the initial sizes of the defined tables and checks
// them against Options.MaxTableElements, before any table's maximum is
// chosen.
func (m *module) scanTables(s section) error {
	d := m.decoderFor(s)
	n, err := d.count("table")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		start := d.p
		min, err := m.tableType(&d, nil)
		if err != nil {
			return err
		}
		m.tableMins += min
		if limit := uint64(m.opt.MaxTableElements); limit != 0 && m.tableMins > limit {
			return newError(ErrLimit, start, "tables have %d initial elements, more than the limit of %d elements", m.tableMins, limit)
		}
	}
	return d.expectEnd("table section")
}

// scanImports counts the imports by kind and refuses a module that
// already imports the tick.
func (m *module) scanImports(s section) error {
	d := m.decoderFor(s)
	n, err := d.count("import")
	if err != nil {
		return err
	}
	for i := uint32(0); i < n; i++ {
		mod, err := d.name()
		if err != nil {
			return err
		}
		field, err := d.name()
		if err != nil {
			return err
		}
		if string(mod) == m.opt.TickModule && string(field) == m.opt.TickName {
			return unsupported(-1, "module already imports %s.%s (instrumented twice?)", mod, field)
		}
		kindAt := d.p
		kind, err := d.byte()
		if err != nil {
			return err
		}
		switch kind {
		case 0: // func
			_, err = d.u32()
			m.funcImports++
		case 1: // table
			if err = d.valtype(); err == nil {
				_, _, _, _, err = d.limits()
			}
		case 2: // memory
			_, _, _, _, err = d.limits()
			m.memImports++
		case 3: // global
			if err = d.valtype(); err == nil {
				_, err = d.byte()
			}
			m.globalImports++
		case 4: // tag
			if _, err = d.byte(); err == nil {
				_, err = d.u32()
			}
		default:
			err = unsupported(kindAt, "import kind %d", kind)
		}
		if err != nil {
			return err
		}
	}
	return d.expectEnd("import section")
}

// emit writes the rewritten module.
func (m *module) emit() ([]byte, error) {
	out := make([]byte, 0, len(m.in)+len(m.in)/8+64)
	out = append(out, magic...)

	type added struct {
		id   byte
		need bool
	}
	_, haveType := m.find(secType)
	_, haveImport := m.find(secImport)
	_, haveGlobal := m.find(secGlobal)
	pending := []added{{secType, !haveType}, {secImport, !haveImport}, {secGlobal, !haveGlobal}}
	flush := func(before int) {
		for i := range pending {
			if p := &pending[i]; p.need && sectionRank[p.id] < before {
				p.need = false
				m.sec = m.sec[:0]
				switch p.id {
				case secType:
					m.sec = append(m.sec, 1, 0x60, 0x00, 0x01, valI32)
				case secImport:
					m.sec = m.appendTickImport(append(m.sec, 1))
				case secGlobal:
					m.sec = m.appendCounterGlobal(append(m.sec, 1))
				}
				out = appendSection(out, p.id, m.sec)
			}
		}
	}

	sawCode := false
	for _, s := range m.sections {
		if s.id != secCustom {
			flush(sectionRank[s.id])
		}
		d := m.decoderFor(s)
		m.sec = m.sec[:0]
		var err error
		rewritten := true
		switch s.id {
		case secCustom:
			keep, err := m.custom(&d)
			if err != nil {
				return nil, err
			}
			if keep == dropSection {
				m.info.DroppedSections++
				continue
			}
			rewritten = keep == rewriteSection
		case secType:
			if !m.needTickType {
				rewritten = false
				break
			}
			m.sec = appendU32(m.sec, m.types+1)
			_, _ = d.u32() // checked by scanTypes
			m.sec = append(m.sec, d.b[d.p:]...)
			m.sec = append(m.sec, 0x60, 0x00, 0x01, valI32)
		case secImport:
			n, _ := d.u32() // checked by scanImports
			m.sec = appendU32(m.sec, n+1)
			m.sec = append(m.sec, d.b[d.p:]...)
			m.sec = m.appendTickImport(m.sec)
		case secTable:
			err = m.tables(&d)
		case secMemory:
			err = m.memories(&d)
			rewritten = m.opt.MaxMemoryPages != 0
		case secGlobal:
			err = m.globalSection(&d)
		case secExport:
			err = m.exports(&d)
		case secStart:
			err = m.start(&d)
		case secElement:
			err = m.elements(&d)
		case secCode:
			sawCode = true
			if n := s.end - s.start; cap(m.sec) < n+n/8 {
				m.sec = make([]byte, 0, n+n/8)
			}
			err = m.code(&d)
		case secData:
			var segs []dataSegment
			if segs, err = m.checkData(&d); err == nil {
				rewritten = m.mergeData(segs)
			}
		case secTag:
			err = m.checkTags(&d)
			rewritten = false
		default: // function (checked by scan), data count
			rewritten = false
		}
		if err != nil {
			return nil, err
		}
		if rewritten {
			out = appendSection(out, s.id, m.sec)
		} else {
			out = append(out, m.in[s.header:s.end]...)
		}
	}
	flush(len(sectionRank) + 1)
	if !sawCode && m.funcs != 0 {
		return nil, malformed(-1, "function section declares %d functions but there is no code section", m.funcs)
	}
	return out, nil
}
