package deploy

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/registry"
	"github.com/evhost/evhost/host/wasm"
)

// Modules serves the modules of plugins pinned by digest: from a cache
// directory when the cached file's SHA-256 is the digest (a file that does
// not match is removed), else from the deploy store, which checks it too,
// and then caches it. It implements registry.Modules and is safe for
// concurrent use.
type Modules struct {
	// Dir is the cache directory (<data_dir>/deploy in a daemon).
	Dir string
	// Open returns the deploy store; it is called at first use.
	Open   func(context.Context) (*natsbus.DeployStore, error)
	Logger *slog.Logger

	mu    sync.Mutex
	store *natsbus.DeployStore
}

var _ registry.Modules = (*Modules)(nil)

// Module implements registry.Modules.
func (m *Modules) Module(ctx context.Context, digest string) ([]byte, error) {
	path := filepath.Join(m.Dir, digest+".wasm")
	if bin, err := os.ReadFile(path); err == nil {
		if wasm.Hash(bin) == digest {
			return bin, nil
		}
		m.Logger.Warn("a cached module does not match its digest; fetching it again", slog.String("path", path))
		os.Remove(path)
	}
	store, err := m.Store(ctx)
	if err != nil {
		return nil, err
	}
	bin, err := store.GetModule(ctx, digest)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(m.Dir, path, bin); err != nil {
		m.Logger.Warn("caching a module", slog.String("path", path), slog.Any("err", err))
	}
	return bin, nil
}

// Store returns the deploy store, opening it the first time.
func (m *Modules) Store(ctx context.Context) (*natsbus.DeployStore, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.store != nil {
		return m.store, nil
	}
	s, err := m.Open(ctx)
	if err != nil {
		return nil, err
	}
	m.store = s
	return s, nil
}

// prune removes the cached modules that release r does not use.
func (m *Modules) prune(r natsbus.Release) {
	entries, err := os.ReadDir(m.Dir)
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, digest := range r.Modules {
		keep[digest+".wasm"] = true
	}
	for _, e := range entries {
		if !e.IsDir() && !keep[e.Name()] {
			os.Remove(filepath.Join(m.Dir, e.Name()))
		}
	}
}

// writeFileAtomic writes data to path (in dir) through a temporary file
// and a rename, so that a reader never sees part of it.
func writeFileAtomic(dir, path string, data []byte) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
