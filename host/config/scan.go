package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// This file finds where keys and values are in a TOML text. The TOML library
// reports positions only for syntax errors; unknown keys and invalid values
// are found later, in the decoded tree, by their key path. positions maps
// every key path of the document to the offset of its key and of its value,
// and turns offsets into line:column.
//
// The scanner runs only on text that the TOML library has already parsed, so
// it assumes valid TOML and has no error handling of its own; on text it does
// not understand it stops early (every lookup then falls back to an enclosing
// key), and it never loops forever or panics.

// Key paths are strings in one canonical form, built only by keyPath and
// indexPath: keys joined by dots, each bare when it can be and quoted (Go
// syntax) when not, and array elements as [i]: plugins.payment.timeout,
// webhooks[1].url, plugins.x.config."a b".

// keyPath returns the path of key inside the table at parent ("" for the root).
func keyPath(parent, key string) string {
	if !isBareKey(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// indexPath returns the path of element i of the array at parent.
func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isBareChar(k[i]) {
			return false
		}
	}
	return true
}

func isBareChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// parentPath returns the path of the table or array that contains path, and
// false for a top-level key.
func parentPath(path string) (string, bool) {
	last := -1 // start of the last element
	for i := 0; i < len(path); {
		switch c := path[i]; {
		case c == '.':
			last = i
			i++
		case c == '[':
			last = i
			j := strings.IndexByte(path[i:], ']')
			if j < 0 {
				return "", false
			}
			i += j + 1
		case c == '"':
			q, err := strconv.QuotedPrefix(path[i:])
			if err != nil {
				return "", false
			}
			i += len(q)
		default:
			i++
		}
	}
	if last <= 0 {
		return "", false
	}
	return path[:last], true
}

// positions maps the key paths of one TOML text to byte offsets.
type positions struct {
	lines []int          // offset of the start of each line
	keys  map[string]int // path -> offset of the key (of its first mention)
	vals  map[string]int // path -> offset of the value (or of an array element)

	// refused is the first construct that the TOML library accepts but
	// decodes wrongly, which parse refuses rather than run a config that
	// differs from its text: a key defined a second time (s = [] then
	// s.t = 1; s.t = 1 then s = 0: TOML forbids both, the library keeps one
	// definition) and the empty key "" (beside which the library drops
	// array elements). nil if none.
	refused *refusal
}

// refusal is a construct of the text that parse refuses (see positions.refused).
type refusal struct {
	path string
	off  int    // where it is
	msg  string // what is wrong, with the position of what it conflicts with
}

// lineCol returns the 1-based line and byte column of offset off.
func (p *positions) lineCol(off int) (line, col int) { return lineCol(p.lines, off) }

// lineCol returns the 1-based line and byte column of offset off, given the
// offsets at which lines start.
func lineCol(lines []int, off int) (line, col int) {
	i := sort.Search(len(lines), func(i int) bool { return lines[i] > off }) - 1
	if i < 0 {
		return 1, 1
	}
	return i + 1, off - lines[i] + 1
}

