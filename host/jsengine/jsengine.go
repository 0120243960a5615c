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
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/evhost/evhost/host/gobuild"
)

//go:generate go test -run TestSourceMatchesPlugins -update .

// Name is the value of a plugin's engine key that selects this engine.
const Name = "js"

// Variant is an engine build for a plugin's grants: evhost refuses a module
// that imports a host function the plugin is not granted, so an engine
// for a plugin without kv leaves the kv_* imports out (build tag
// evhost_nokv), and one without allowed_hosts leaves http_request out
// (evhost_nohttp).
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

// Tags are the Go build tags of the variant.
func (v Variant) Tags() string {
	var t []string
	if !v.KV {
		t = append(t, "evhost_nokv")
	}
	if !v.HTTP {
		t = append(t, "evhost_nohttp")
	}
	return strings.Join(t, ",")
}

// Variants are every variant, in the order `make engine` builds them.
var Variants = []Variant{{}, {KV: true}, {HTTP: true}, {KV: true, HTTP: true}}

// embedded reads a variant built into this binary (release builds, tag
// evhost_jsengine); nil in other builds.
var embedded func(v Variant) ([]byte, error)

// Embedded reports whether this binary carries the built engine.
func Embedded() bool { return embedded != nil }

//go:embed all:_src
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

// SourceHash is the hex SHA-256 of the embedded source: it names the
// cache's files, so a new evhost with a changed engine never reads an
// old build.
func SourceHash() string {
	h := sha256.New()
	_ = fs.WalkDir(source, "_src", func(p string, d fs.DirEntry, err error) error {
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

// build returns the variant from the cache, building it first when the
// cache does not have it.
func build(ctx context.Context, v Variant) ([]byte, error) {
	dir := CacheDir()
	hash := SourceHash()[:16]
	out := filepath.Join(dir, hash+"-"+v.File())
	if b, err := os.ReadFile(out); err == nil {
		return b, nil
	}
	tool, err := gobuild.Tool()
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
	tmp := out + ".tmp-" + filepath.Base(src)
	defer os.Remove(tmp)
	cmd := exec.CommandContext(ctx, tool, "build", "-trimpath", "-buildmode=c-shared", "-tags", v.Tags(), "-o", tmp, ".")
	cmd.Dir = filepath.Join(src, "js", "engine")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	var msg bytes.Buffer
	cmd.Stdout, cmd.Stderr = &msg, &msg
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("jsengine: building the JavaScript engine (%s) from source: %w\n%s", v.File(), err, strings.TrimSpace(msg.String()))
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("jsengine: %w", err)
	}
	return os.ReadFile(out)
}

// writeSource writes the embedded source to dir: the plugins module's
// go.mod and PDK, and js/engine, whose go.mod points at them with a
// replace directive, as in the repository.
func writeSource(dir string) error {
	return fs.WalkDir(source, "_src", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := source.ReadFile(p)
		if err != nil {
			return err
		}
		// Stored as go.mod.txt: a go.mod would make _src another module,
		// which go:embed refuses.
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(strings.TrimPrefix(p, "_src/"), ".txt")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// sourceFiles are the files under plugins/ that _src copies: every
// non-test file of the engine, the plugins module's go.mod and the
// non-test files of the PDK the engine imports.
func sourceFiles() ([]string, error) {
	root := filepath.Join("..", "..", "plugins")
	var out []string
	for _, d := range []string{"js/engine", "pdk", "pdk/internal/envelope", "pdk/internal/hostabi"} {
		ents, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(d)))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := e.Name()
			keep := strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") ||
				strings.HasSuffix(n, ".js") || n == "go.mod" || n == "go.sum"
			if e.IsDir() || !keep {
				continue
			}
			out = append(out, path.Join(d, n))
		}
	}
	return append(out, "go.mod"), nil
}
