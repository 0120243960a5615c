package config

import (
	"cmp"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files of TestGolden from the current output")

// TestGolden loads every testdata/*.toml and compares the result with the
// .golden file beside it: the error text for a bad config, a dump of the
// decoded Config for a good one. The top-level config.toml is one of the
// cases, so that the reference cannot rot. Run with -update to rewrite the
// golden files, then read the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	type goldenCase struct{ name, file, golden string }
	var cases []goldenCase
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".toml")
		cases = append(cases, goldenCase{name, f, strings.TrimSuffix(f, ".toml") + ".golden"})
	}
	cases = append(cases, goldenCase{"reference", "../../config.toml", "testdata/reference.golden"})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			c, err := Load(tc.file)
			if err != nil {
				got = err.Error() + "\n"
			} else {
				got = dump(c)
			}
			if *update {
				if err := os.WriteFile(tc.golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Load(%s) differs from %s (run go test -update and review the diff)\n--- got\n%s--- want\n%s",
					tc.file, tc.golden, got, want)
			}
		})
	}
}

// dump renders c as sorted "path = value" lines, without the machine-specific
// absolute paths, for golden files.
func dump(c *Config) string {
	var lines []string
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		if s, ok := v.Interface().(fmt.Stringer); ok { // durations, sizes, secrets, levels
			lines = append(lines, fmt.Sprintf("%s = %s", prefix, cmp.Or(s.String(), `""`)))
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f := v.Type().Field(i)
				if !f.IsExported() || f.Name == "Dir" || strings.HasPrefix(f.Name, "Resolved") {
					continue
				}
				p := prefix + "." + f.Name
				if f.Anonymous {
					p = prefix
				}
				walk(strings.TrimPrefix(p, "."), v.Field(i))
			}
		case reflect.Slice:
			if v.IsNil() {
				lines = append(lines, prefix+" = nil")
			} else if v.Type().Elem().Kind() == reflect.String {
				lines = append(lines, fmt.Sprintf("%s = %q", prefix, v.Interface()))
			} else {
				for i := 0; i < v.Len(); i++ {
					walk(fmt.Sprintf("%s[%d]", prefix, i), v.Index(i))
				}
			}
		case reflect.Map:
			lines = append(lines, fmt.Sprintf("%s = %v", prefix, v.Interface()))
		default:
			lines = append(lines, fmt.Sprintf("%s = %#v", prefix, v.Interface()))
		}
	}
	walk("", reflect.ValueOf(*c))
	return strings.Join(lines, "\n") + "\n"
}
