// Package wasmbuild builds the real .wasm modules that evhost's tests and
// benchmarks run: WAT with wabt's wat2wasm, C with clang and wasi-libc, and Go
// with the Go toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared).
//
// Outputs are cached by content hash in the user's cache directory, so each
// plugin is built once per change, not once per test. When a toolchain is
// missing the test is skipped with a message that says how to install it.
package wasmbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// TB is the part of testing.TB that the builders use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

var _ TB = (testing.TB)(nil)

var mu sync.Mutex // serialises builds: the machine has few cores

// CacheDir returns the directory where built modules are kept.
func CacheDir() string {
	if d := os.Getenv("EVHOST_TEST_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "evhost-test")
}

// WAT compiles WebAssembly text to a binary module with wat2wasm.
func WAT(t TB, src string) []byte {
	t.Helper()
	tool := lookPath(t, "wat2wasm", "apt-get install wabt")
	return cached(t, "wat", [][]byte{[]byte(src)}, func(out string) error {
		in := out + ".wat"
		if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
			return err
		}
		defer os.Remove(in)
		return run("", nil, tool, "--enable-all", "-o", out, in)
	})
}

// WATFile compiles the WAT file at path.
func WATFile(t TB, path string) []byte {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	return WAT(t, string(src))
}

// C compiles the C sources in dir (files ending in .c, except the native
// unit tests ending in _test.c) to a reactor module with clang, lld and
// wasi-libc. The sources name their exports with
// __attribute__((export_name("..."))). The cache key covers the headers
// they include by relative path from elsewhere (the C kit's evhost.h).
func C(t TB, dir string, extraFlags ...string) []byte {
	t.Helper()
	clang := lookPath(t, "clang", "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32")
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil {
		if _, err2 := os.Stat("/usr/lib/wasm32-wasi"); err2 != nil {
			t.Skipf("wasmbuild: wasi-libc not found (apt-get install wasi-libc libclang-rt-14-dev-wasm32)")
		}
	}
	files := sourceFiles(t, dir, ".c", ".h")
	key := contents(t, withIncludes(t, files), extraFlags)
	return cached(t, "c", key, func(out string) error {
		var cs []string
		for _, f := range files {
			if strings.HasSuffix(f, ".c") && !strings.HasSuffix(f, "_test.c") {
				abs, err := filepath.Abs(f) // clang runs in dir
				if err != nil {
					return err
				}
				cs = append(cs, abs)
			}
		}
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		args := append([]string{"--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-o", abs}, extraFlags...)
		args = append(args, cs...)
		return run(dir, nil, clang, args...)
	})
}

// Go builds the Go package in dir (inside a module) as a reactor module
// with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
func Go(t TB, dir string) []byte {
	t.Helper()
	return goBuild(t, dir, true)
}

// GoCommand builds the Go package in dir as a WASI command module (_start).
func GoCommand(t TB, dir string) []byte {
	t.Helper()
	return goBuild(t, dir, false)
}

func goBuild(t TB, dir string, reactor bool) []byte {
	t.Helper()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = lookPath(t, "go", "install Go from https://go.dev/dl")
	}
	modRoot := findModRoot(t, dir)
	// The key covers the package's own files and every module file it can
	// import without the network (the module root and replace targets).
	files := sourceFiles(t, modRoot, ".go", ".mod", ".sum")
	files = append(files, replaceTargets(t, modRoot)...)
	mode := "command"
	if reactor {
		mode = "reactor"
	}
	key := contents(t, files, []string{runtime.Version(), mode, dir})
	return cached(t, "go", key, func(out string) error {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		args := []string{"build", "-trimpath", "-o", abs}
		if reactor {
			args = append(args, "-buildmode=c-shared")
		}
		args = append(args, ".")
		return run(dir, []string{"GOOS=wasip1", "GOARCH=wasm", "GOWORK=off"}, goTool, args...)
	})
}

// withIncludes adds to files the headers they include with #include "path"
// from outside their directory (a kit's header by relative path), so that
// editing such a header invalidates the cache.
func withIncludes(t TB, files []string) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range files {
		seen[filepath.Clean(f)] = true
	}
	out := append([]string(nil), files...)
	for i := 0; i < len(out); i++ {
		src, err := os.ReadFile(out[i])
		if err != nil {
			t.Fatalf("wasmbuild: %v", err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			rest, ok := strings.CutPrefix(strings.TrimSpace(line), "#include")
			rest = strings.TrimSpace(rest)
			if !ok || !strings.HasPrefix(rest, `"`) {
				continue
			}
			name, _, ok := strings.Cut(rest[1:], `"`)
			if !ok {
				continue
			}
			p := filepath.Clean(filepath.Join(filepath.Dir(out[i]), name))
			if seen[p] {
				continue
			}
			if _, err := os.Stat(p); err == nil {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

func findModRoot(t TB, dir string) string {
	t.Helper()
	d, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		p := filepath.Dir(d)
		if p == d {
			t.Fatalf("wasmbuild: no go.mod above %s", dir)
		}
		d = p
	}
}

// replaceTargets lists the source files of local replace targets in the
// go.mod of modRoot, so that editing the PDK invalidates the cache.
func replaceTargets(t TB, modRoot string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(modRoot, "go.mod"))
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		_, target, ok := strings.Cut(line, "=>")
		if !ok {
			continue
		}
		target = strings.TrimSpace(target)
		if !strings.HasPrefix(target, ".") && !strings.HasPrefix(target, "/") {
			continue
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(modRoot, target)
		}
		out = append(out, sourceFiles(t, target, ".go", ".mod")...)
	}
	return out
}

func sourceFiles(t TB, dir string, exts ...string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		for _, e := range exts {
			if strings.HasSuffix(p, e) && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("wasmbuild: walking %s: %v", dir, err)
	}
	sort.Strings(files)
	return files
}

func contents(t TB, files []string, extra []string) [][]byte {
	t.Helper()
	var parts [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("wasmbuild: %v", err)
		}
		parts = append(parts, []byte(f), b)
	}
	for _, e := range extra {
		parts = append(parts, []byte(e))
	}
	return parts
}

func cached(t TB, kind string, parts [][]byte, build func(out string) error) []byte {
	t.Helper()
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	sum := hex.EncodeToString(h.Sum(nil))[:32]
	dir := filepath.Join(CacheDir(), kind)
	out := filepath.Join(dir, sum+".wasm")
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	mu.Lock()
	defer mu.Unlock()
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", out, os.Getpid())
	if err := build(tmp); err != nil {
		os.Remove(tmp)
		t.Fatalf("wasmbuild: building %s module: %v", kind, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	return b
}

func lookPath(t TB, name, hint string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("wasmbuild: %s not found; install it with: %s", name, hint)
	}
	return p
}

func run(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}
