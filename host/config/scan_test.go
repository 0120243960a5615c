package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

const tricky = `# comment [not.a.table]
title = "a # not a comment"  # comment
"quoted key" = 1
'literal.key' = 2
dotted . inner."x.y" = 3
multi = """
line = "not a key"
[not.a.table]
"""
lit = '''
[[also.not]]'''
arr = [
  1, # comment
  [2, 3],
  { k = "v" },
]
when = 1979-05-27 07:32:00Z
esc = "\u00e9"
"\u00e9" = 4

  [ a . "b" ] # header with spaces
c = 5

[[list]]
name = "first"
[list.sub]
x = 1
[[list]]
name = "second"
[[list.items]]
y = 2
[[list.items]]
y = 3

[inline]
t = { a = 1, b.c = [ { d = 1 } ] }
`

// TestPositions pins the key and value positions of tricky TOML.
func TestPositions(t *testing.T) {
	if _, err := toml.Decode(tricky, new(map[string]any)); err != nil {
		t.Fatal(err)
	}
	pos := scanPositions(tricky)
	for _, tc := range []struct {
		path     string
		key, val string // line:col; val "" when the path has no value
	}{
		{"title", "2:1", "2:9"},
		{`"quoted key"`, "3:1", "3:16"},
		{`"literal.key"`, "4:1", "4:17"},
		{"dotted", "5:1", ""},
		{"dotted.inner", "5:10", ""},
		{`dotted.inner."x.y"`, "5:16", "5:24"},
		{"multi", "6:1", "6:9"},
		{"lit", "10:1", "10:7"},
		{"arr", "12:1", "12:7"},
		{"arr[0]", "13:3", "13:3"},
		{"arr[1]", "14:3", "14:3"},
		{"arr[1][1]", "14:7", "14:7"},
		{"arr[2]", "15:3", "15:3"},
		{"arr[2].k", "15:5", "15:9"},
		{"when", "17:1", "17:8"},
		{"esc", "18:1", "18:7"},
		{`"é"`, "19:1", "19:12"},
		{"a", "21:5", ""},
		{"a.b", "21:9", ""},
		{"a.b.c", "22:1", "22:5"},
		{"list", "24:3", ""},
		{"list[0]", "24:3", ""},
		{"list[0].name", "25:1", "25:8"},
		{"list[0].sub", "26:7", ""},
		{"list[0].sub.x", "27:1", "27:5"},
		{"list[1]", "28:3", ""},
		{"list[1].name", "29:1", "29:8"},
		{"list[1].items[0].y", "31:1", "31:5"},
		{"list[1].items[1]", "32:8", ""},
		{"list[1].items[1].y", "33:1", "33:5"},
		{"inline.t", "36:1", "36:5"},
		{"inline.t.b.c[0].d", "36:24", "36:28"},
	} {
		got := func(m map[string]int) string {
			off, ok := m[tc.path]
			if !ok {
				return ""
			}
			l, c := pos.lineCol(off)
			return fmt.Sprintf("%d:%d", l, c)
		}
		if k, v := got(pos.keys), got(pos.vals); k != tc.key || v != tc.val {
			t.Errorf("%s: key at %q, value at %q; want %q and %q", tc.path, k, v, tc.key, tc.val)
		}
	}
	// Paths not in the text fall back to the nearest enclosing key.
	for path, want := range map[string]string{
		"list[1].items[1].absent": "32:8",
		"a.b.nope.deeper":         "21:9",
		"nowhere":                 "1:1",
	} {
		if l, c := pos.locate(path, true); fmt.Sprintf("%d:%d", l, c) != want {
			t.Errorf("locate(%s) = %d:%d, want %s", path, l, c, want)
		}
	}
}

func TestParentPath(t *testing.T) {
	for path, want := range map[string]string{
		"a":                "",
		"a.b":              "a",
		"webhooks[1].url":  "webhooks[1]",
		"webhooks[1]":      "webhooks",
		`p."a.b[0]".c`:     `p."a.b[0]"`,
		`p."a.b[0]"`:       "p",
		`"x\"y.z".w[2][3]`: `"x\"y.z".w[2]`,
	} {
		got, _ := parentPath(path)
		if got != want {
			t.Errorf("parentPath(%s) = %q, want %q", path, got, want)
		}
	}
}

