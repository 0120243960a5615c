package jsengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Install says what to install for Build on Debian or Ubuntu.
const Install = "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32 (clang with the wasm32-wasi target, wasm-ld and wasi-libc)"

// Toolchain is the C compiler that builds the engine: clang with the
// wasm32-wasi target, wasm-ld (from lld) and wasi-libc.
type Toolchain struct {
	Clang string
	// Sysroot is WASI_SYSROOT when set (a wasi-sdk's share/wasi-sysroot),
	// else empty: clang's own default, which on Debian finds wasi-libc.
	Sysroot string
}

// FindToolchain finds clang and wasm-ld on PATH ($CC when it names a
// clang), or says what to install.
func FindToolchain() (Toolchain, error) {
	var tc Toolchain
	clang := "clang"
	if cc := os.Getenv("CC"); strings.Contains(filepath.Base(cc), "clang") {
		clang = cc
	}
	p, err := exec.LookPath(clang)
	if err != nil {
		return tc, fmt.Errorf("%s not found: %s", clang, Install)
	}
	if _, err := exec.LookPath("wasm-ld"); err != nil {
		return tc, fmt.Errorf("wasm-ld not found (it comes with lld): %s", Install)
	}
	tc.Clang = p
	tc.Sysroot = os.Getenv("WASI_SYSROOT")
	return tc, nil
}

// Defines are the preprocessor flags of the variant's engine.c.
func (v Variant) Defines() []string {
	var d []string
	if v.KV {
		d = append(d, "-DEVHOST_JS_KV")
	}
	if v.HTTP {
		d = append(d, "-DEVHOST_JS_HTTP")
	}
	return d
}

// The QuickJS files compiled into the engine (the rest of src/js/quickjs
// are their headers), and clang's flags: for every file (-O3 and the
// post-MVP instructions that every wasm runtime evhost uses supports: bulk
// memory, non-trapping float-to-int, sign extension; about a quarter less
// per call than -O2 alone, for 4% more module), for QuickJS's files, and
// for the link (a 1 MiB stack, engine.c's EVHOST_JS_STACK, placed first).
var (
	quickjsUnits = []string{"quickjs", "libregexp", "libunicode", "cutils"}
	baseFlags    = []string{"--target=wasm32-wasi", "-O3", "-mbulk-memory", "-mnontrapping-fptoint", "-msign-ext"}
	quickjsFlags = []string{"-w", "-D_GNU_SOURCE", "-Ijs/engine/wasi", "-include", "js/engine/wasi/qjs_wasi.h"}
	linkFlags    = []string{"-mexec-model=reactor", "-Wl,--stack-first", "-Wl,-z,stack-size=1048576"}
)

// Flags are every flag Build gives clang: part of the cache keys, so that
// a change of flags is a new build.
func Flags() []string {
	return append(append(append(append([]string(nil), baseFlags...), quickjsFlags...), linkFlags...), quickjsUnits...)
}

// Build compiles the engine's variants vs from root, a directory laid out as
// src is (js/engine, js/quickjs and c/evhost.h), into outDir, one file
// per variant named v.File(). QuickJS is compiled once for all of them.
// clang runs in root with relative paths, so that no absolute path reaches
// the module (assert's __FILE__) and the output depends on the source only.
func Build(ctx context.Context, tc Toolchain, root, outDir string, vs ...Variant) error {
	work, err := os.MkdirTemp(outDir, "build-")
	if err != nil {
		return fmt.Errorf("jsengine: %w", err)
	}
	defer os.RemoveAll(work)
	prelude, err := os.ReadFile(filepath.Join(root, "js", "engine", "prelude.js"))
	if err != nil {
		return fmt.Errorf("jsengine: %w", err)
	}
	if err := os.WriteFile(filepath.Join(work, "prelude.h"), preludeHeader(prelude), 0o644); err != nil {
		return fmt.Errorf("jsengine: %w", err)
	}
	version, err := os.ReadFile(filepath.Join(root, "js", "quickjs", "VERSION"))
	if err != nil {
		return fmt.Errorf("jsengine: %w", err)
	}
	base := append([]string(nil), baseFlags...)
	if tc.Sysroot != "" {
		base = append(base, "--sysroot="+tc.Sysroot)
	}
	clang := func(args ...string) error {
		cmd := exec.CommandContext(ctx, tc.Clang, append(append([]string(nil), base...), args...)...)
		cmd.Dir = root
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			var ee *exec.Error
			if errors.As(err, &ee) {
				return fmt.Errorf("jsengine: %w: %s", err, Install)
			}
			return fmt.Errorf("jsengine: clang %s: %w\n%s\n(the engine needs %s)", strings.Join(args, " "), err,
				strings.TrimSpace(out.String()), Install)
		}
		return nil
	}
	var objs []string
	for _, u := range quickjsUnits {
		obj := filepath.Join(work, u+".o")
		args := append([]string{"-c", `-DCONFIG_VERSION="` + strings.TrimSpace(string(version)) + `"`}, quickjsFlags...)
		err := clang(append(args, "-o", obj, "js/quickjs/"+u+".c")...)
		if err != nil {
			return err
		}
		objs = append(objs, obj)
	}
	for _, v := range vs {
		obj := filepath.Join(work, strings.TrimSuffix(v.File(), ".wasm")+".o")
		args := append([]string{"-c", "-Wall", "-Werror", "-I" + work}, v.Defines()...)
		if err := clang(append(args, "-o", obj, "js/engine/engine.c")...); err != nil {
			return err
		}
		out := filepath.Join(work, v.File())
		args = append(append([]string(nil), linkFlags...), "-o", out, obj)
		if err := clang(append(append(args, objs...), "-lm")...); err != nil {
			return err
		}
		if err := os.Rename(out, filepath.Join(outDir, v.File())); err != nil {
			return fmt.Errorf("jsengine: %w", err)
		}
	}
	return nil
}

// preludeHeader turns prelude.js into a C header that defines it as
// evhost_prelude (NUL-terminated, as JS_Eval wants) and evhost_prelude_len.
func preludeHeader(js []byte) []byte {
	var b bytes.Buffer
	b.WriteString("/* Generated from prelude.js by host/jsengine. */\nstatic const char evhost_prelude[] = {")
	for i, c := range js {
		if i%24 == 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d,", c)
	}
	fmt.Fprintf(&b, "0};\nstatic const unsigned evhost_prelude_len = %d;\n", len(js))
	return b.Bytes()
}
