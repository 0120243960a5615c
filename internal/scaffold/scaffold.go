// Package scaffold writes a new handler directory for `evhost new`: the
// handler's source using a language's kit, its unit test in the language's
// own runner, a README with the build and test commands, and the kit
// itself, vendored, so that the directory builds anywhere with no path back
// to an evhost checkout. Its templates and the kits are embedded in the
// binary.
//
// The kits are copies of the files under plugins/ (the root module cannot
// embed another module's files); TestKitsMatchPlugins fails when they
// differ, and `go generate ./internal/scaffold` copies them again.
package scaffold

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

//go:generate go test -run TestKitsMatchPlugins -update .

//go:embed all:templates
var templates embed.FS

//go:embed all:_kits
var kits embed.FS

// Langs are the languages `evhost new` knows, by their --lang name.
var Langs = []string{"go", "rust", "c", "as", "js", "ts"}

// Options say what to scaffold.
type Options struct {
	// Lang is one of Langs.
	Lang string
	// Name is the plugin's name: it names the directory, the config table
	// and the handler's emitted event (NAME.handled).
	Name string
	// Dir is the directory to create (it must not exist or be empty).
	Dir string
	// ConfigDir is the directory of the config that gets the plugin's
	// table: the table's paths are relative to it.
	ConfigDir string
	// Events are the types the plugin handles; empty means NAME.requested.
	Events []string
}

// Result is what New wrote.
type Result struct {
	// Files are the paths written, relative to Dir, sorted.
	Files []string
	// Table is the [plugins.NAME] table to add to the config.
	Table string
	// Build is the command that builds the module, run in Dir ("" for Go:
	// evhost builds a Go package directory itself).
	Build string
	// Test is the command that runs the handler's unit tests, in Dir.
	Test string
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// CheckName reports whether name can name a scaffolded plugin in every
// language: a plugin name (letters, digits, '_', '-') that starts with a
// letter (a Rust crate's rule) and is not "evhost" (the kit's crate and
// directory).
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid name %q: use a letter, then up to 63 of A-Z, a-z, 0-9, '_' and '-'", name)
	}
	if strings.EqualFold(name, "evhost") {
		return errors.New(`invalid name "evhost": the kit has that name`)
	}
	return nil
}

// New writes the handler directory opts describes and returns what it
// wrote. It refuses a directory that exists and is not empty.
func New(opts Options) (*Result, error) {
	if err := CheckName(opts.Name); err != nil {
		return nil, err
	}
	l, ok := langs[opts.Lang]
	if !ok {
		return nil, fmt.Errorf("unknown language %q: want %s", opts.Lang, strings.Join(Langs, ", "))
	}
	if len(opts.Events) == 0 {
		opts.Events = []string{opts.Name + ".requested"}
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	cfgDir, err := filepath.Abs(opts.ConfigDir)
	if err != nil {
		return nil, err
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("%s exists and is not empty", opts.Dir)
	}
	rel, err := filepath.Rel(cfgDir, dir)
	if err != nil {
		rel = dir
	}
	if strings.HasPrefix(rel, "..") {
		rel = dir // outside the config's directory: an absolute path reads better
	}
	rel = filepath.ToSlash(rel)
	build := l.build()
	res := &Result{Build: build, Test: l.test}
	repl := strings.NewReplacer(
		"__NAME__", opts.Name,
		"__CRATE__", strings.ReplaceAll(opts.Name, "-", "_"),
		"__EVENT__", opts.Events[0],
		"__BUILD__", build,
	)
	write := func(name string, b []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		res.Files = append(res.Files, name)
		return os.WriteFile(p, b, 0o644)
	}
	root := "templates/" + l.templates
	err = fs.WalkDir(templates, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := templates.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(strings.TrimPrefix(p, root+"/"), ".tmpl")
		return write(name, []byte(repl.Replace(string(b))))
	})
	if err != nil {
		return nil, err
	}
	for _, k := range l.kit {
		b, err := kits.ReadFile("_kits/" + k.from)
		if err != nil {
			return nil, err
		}
		if k.edit != nil {
			b = k.edit(opts.Name, b)
		}
		if err := write(k.to, b); err != nil {
			return nil, err
		}
	}
	sort.Strings(res.Files)
	res.Table = l.table(opts.Name, rel, opts.Events, build)
	return res, nil
}

// kitFile is one file of a kit: its path under plugins/ (and under _kits),
// where it goes in a scaffold, and an optional edit.
type kitFile struct {
	from, to string
	edit     func(name string, b []byte) []byte
}

type lang struct {
	templates string
	kit       []kitFile
	build     func() string // the build command, run in the handler's directory
	test      string
	table     func(name, rel string, events []string, build string) string
}