// checkAllPositioned walks the tree that the TOML library decoded from src
// and reports every key or element the scanner has no position for, and
// every value whose position does not start with a character of its type.
func checkAllPositioned(t *testing.T, src string) {
	var tree map[string]any
	if _, err := toml.Decode(src, &tree); err != nil {
		return // not TOML: the scanner never sees it
	}
	pos := scanPositions(src)
	if pos.refused != nil {
		return // what the library decodes wrongly; Parse refuses it
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if _, ok := pos.keys[path]; !ok {
			t.Errorf("no key position for %s in %q", path, src)
			return
		}
		off, hasVal := pos.vals[path]
		first := byte(0)
		if hasVal && off < len(src) {
			first = src[off]
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(keyPath(path, k), e)
			}
			if hasVal && first != '{' {
				t.Errorf("inline table %s at %q", path, src[off:])
			}
			return
		case []map[string]any:
			for i, e := range v {
				walk(indexPath(path, i), e)
			}
			return
		case []any:
			for i, e := range v {
				walk(indexPath(path, i), e)
			}
			if first != '[' {
				t.Errorf("array %s: value at %d", path, off)
			}
			return
		case string:
			if first != '"' && first != '\'' {
				t.Errorf("string %s: value at %d", path, off)
			}
		default:
			if !hasVal || strings.ContainsRune(`"'[{`, rune(first)) {
				t.Errorf("scalar %s: value at %d, %v", path, off, hasVal)
			}
		}
	}
	for k, v := range tree {
		walk(keyPath("", k), v)
	}
}

func TestScannerFindsEverything(t *testing.T) {
	for _, src := range []string{
		tricky,
		strings.ReplaceAll(tricky, "\n", "\r\n"),
		"\uFEFFa = 1\n",
		"a = \"\"\nb = ''\nc = \"\"\"\"\"\"\nd = ''''''\ne = \"\"\"x\"\"\"\"\"\nf = '''y'''''\ng = 1\n",
		"a = \"\"\"\\\"\"\"\"\"\"\nb = \"q\\\"uote\"\n\"k\\\"ey\" = 1\n",
		"[a]\n[[a.b]]\nc = 1\n[[a.b]]\n[a.b.d]\ne = 2\n[[a.b.f]]\n",
		"x = [[1, 2], [\"a\", [\"b\"]], [], [{}]]\ny = {}\nz = { a = { b = { c = [1] } } }\n",
		"t = { a = 1,\n  b = 2, # comment\n}\n",
		"n = [ +1, -2, 0x1F, 0o7, 0b1, 1e3, inf, -nan, true, false, 1979-05-27, 07:32, 1979-05-27T00:32:00.999999-07:00 ]\n",
		"\t k\t.\t'l'\t=\t1\t# c\n",
	} {
		if _, err := toml.Decode(src, new(map[string]any)); err != nil {
			t.Errorf("test input is not TOML: %v\n%s", err, src)
		}
		checkAllPositioned(t, src)
	}
	for _, f := range append(globTOML(t), "../../config.toml") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		checkAllPositioned(t, string(data))
	}
}

func globTOML(t testing.TB) []string {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// FuzzParse checks that any input gives a Config or positioned errors, never
// a panic or a hang, and that the scanner finds every key the TOML library
// decoded. Run it with: go test -fuzz FuzzParse ./host/config/
func FuzzParse(f *testing.F) {
	f.Add(tricky)
	for _, file := range append(globTOML(f), "../../config.toml") {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Fuzz(func(t *testing.T, src string) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			checkAllPositioned(t, src)
			_, err := Parse("f.toml", []byte(src))
			if err == nil {
				return
			}
			lines := strings.Count(src, "\n") + 1
			for _, e := range err.(ErrorList) {
				if e.Line < 1 || e.Line > lines || e.Column < 1 {
					t.Errorf("bad position %d:%d for %v in %q", e.Line, e.Column, e, src)
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Parse hangs on %q", src)
		}
	})
}
