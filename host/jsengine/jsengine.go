package jsengine

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

//go:generate go test -run TestSourceMatchesPlugins -update .

// Name is the value of a plugin's engine key that selects this engine.
const Name = "js"

// Variant is an engine build for a plugin's grants: evhost refuses a module
// that imports a host function the plugin is not granted, so an engine
// for a plugin without kv leaves the kv_* imports out (engine.c built
// without EVHOST_JS_KV), and one without allowed_hosts leaves http_request
// out (without EVHOST_JS_HTTP).
type Variant struct {
	KV, HTTP bool
}

// File is the variant's file name, as `make engine` writes it under
// host/jsengine/wasm (gzip-compressed) for a release build.
func (v Variant) File() string {
	s := "engine"
	if v.KV {
		s += "-kv"
	}
	if v.HTTP {
		s += "-http"
	}
	return s + ".wasm"
}

// Variants are every variant, in the order `make engine` builds them.
var Variants = []Variant{{}, {KV: true}, {HTTP: true}, {KV: true, HTTP: true}}

// embedded reads a variant built into this binary (release builds, tag
// evhost_jsengine); nil in other builds.
var embedded func(v Variant) ([]byte, error)

// Embedded reports whether this binary carries the built engine.
func Embedded() bool { return embedded != nil }

//go:embed all:src
var source embed.FS

var (
	mu    sync.Mutex
	cache = map[Variant][]byte{}
)

// Module returns the engine's module for v: embedded, or built from the
// embedded source into the cache (see the package's doc). The bytes are
// kept in memory for the process's life and must not be modified.
func Module(ctx context.Context, v Variant) ([]byte, error) {
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[v]; ok {
		return b, nil
	}
	var b []byte
	var err error
	if embedded != nil {
		b, err = embedded(v)
	} else {
		b, err = build(ctx, v)
	}
	if err != nil {
		return nil, err
	}
	cache[v] = b
	return b, nil
}

// gunzip decompresses an embedded variant.
func gunzip(gz []byte) ([]byte, error) {
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("jsengine: the embedded engine: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("jsengine: the embedded engine: %w", err)
	}
	return b, nil
}

// SourceHash is the hex SHA-256 of the embedded source and the build's
// flags: it names the cache's files, so a new evhost with a changed engine
// never reads an old build.
func SourceHash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q", Flags())
	_ = fs.WalkDir(source, "src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := source.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%d:%s%d:", len(p), p, len(b))
		h.Write(b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))
}

// CacheDir is where built variants are kept: $EVHOST_ENGINE_CACHE when
// set, else evhost/jsengine under the user's cache directory (the system's
// temporary directory when there is none).
func CacheDir() string {
	if d := os.Getenv("EVHOST_ENGINE_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "evhost", "jsengine")
}

// build returns the variant from the cache, building every variant into
// it first when the cache does not have this one (they share the compiled
// QuickJS, which takes most of the time).
func build(ctx context.Context, v Variant) ([]byte, error) {
	dir := CacheDir()
	hash := SourceHash()[:16]
	out := filepath.Join(dir, hash+"-"+v.File())
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	tc, err := FindToolchain()
	if err != nil {
		return nil, fmt.Errorf("jsengine: this evhost does not carry the JavaScript engine (a release build, made with `make engine`, does) and cannot build it: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("jsengine: %w", err)
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return nil, fmt.Errorf("jsengine: %w", err)
	}
	defer os.RemoveAll(src)
	if err := writeSource(src); err != nil {
		return nil, err
	}
	built := filepath.Join(src, "out")
	if err := os.Mkdir(built, 0o755); err != nil {
		return nil, fmt.Errorf("jsengine: %w", err)
	}
	if err := Build(ctx, tc, src, built, Variants...); err != nil {
		return nil, fmt.Errorf("jsengine: building the JavaScript engine from source: %w", err)
	}
	for _, w := range Variants {
		if err := os.Rename(filepath.Join(built, w.File()), filepath.Join(dir, hash+"-"+w.File())); err != nil {
			return nil, fmt.Errorf("jsengine: %w", err)
		}
	}
	return os.ReadFile(out)
}

// writeSource writes the embedded source to dir, laid out as src is:
// js/engine, js/quickjs and c/evhost.h.
func writeSource(dir string) error {
	return fs.WalkDir(source, "src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := source.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "src/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// sourceFiles are the files under plugins/ that src copies: the C kit's
// header, which the engine is built on (the engine's own source and the
// vendored QuickJS live in src alone).
func sourceFiles() []string { return []string{"c/evhost.h"} }
