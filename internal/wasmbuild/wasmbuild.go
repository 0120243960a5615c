// Package wasmbuild builds the real .wasm modules that evhost's tests and
// benchmarks run: WAT with wabt's wat2wasm, C with clang and wasi-libc, Go
// with the Go toolchain (GOOS=wasip1 GOARCH=wasm -buildmode=c-shared),
// Rust with cargo, AssemblyScript with asc from npm, the JavaScript engine
// (QuickJS) with clang through host/jsengine, and the TypeScript bundles
// that engine runs with esbuild from npm.
//
// Outputs are cached by content hash in the user's cache directory, so each
// plugin is built once per change, not once per test. When a toolchain is
// missing the test is skipped with a message that says how to install it.
package wasmbuild

import (
	"bytes"
	"context"
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

	"github.com/evhost/evhost/host/jsengine"
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

// GoTags is Go with build tags (go build -tags).
func GoTags(t TB, dir string, tags ...string) []byte {
	t.Helper()
	return goBuild(t, dir, true, tags...)
}

// GoCommand builds the Go package in dir as a WASI command module (_start).
func GoCommand(t TB, dir string) []byte {
	t.Helper()
	return goBuild(t, dir, false)
}

func goBuild(t TB, dir string, reactor bool, tags ...string) []byte {
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
	key := contents(t, files, append([]string{runtime.Version(), mode, dir}, tags...))
	return cached(t, "go", key, func(out string) error {
		abs, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		args := []string{"build", "-trimpath", "-o", abs}
		if reactor {
			args = append(args, "-buildmode=c-shared")
		}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
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

// Rust builds the cdylib crate in dir for WebAssembly with cargo, offline,
// and returns its module. It uses Debian's toolchain (/usr/bin/cargo and
// /usr/bin/rustc with libstd-rust-dev-wasm32: target wasm32-wasi) when it
// is installed, else the cargo and rustc on PATH if their sysroot has
// wasm32-wasip1 or wasm32-wasi (a rustup toolchain often comes first on PATH
// without either). The cache key covers the sources of the Cargo workspace
// that holds dir (the kit and its crates) and the compiler's version.
func Rust(t TB, dir string) []byte {
	t.Helper()
	cargo, rustc, target := rustToolchain(t)
	root := cargoRoot(t, dir)
	manifest, err := os.ReadFile(filepath.Join(dir, "Cargo.toml"))
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	name := ""
	for _, line := range strings.Split(string(manifest), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "name" {
			name = strings.Trim(strings.TrimSpace(v), `"`)
			break
		}
	}
	if name == "" {
		t.Fatalf("wasmbuild: no package name in %s/Cargo.toml", dir)
	}
	version, err := exec.Command(rustc, "-vV").Output()
	if err != nil {
		t.Fatalf("wasmbuild: %s -vV: %v", rustc, err)
	}
	files := sourceFiles(t, root, ".rs", ".toml", ".lock")
	if cfg := filepath.Join(root, ".cargo", "config.toml"); fileExists(cfg) {
		files = append(files, cfg) // the linker's flags (a hidden directory, which sourceFiles skips)
	}
	key := contents(t, files, []string{string(version), target, dir})
	return cached(t, "rust", key, func(out string) error {
		targetDir, err := filepath.Abs(filepath.Join(CacheDir(), "cargo-target"))
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return err
		}
		err = run(abs, []string{"RUSTC=" + rustc, "CARGO_TARGET_DIR=" + targetDir}, cargo,
			"build", "--release", "--offline", "--locked", "--target", target, "--manifest-path", filepath.Join(abs, "Cargo.toml"))
		if err != nil {
			return err
		}
		built := filepath.Join(targetDir, target, "release", strings.ReplaceAll(name, "-", "_")+".wasm")
		b, err := os.ReadFile(built)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// AssemblyScript compiles the AssemblyScript file entry (a path relative
// to kit) with the compiler that kit's package-lock.json pins, with kit's
// asconfig.json (target release). When kit has no node_modules yet, it
// installs them first with npm ci (from the lock file).
func AssemblyScript(t TB, kit, entry string) []byte {
	t.Helper()
	abs, err := filepath.Abs(kit)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	asc := filepath.Join(abs, "node_modules", ".bin", "asc")
	if _, err := os.Stat(asc); err != nil {
		npm := lookPath(t, "npm", "apt-get install nodejs npm (Node 20 or later), then: cd "+kit+" && npm ci")
		mu.Lock()
		_, err := os.Stat(asc)
		if err != nil {
			err = run(abs, nil, npm, "ci", "--no-audit", "--no-fund")
		}
		mu.Unlock()
		if err != nil {
			t.Fatalf("wasmbuild: %v", err)
		}
	}
	node := lookPath(t, "node", "apt-get install nodejs (Node 20 or later)")
	files := sourceFiles(t, abs, ".ts", ".json")
	key := contents(t, files, []string{entry})
	return cached(t, "assemblyscript", key, func(out string) error {
		o, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		return run(abs, nil, node, asc, entry, "--config", "asconfig.json", "--target", "release", "-o", o)
	})
}

// JSEngine builds evhost's JavaScript engine (QuickJS with the C kit:
// host/jsengine/src, which the daemon embeds) for the grants of v, with
// the same function that builds it for the daemon (jsengine.Build). repo
// is the repository's root. Every variant is built at once, into a
// directory keyed by the sources' content: QuickJS is compiled once for
// all four.
func JSEngine(t TB, repo string, v jsengine.Variant) []byte {
	t.Helper()
	tc, err := jsengine.FindToolchain()
	if err != nil {
		t.Skipf("wasmbuild: %v", err)
	}
	if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err != nil && tc.Sysroot == "" {
		t.Skipf("wasmbuild: wasi-libc not found: %s", jsengine.Install)
	}
	src := filepath.Join(repo, "host", "jsengine", "src")
	var files []string
	for _, d := range []string{"js/engine", "js/quickjs"} {
		files = append(files, sourceFiles(t, filepath.Join(src, filepath.FromSlash(d)), ".c", ".h", ".js", "VERSION")...)
	}
	files = append(files, filepath.Join(src, "c", "evhost.h"))
	h := sha256.New()
	for _, p := range contents(t, files, append([]string{tc.Clang, tc.Sysroot}, jsengine.Flags()...)) {
		fmt.Fprintf(h, "%d:", len(p))
		h.Write(p)
	}
	dir := filepath.Join(CacheDir(), "jsengine", hex.EncodeToString(h.Sum(nil))[:32])
	out := filepath.Join(dir, v.File())
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	mu.Lock()
	defer mu.Unlock()
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "tmp-")
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	defer os.RemoveAll(tmp)
	abs, err := filepath.Abs(src)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	if err := jsengine.Build(context.Background(), tc, abs, tmp, jsengine.Variants...); err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	if err := os.Rename(tmp, dir); err != nil && !fileExists(out) {
		t.Fatalf("wasmbuild: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	return b
}

// rustToolchain finds a cargo and rustc that can build for WASI.
// Esbuild bundles the TypeScript or JavaScript entry of the npm package in
// dir with the package's esbuild (npm ci the first time) into the script
// that evhost's JavaScript engine runs: an IIFE that sets the global
// evhostHandler. It returns the script's text.
func Esbuild(t TB, dir, entry string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	esbuild := filepath.Join(abs, "node_modules", ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		npm := lookPath(t, "npm", "apt-get install nodejs npm (Node 20 or later), then: cd "+dir+" && npm ci")
		mu.Lock()
		_, err := os.Stat(esbuild)
		if err != nil {
			err = run(abs, nil, npm, "ci", "--no-audit", "--no-fund")
		}
		mu.Unlock()
		if err != nil {
			t.Fatalf("wasmbuild: %v", err)
		}
	}
	files := sourceFiles(t, abs, ".ts", ".js", ".json")
	key := contents(t, files, []string{entry})
	return string(cached(t, "esbuild", key, func(out string) error {
		o, err := filepath.Abs(out)
		if err != nil {
			return err
		}
		return run(abs, nil, esbuild, entry, "--bundle", "--format=iife", "--global-name=evhostHandler",
			"--target=es2017", "--outfile="+o)
	}))
}

func rustToolchain(t TB) (cargo, rustc, target string) {
	t.Helper()
	type pair struct{ cargo, rustc string }
	var pairs []pair
	if _, err := os.Stat("/usr/bin/cargo"); err == nil {
		pairs = append(pairs, pair{"/usr/bin/cargo", "/usr/bin/rustc"})
	}
	if c, err := exec.LookPath("cargo"); err == nil {
		if r, err := exec.LookPath("rustc"); err == nil {
			pairs = append(pairs, pair{c, r})
		}
	}
	for _, p := range pairs {
		out, err := exec.Command(p.rustc, "--print", "sysroot").Output()
		if err != nil {
			continue
		}
		sysroot := strings.TrimSpace(string(out))
		for _, tgt := range []string{"wasm32-wasip1", "wasm32-wasi"} {
			if _, err := os.Stat(filepath.Join(sysroot, "lib", "rustlib", tgt)); err == nil {
				return p.cargo, p.rustc, tgt
			}
		}
	}
	t.Skipf("wasmbuild: no Rust toolchain with a WASI target; install one with: apt-get install rustc cargo libstd-rust-dev-wasm32 (or rustup target add wasm32-wasip1)")
	return "", "", ""
}

// cargoRoot returns the directory of the Cargo workspace that holds dir:
// the nearest parent whose Cargo.toml has a [workspace] table, or dir.
func cargoRoot(t TB, dir string) string {
	t.Helper()
	d, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("wasmbuild: %v", err)
	}
	for p := d; ; {
		if b, err := os.ReadFile(filepath.Join(p, "Cargo.toml")); err == nil && strings.Contains(string(b), "[workspace]") {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return d
		}
		p = parent
	}
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
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "target" || d.Name() == "node_modules" || d.Name() == "dist") {
			return filepath.SkipDir // hidden, and build outputs (cargo's, npm's)
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

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
