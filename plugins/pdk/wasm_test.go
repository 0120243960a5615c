//go:build !wasip1

package pdk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The ABI signatures of the host functions and exports, as "params->results".
var abiSignatures = map[string]string{
	"evhost.log":          "i32,i32,i32->",
	"evhost.emit":         "i32,i32->i32",
	"evhost.fail":         "i32,i32->",
	"evhost.config_get":   "i32,i32->i64",
	"evhost.kv_get":       "i32,i32->i64",
	"evhost.kv_set":       "i32,i32,i32,i32->i32",
	"evhost.kv_delete":    "i32,i32->i32",
	"evhost.http_request": "i32,i32->i64",
	"_initialize":         "->",
	"evhost_abi_version":  "->i32",
	"evhost_alloc":        "i32->i32",
	"evhost_handle":       "i32,i32->i32",
}

// TestWasmModules builds the plugins under testdata with the real toolchain
// (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared) and checks their import and
// export sections: a reactor with the ABI's exports and signatures, and
// only the evhost imports that the plugin's code reaches (a plugin that never
// touches KV or HTTP must not import kv_* or http_request, or the host would
// ask for grants it does not need).
func TestWasmModules(t *testing.T) {
	tests := []struct {
		plugin string
		evhost []string // exactly these evhost imports
	}{
		{"minimal", []string{"fail", "log"}},
		{"sample", []string{"config_get", "emit", "fail", "log"}},
		{"kvhttp", []string{"config_get", "emit", "fail", "http_request", "kv_delete", "kv_get", "kv_set", "log"}},
	}
	for _, tt := range tests {
		t.Run(tt.plugin, func(t *testing.T) {
			m := parseWasm(t, buildPlugin(t, tt.plugin))
			var evhost []string
			for name, sig := range m.imports {
				module, fn, _ := strings.Cut(name, ".")
				switch module {
				case "evhost":
					evhost = append(evhost, fn)
					if want := abiSignatures[name]; sig != want {
						t.Errorf("import %s has signature %s, want %s", name, sig, want)
					}
				case "wasi_snapshot_preview1":
				default:
					t.Errorf("unexpected import %s", name)
				}
			}
			slices.Sort(evhost)
			if !slices.Equal(evhost, tt.evhost) {
				t.Errorf("evhost imports %v, want %v", evhost, tt.evhost)
			}
			for _, name := range []string{"_initialize", "evhost_abi_version", "evhost_alloc", "evhost_handle"} {
				sig, ok := m.exports[name]
				if !ok {
					t.Errorf("export %s missing", name)
				} else if want := abiSignatures[name]; sig != want {
					t.Errorf("export %s has signature %s, want %s", name, sig, want)
				}
			}
			if _, ok := m.exports["_start"]; ok {
				t.Error("exports _start: a module with _start and the evhost exports is refused")
			}
		})
	}
}

// buildPlugin builds ./testdata/<name> for wasip1 and returns the module. It
// skips the test when the Go toolchain cannot build for wasip1 at all.
func buildPlugin(t *testing.T, name string) []byte {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipping: no go command in PATH to build the wasip1 plugin (%v)", err)
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(goTool, "build", "-buildmode=c-shared", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		if bytes.Contains(msg, []byte("unsupported GOOS/GOARCH")) || bytes.Contains(msg, []byte("not supported on wasip1")) {
			t.Skipf("skipping: this Go toolchain cannot build wasip1 reactors (Go 1.24 or later needed): %s", msg)
		}
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wasmModule is what the tests need of a module: "module.name" of each
// imported function and the name of each exported function, mapped to the
// signature, "i32,i32->i64".
type wasmModule struct {
	imports, exports map[string]string
}

// parseWasm reads the type, import, function and export sections of a
// WebAssembly binary, with nothing but the standard library.
func parseWasm(t *testing.T, b []byte) *wasmModule {
	t.Helper()
	m, err := decodeWasm(b)
	if err != nil {
		t.Fatalf("parse module: %v", err)
	}
	return m
}

func decodeWasm(b []byte) (*wasmModule, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" || string(b[4:8]) != "\x01\x00\x00\x00" {
		return nil, errors.New("not a WebAssembly 1.0 binary")
	}
	m := &wasmModule{imports: map[string]string{}, exports: map[string]string{}}
	var types []string     // signature of each type index
	var funcTypes []uint32 // type index of each function index (imports first)
	type export struct {
		name string
		fn   uint32
	}
	var exports []export
	r := &wasmReader{b: b[8:]}
	for r.err == nil && len(r.b) > 0 {
		id := r.byte()
		sec := &wasmReader{b: r.bytes(r.u32())}
		switch id {
		case 1: // type
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				if sec.byte() != 0x60 {
					return nil, errors.New("bad function type")
				}
				params, results := sec.valtypes(), sec.valtypes()
				types = append(types, params+"->"+results)
			}
		case 2: // import
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				name := sec.name() + "." + sec.name()
				switch kind := sec.byte(); kind {
				case 0: // function
					ti := sec.u32()
					funcTypes = append(funcTypes, ti)
					if int(ti) >= len(types) {
						return nil, fmt.Errorf("import %s: type %d out of range", name, ti)
					}
					m.imports[name] = types[ti]
				case 1: // table
					sec.byte()
					sec.limits()
				case 2: // memory
					sec.limits()
				case 3: // global
					sec.byte()
					sec.byte()
				default:
					return nil, fmt.Errorf("import %s: unknown kind %d", name, kind)
				}
			}
		case 3: // function
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				funcTypes = append(funcTypes, sec.u32())
			}
		case 7: // export
			for n := sec.u32(); n > 0 && sec.err == nil; n-- {
				name := sec.name()
				kind, idx := sec.byte(), sec.u32()
				if kind == 0 {
					exports = append(exports, export{name, idx})
				}
			}
		}
		if sec.err != nil {
			return nil, fmt.Errorf("section %d: %w", id, sec.err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	for _, e := range exports {
		if int(e.fn) >= len(funcTypes) || int(funcTypes[e.fn]) >= len(types) {
			return nil, fmt.Errorf("export %s: function %d out of range", e.name, e.fn)
		}
		m.exports[e.name] = types[funcTypes[e.fn]]
	}
	return m, nil
}

// wasmReader reads the WebAssembly binary encoding; the first error sticks.
type wasmReader struct {
	b   []byte
	err error
}

func (r *wasmReader) fail(msg string) {
	if r.err == nil {
		r.err = errors.New(msg)
	}
	r.b = nil
}

func (r *wasmReader) byte() byte {
	if len(r.b) == 0 {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// u32 reads an unsigned LEB128 number of at most 32 bits.
func (r *wasmReader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7F) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 number too long")
	return 0
}

func (r *wasmReader) bytes(n uint32) []byte {
	if uint64(n) > uint64(len(r.b)) {
		r.fail("length past the end")
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

func (r *wasmReader) name() string { return string(r.bytes(r.u32())) }

func (r *wasmReader) limits() {
	flags := r.byte()
	r.u32()
	if flags&1 != 0 {
		r.u32()
	}
}

func (r *wasmReader) valtypes() string {
	var s []string
	for n := r.u32(); n > 0 && r.err == nil; n-- {
		switch t := r.byte(); t {
		case 0x7F:
			s = append(s, "i32")
		case 0x7E:
			s = append(s, "i64")
		case 0x7D:
			s = append(s, "f32")
		case 0x7C:
			s = append(s, "f64")
		default:
			s = append(s, fmt.Sprintf("0x%02x", t))
		}
	}
	return strings.Join(s, ",")
}