var langs = map[string]lang{
	"go": {
		templates: "go",
		kit:       goKit(),
		build:     func() string { return "" },
		test:      "go test ./...",
		table: func(name, rel string, events []string, _ string) string {
			return fmt.Sprintf("\n# A Go handler made by evhost new: evhost builds the package directory.\n[plugins.%s]\npath = %q\nevents = %s\n",
				name, rel, tomlList(events))
		},
	},
	"c": {
		templates: "c",
		kit:       []kitFile{{from: "c/evhost.h", to: "evhost/evhost.h"}, {from: "c/evhost_test.h", to: "evhost/evhost_test.h"}},
		build:     func() string { return "clang --target=wasm32-wasi -O2 -mexec-model=reactor -o handler.wasm handler.c" },
		test:      "cc -o handler_test handler.c handler_test.c && ./handler_test",
		table: func(name, rel string, events []string, build string) string {
			return table("A C", name, rel, "handler.wasm", build, events, "handler.c", "evhost")
		},
	},
	"rust": {
		templates: "rust",
		kit: []kitFile{
			{from: "rust/src/lib.rs", to: "evhost/src/lib.rs"},
			{from: "rust/src/envelope.rs", to: "evhost/src/envelope.rs"},
			{from: "rust/src/sys.rs", to: "evhost/src/sys.rs"},
			{from: "rust/src/testing.rs", to: "evhost/src/testing.rs"},
		},
		build: func() string {
			target, debian := RustTarget()
			if debian {
				return "PATH=/usr/bin:$PATH cargo build --release --target " + target
			}
			return "cargo build --release --target " + target
		},
		test: "cargo test",
		table: func(name, rel string, events []string, build string) string {
			target, _ := RustTarget()
			return table("A Rust", name, rel, "target/"+target+"/release/"+strings.ReplaceAll(name, "-", "_")+".wasm", build, events, "src", "Cargo.toml")
		},
	},
	"as": {
		templates: "as",
		kit: []kitFile{
			{from: "assemblyscript/assembly/index.ts", to: "assembly/evhost.ts"},
			{from: "assemblyscript/testing/host.js", to: "test/host.js"},
			{from: "assemblyscript/package-lock.json", to: "package-lock.json", edit: func(name string, b []byte) []byte {
				return []byte(strings.ReplaceAll(string(b), `"name": "evhost-assemblyscript"`, fmt.Sprintf("%q: %q", "name", name)))
			}},
		},
		build: func() string { return "npm run build" },
		test:  "npm test",
		table: func(name, rel string, events []string, build string) string {
			return table("An AssemblyScript", name, rel, "build/"+name+".wasm", build, events, "assembly")
		},
	},
	"js": jsLang("js", "A JavaScript"),
	"ts": jsLang("ts", "A TypeScript"),
}

// jsLang is JavaScript (ext "js") or TypeScript ("ts"): a handler run by
// evhost's JavaScript engine, bundled by esbuild.
func jsLang(ext, article string) lang {
	return lang{
		templates: ext,
		kit: []kitFile{
			{from: "js/example/testing/host.js", to: "evhost/host.js"},
			{from: "js/example/evhost.d.ts", to: "evhost/evhost.d.ts"},
			{from: "js/example/package-lock.json", to: "package-lock.json", edit: func(name string, b []byte) []byte {
				return []byte(strings.ReplaceAll(string(b), `"name": "evhost-js-example"`, fmt.Sprintf("%q: %q", "name", name)))
			}},
		},
		build: func() string { return "npm run build" },
		test:  "npm test",
		table: func(name, rel string, events []string, build string) string {
			return fmt.Sprintf(`
# %s handler made by evhost new (%s/README.md says how to test it). It
# runs in evhost's JavaScript engine; its source is the bundle the build
# writes. evhost runs the build in build_dir before it loads the handler,
# and again whenever a file under watch changes.
[plugins.%s]
engine = "js"
config_file = { source = %q }
build = %q
build_dir = %q
watch = %s
events = %s
`, article, rel, name, path.Join(rel, "dist/handler.js"), build, rel, tomlList([]string{path.Join(rel, "src")}), tomlList(events))
		},
	}
}

// table returns the config table of a handler in rel (relative to the
// config) that build builds to out, watching the files and directories
// watch (out and watch relative to rel).
func table(lang, name, rel, out, build string, events []string, watch ...string) string {
	for i, w := range watch {
		watch[i] = path.Join(rel, w)
	}
	return fmt.Sprintf(`
# %s handler made by evhost new (%s/README.md says how to test it). evhost
# runs the build in build_dir before it loads the module at path, and again
# whenever a file under watch changes.
[plugins.%s]
path = %q
build = %q
build_dir = %q
watch = %s
events = %s
`, lang, rel, name, path.Join(rel, out), build, rel, tomlList(watch), tomlList(events))
}

func tomlList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// goPDK are the files of the Go PDK a scaffold vendors, under plugins/.
var goPDK = []string{
	"pdk/abi_native.go", "pdk/abi_wasip1.go", "pdk/config.go", "pdk/decode.go", "pdk/doc.go",
	"pdk/emit.go", "pdk/errors.go", "pdk/event.go", "pdk/handle.go", "pdk/http.go",
	"pdk/http_wasip1.go", "pdk/kv.go", "pdk/kv_wasip1.go", "pdk/log.go",
	"pdk/internal/envelope/envelope.go", "pdk/internal/hostabi/hostabi.go", "pdk/pdktest/pdktest.go",
}

func goKit() []kitFile {
	out := make([]kitFile, 0, len(goPDK))
	for _, f := range goPDK {
		out = append(out, kitFile{from: f, to: path.Join("evhost", f)})
	}
	return out
}

// kitSources are every file under _kits, as paths under plugins/.
func kitSources() []string {
	var out []string
	for _, l := range langs {
		for _, k := range l.kit {
			out = append(out, k.from)
		}
	}
	sort.Strings(out)
	return out
}

// RustTarget returns the WASI target to build Rust for, and whether it is
// Debian's toolchain (/usr/bin/rustc with wasm32-wasi), which a rustup
// toolchain first on PATH would hide. Without Debian's, it is current
// Rust's wasm32-wasip1.
func RustTarget() (target string, debian bool) {
	if _, err := os.Stat("/usr/bin/rustc"); err == nil {
		for _, d := range []string{"/usr/lib/rustlib/wasm32-wasi", "/usr/lib/rustlib/wasm32-wasip1"} {
			if _, err := os.Stat(d); err == nil {
				return filepath.Base(d), true
			}
		}
	}
	return "wasm32-wasip1", false
}
