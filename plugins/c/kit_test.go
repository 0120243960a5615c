package ckit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// The directories holding a handler.c and its native handler_test.c.
var handlers = []string{"example", "conformance"}

// TestNative builds each handler with its unit test for the host (no
// WebAssembly), with the host's C compiler and evhost_test.h, and runs it,
// as the README says. AddressSanitizer and UBSan check the kit's memory
// handling too.
func TestNative(t *testing.T) {
	cc := compiler(t)
	for _, dir := range handlers {
		t.Run(dir, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "handler_test")
			args := []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-o", bin,
				filepath.Join(dir, "handler.c"), filepath.Join(dir, "handler_test.c")}
			sanitized := append([]string{"-fsanitize=address,undefined", "-fno-sanitize-recover=all"}, args...)
			if out, err := exec.Command(cc, sanitized...).CombinedOutput(); err != nil {
				// A compiler without the sanitizer runtimes still runs the tests.
				t.Logf("%s with sanitizers: %v\n%s", cc, err, out)
				if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
					t.Fatalf("%s %v: %v\n%s", cc, args, err, out)
				}
			}
			out, err := exec.Command(bin).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", bin, err, out)
			}
			if !regexp.MustCompile(`(?m)^[1-9][0-9]* passed, 0 failed$`).Match(out) {
				t.Fatalf("unexpected output:\n%s", out)
			}
		})
	}
}

// TestWasmBuild builds each handler as the README says, for wasm32-wasi, and
// checks that the result is a WebAssembly module; internal/conformance (in
// the root module) runs the conformance handler through evhost's runtime.
func TestWasmBuild(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not found; install it with: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32")
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi"); err != nil {
		if _, err := os.Stat("/usr/share/wasi-sysroot"); err != nil {
			t.Skip("wasi-libc not found; install it with: apt-get install wasi-libc libclang-rt-14-dev-wasm32")
		}
	}
	for _, dir := range handlers {
		t.Run(dir, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "handler.wasm")
			cmd := exec.Command(clang, "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wall", "-Werror",
				"-o", out, filepath.Join(dir, "handler.c"))
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, b)
			}
			b, err := os.ReadFile(out)
			if err != nil || !bytes.HasPrefix(b, []byte("\x00asm\x01\x00\x00\x00")) {
				t.Fatalf("not a wasm module: %v", err)
			}
		})
	}
}

func compiler(t *testing.T) string {
	t.Helper()
	if cc := os.Getenv("CC"); cc != "" {
		return cc
	}
	for _, name := range []string{"cc", "clang", "gcc"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no C compiler found; install one with: apt-get install clang (or gcc)")
	return ""
}
