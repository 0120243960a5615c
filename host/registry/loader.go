package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/evhost/evhost/host/gobuild"
	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/host/watch"
)

// Source is where a plugin's module comes from: a module pinned by its
// digest, a .wasm file (built first by Build, when set), or a Go package
// directory that is built.
type Source struct {
	// Path is a .wasm file or a Go package directory (resolved: absolute,
	// or relative to the working directory). It is not read when Digest
	// is set.
	Path string
	// Digest, when not empty, pins the module to the hex SHA-256 of its
	// bytes, read from Options.Modules.
	Digest string
	// Build, when not nil, builds the .wasm file at Path before each
	// read, and says which sources to watch. With Engine, it builds what
	// the engine reads (a JavaScript handler's bundle), and Path is empty.
	Build *Build
	// Engine, when not nil, is the JavaScript engine variant the plugin
	// runs (its module comes from package jsengine, not from Path).
	Engine *jsengine.Variant
}

// IsWasmFile reports whether s is a module (a .wasm file or a digest)
// rather than a Go package directory to build.
func (s Source) IsWasmFile() bool {
	return s.Digest != "" || strings.EqualFold(filepath.Ext(s.Path), ".wasm")
}

// Modules gives the module bytes of a digest (the deploy store, through a
// cache); it must check that they have that digest.
type Modules interface {
	Module(ctx context.Context, digest string) ([]byte, error)
}

// Loader reads plugin sources and loads them into the wasm runtime. It is
// what the daemon, `evhost call`, `evhost deploy` and replay share: none of
// them builds a partial daemon to load a plugin. It is safe for concurrent
// use.
type Loader struct {
	rt       *wasm.Runtime
	buildDir string
	modules  Modules
	log      *slog.Logger
}

// NewLoader returns a Loader over rt. buildDir holds the temporary files of
// Go builds; modules, which may be nil, serves sources pinned by digest.
func NewLoader(rt *wasm.Runtime, buildDir string, modules Modules, log *slog.Logger) *Loader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Loader{rt: rt, buildDir: buildDir, modules: modules, log: log}
}

// Runtime returns the wasm runtime the Loader loads into.
func (l *Loader) Runtime() *wasm.Runtime { return l.rt }

// Read returns the module bytes of src, and the content hash of the
// source they came from, as the file watcher computes it (of the Go
// files, for a package directory; of the module, for a source with a
// Build, which Read runs first).
func (l *Loader) Read(ctx context.Context, src Source) (bin []byte, srcHash string, err error) {
	bin, srcs, err := l.read(ctx, src)
	if h, ok := srcs[src.Path]; ok {
		return bin, h, err
	}
	return bin, watch.HashBytes(bin), err
}

// read returns the module bytes of src, and the content hash of each
// watch target they came from, by path.
func (l *Loader) read(ctx context.Context, src Source) (bin []byte, srcs map[string]string, err error) {
	if src.Digest != "" {
		if l.modules == nil {
			return nil, nil, errors.New("registry: a plugin pinned by digest needs a module store, and this daemon has none")
		}
		bin, err = l.modules.Module(ctx, src.Digest)
		return bin, nil, err
	}
	if src.Engine != nil {
		if src.Build != nil {
			srcs = src.Build.hashes()
			if err := src.Build.run(ctx); err != nil {
				return nil, srcs, err
			}
		}
		bin, err = jsengine.Module(ctx, *src.Engine)
		return bin, srcs, err
	}
	if src.Build != nil {
		// Hashed before the build: an edit made while it runs is a change.
		srcs = src.Build.hashes()
		start := time.Now()
		if err := src.Build.run(ctx); err != nil {
			return nil, srcs, err
		}
		bin, err = os.ReadFile(src.Path)
		if err != nil {
			return nil, srcs, fmt.Errorf("reading the build's output: %w", err)
		}
		l.log.Debug("plugin built", slog.String("path", src.Path), slog.Duration("took", time.Since(start)))
		return bin, srcs, nil
	}
	if src.IsWasmFile() {
		bin, err = os.ReadFile(src.Path)
		return bin, map[string]string{src.Path: watch.HashBytes(bin)}, err
	}
	fi, err := os.Stat(src.Path)
	if err != nil {
		return nil, nil, err
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("path is neither a .wasm file nor a Go package directory")
	}
	srcHash, err := watch.Hash(watch.Target{Path: src.Path, Dir: true})
	if err != nil {
		return nil, nil, err
	}
	bin, err = gobuild.Build(ctx, src.Path, l.buildDir)
	return bin, map[string]string{src.Path: srcHash}, err
}

// Load reads spec's source and loads it with spec's options: compiled,
// checked and pre-warmed. The caller closes the version it returns.
func (l *Loader) Load(ctx context.Context, spec *Spec) (*wasm.Plugin, error) {
	v, err := l.load(ctx, spec)
	if err != nil {
		return nil, err
	}
	return v.wasm, nil
}

// Check loads spec as Load does, closes the version, and returns the
// module bytes that loaded: what `evhost deploy` publishes.
func (l *Loader) Check(ctx context.Context, spec *Spec) ([]byte, error) {
	bin, _, err := l.Read(ctx, spec.Source)
	if err != nil {
		return nil, err
	}
	v, err := l.loadBytes(ctx, spec, bin)
	if err != nil {
		return nil, err
	}
	v.Close()
	return bin, nil
}

func (l *Loader) load(ctx context.Context, spec *Spec) (*version, error) {
	start := time.Now()
	bin, srcs, err := l.read(ctx, spec.Source)
	if err != nil {
		return nil, err
	}
	opts, err := spec.options()
	if err != nil {
		return nil, err
	}
	p, err := l.rt.Load(ctx, bin, opts)
	if err != nil {
		return nil, err
	}
	l.log.Info("plugin loaded", slog.String("plugin", spec.Name), slog.String("kind", p.Kind().String()),
		slog.String("version", p.Hash()[:12]), slog.Duration("took", time.Since(start)))
	return &version{wasm: p, srcs: srcs, cfg: configDigest(opts.Config)}, nil
}

// loadBytes loads bin with spec's options.
func (l *Loader) loadBytes(ctx context.Context, spec *Spec, bin []byte) (*wasm.Plugin, error) {
	opts, err := spec.options()
	if err != nil {
		return nil, err
	}
	return l.rt.Load(ctx, bin, opts)
}

// configDigest digests the config values a version is loaded with, so
// that a reload tells a new value (a JavaScript handler's source, read
// from its config_file) from a touch.
func configDigest(cfg map[string]string) string {
	keys := slices.Sorted(maps.Keys(cfg))
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(cfg[k]), cfg[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}