// lineStarts returns the offsets at which the lines of src start.
func lineStarts(src string) []int {
	lines := []int{0}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// locate returns the line and column of path: of its value when value is
// true and the value is known, else of its key. A path that is not in the
// text (a missing key, a value that came from the defaults) takes the
// position of its nearest enclosing key, and 1:1 when there is none.
func (p *positions) locate(path string, value bool) (line, col int) {
	for {
		if value {
			if off, ok := p.vals[path]; ok {
				return p.lineCol(off)
			}
		}
		if off, ok := p.keys[path]; ok {
			return p.lineCol(off)
		}
		parent, ok := parentPath(path)
		if !ok {
			return 1, 1
		}
		path, value = parent, false
	}
}

// has reports whether path is written in the text (as a key or an element).
func (p *positions) has(path string) bool {
	_, ok := p.keys[path]
	return ok
}

// scanPositions scans the TOML text src, which must have parsed without error.
func scanPositions(src string) *positions {
	s := &scanner{
		src: src,
		pos: &positions{lines: lineStarts(src), keys: map[string]int{}, vals: map[string]int{}},
		aot: map[string]int{},
	}
	s.document()
	return s.pos
}

type scanner struct {
	src string
	i   int
	pos *positions
	aot map[string]int // path of an array of tables ([[x]]) -> elements so far
}

// segment is one part of a dotted key: its decoded name and its offset.
type segment struct {
	name string
	off  int
}

func (s *scanner) peek(k int) byte {
	if s.i+k < len(s.src) {
		return s.src[s.i+k]
	}
	return 0
}

func (s *scanner) eof() bool { return s.i >= len(s.src) }

func (s *scanner) setKey(path string, off int) {
	if _, ok := s.pos.keys[path]; !ok {
		s.pos.keys[path] = off
	}
}

// refuse records r as the text's refusal, unless one came before it.
func (s *scanner) refuse(path string, off int, msg string) {
	if s.pos.refused == nil {
		s.pos.refused = &refusal{path: path, off: off, msg: msg}
	}
}

func (s *scanner) setVal(path string, off int) {
	if _, ok := s.pos.vals[path]; !ok {
		s.pos.vals[path] = off
	}
}

// skipSpace skips spaces and tabs, and with newlines also line ends and comments.
func (s *scanner) skipSpace(newlines bool) {
	for !s.eof() {
		switch s.src[s.i] {
		case ' ', '\t':
			s.i++
		case '\r', '\n':
			if !newlines {
				return
			}
			s.i++
		case '#':
			if !newlines {
				return
			}
			for !s.eof() && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *scanner) document() {
	if strings.HasPrefix(s.src, "\uFEFF") {
		s.i = len("\uFEFF")
	}
	table := ""
	for {
		s.skipSpace(true)
		if s.eof() {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			array := s.peek(1) == '['
			s.i++
			if array {
				s.i++
			}
			s.skipSpace(false)
			segs := s.key()
			if len(segs) == 0 {
				return
			}
			table = s.header(segs, array)
			// Skip the closing bracket(s); the rest of the line is a comment or nothing.
			for !s.eof() && s.src[s.i] != '\n' && s.src[s.i] != '#' {
				s.i++
			}
		} else {
			s.keyValue(table)
		}
		if s.i == start { // not understood: stop rather than loop
			return
		}
	}
}

// header records a [table] or [[array-of-tables]] header and returns the
// path of the table it opens.
func (s *scanner) header(segs []segment, array bool) string {
	path := ""
	for k, seg := range segs {
		path = keyPath(path, seg.name)
		s.setKey(path, seg.off)
		last := k == len(segs)-1
		if n, ok := s.aot[path]; ok && !(last && array) {
			// A table inside an array of tables belongs to its last element.
			path = indexPath(path, n-1)
		}
		if last && array {
			n := s.aot[path]
			s.aot[path] = n + 1
			path = indexPath(path, n)
			s.setKey(path, seg.off)
		}
	}
	return path
}

// keyValue scans key = value inside the table at table.
func (s *scanner) keyValue(table string) {
	segs := s.key()
	if len(segs) == 0 {
		return
	}
	path := table
	for k, seg := range segs {
		path = keyPath(path, seg.name)
		// A dotted key may pass through a table again (a.b = 1, a.c = 2),
		// but neither through a value nor to a key already there.
		first, ok := s.pos.vals[path]
		if k == len(segs)-1 {
			first, ok = s.pos.keys[path]
		}
		if ok {
			line, col := s.pos.lineCol(first)
			s.refuse(path, seg.off, fmt.Sprintf("already defined at %d:%d (TOML allows one definition of a key)", line, col))
		}
		s.setKey(path, seg.off)
	}
	s.skipSpace(false)
	if s.peek(0) != '=' {
		return
	}
	s.i++
	s.skipSpace(false)
	s.value(path)
}

// key scans a possibly dotted, possibly quoted key.
func (s *scanner) key() []segment {
	var segs []segment
	for {
		s.skipSpace(false)
		off := s.i
		var name string
		switch s.peek(0) {
		case '"':
			name = unquoteBasic(s.quoted(off))
		case '\'':
			name = s.quoted(off)
		default:
			for !s.eof() && isBareChar(s.src[s.i]) {
				s.i++
			}
			if s.i == off {
				return segs
			}
			name = s.src[off:s.i]
		}
		if name == "" {
			s.refuse("", off, `an empty key ("") is not allowed`)
		}
		segs = append(segs, segment{name, off})
		s.skipSpace(false)
		if s.peek(0) != '.' {
			return segs
		}
		s.i++
	}
}

// value scans one value and records its offset, and those of its elements
// and inline-table keys.
func (s *scanner) value(path string) {
	s.setVal(path, s.i)
	switch s.peek(0) {
	case '"', '\'':
		s.stringEnd()
	case '[':
		s.i++
		for n := 0; ; n++ {
			s.skipSpace(true)
			if s.eof() || s.src[s.i] == ']' {
				break
			}
			start := s.i
			elem := indexPath(path, n)
			s.setKey(elem, s.i)
			s.value(elem)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.i++
			}
			if s.i == start {
				s.i = len(s.src) // not understood: stop
			}
		}
		s.i++
	case '{':
		s.i++
		for {
			s.skipSpace(true)
			if s.eof() || s.src[s.i] == '}' {
				break
			}
			start := s.i
			s.keyValue(path)
			s.skipSpace(true)
			if s.peek(0) == ',' {
				s.i++
			}
			if s.i == start {
				s.i = len(s.src)
			}
		}
		s.i++
	default: // number, boolean, date or time (which may contain one space)
		for !s.eof() && !strings.ContainsRune(",]}\r\n#", rune(s.src[s.i])) {
			s.i++
		}
	}
}

// quoted moves past the one-line string that starts at off (s.i) and
// returns what is between its quotes; on text it does not understand (an
// unterminated string, where the TOML library and the scanner read quotes
// differently), as much of it as there is.
func (s *scanner) quoted(off int) string {
	end := s.stringEnd()
	if s.src[end-1] == s.src[off] && end-1 > off {
		end--
	}
	return s.src[off+1 : end]
}

// stringEnd moves past the string that starts at s.i (any of the four TOML
// string forms) and returns the offset just after it.
func (s *scanner) stringEnd() int {
	q := s.src[s.i]
	if strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)) {
		s.i += 3
		for !s.eof() {
			if q == '"' && s.src[s.i] == '\\' {
				s.i += 2
				continue
			}
			if strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)) {
				s.i += 3
				// Up to two more quotes belong to the content: """a""""" is `a""`.
				for k := 0; k < 2 && s.peek(0) == q; k++ {
					s.i++
				}
				return min(s.i, len(s.src))
			}
			s.i++
		}
		s.i = len(s.src) // an escape may have stepped past the end
		return s.i
	}
	s.i++
	for !s.eof() {
		c := s.src[s.i]
		s.i++
		if q == '"' && c == '\\' {
			s.i++
			continue
		}
		if c == q || c == '\n' {
			break
		}
	}
	s.i = min(s.i, len(s.src))
	return s.i
}

// unquoteBasic decodes the escapes of a TOML basic string (the content
// between the quotes), which is how quoted keys are written.
func unquoteBasic(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			b.WriteByte('\b')
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'f':
			b.WriteByte('\f')
		case 'r':
			b.WriteByte('\r')
		case 'e':
			b.WriteByte(0x1b)
		case 'x', 'u', 'U':
			n := 2 // digits after \x, \u, \U
			if s[i] == 'u' {
				n = 4
			} else if s[i] == 'U' {
				n = 8
			}
			if i+n >= len(s) { // too few digits; valid TOML never has this
				b.WriteString(s[i:])
				return b.String()
			}
			r, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
			if err != nil {
				b.WriteString(s[i : i+1+n])
			} else {
				b.WriteRune(rune(r))
			}
			i += n
		default: // \" and \\
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
