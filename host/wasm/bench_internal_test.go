package wasm

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"github.com/evhost/evhost/internal/wasmbuild"
)

func goBytecount(b *testing.B) []byte {
	return wasmbuild.Go(b, filepath.Join("testdata", "goplugins", "bytecount"))
}

// BenchmarkInstantiate measures instantiating and initialising one Go
// instance (what a pool pays for a new or recycled instance) and reports
// the instance's linear memory.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	r, err := NewRuntime(ctx, RuntimeOptions{CacheDir: filepath.Join(wasmbuild.CacheDir(), "wazero"), MemoryReserve: testMemoryReserve})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	p, err := r.Load(ctx, goBytecount(b), PluginOptions{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var mem uint32
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		in, err := newInstance(ctx, p, p.c.mod)
		if err != nil {
			b.Fatal(err)
		}
		mem = in.mem.Size()
		in.close()
	}
	b.ReportMetric(float64(mem)/(1<<20), "MiB/instance")
}

// BenchmarkCompile measures compiling the Go plugin in a new runtime (as a
// restarted daemon does): cold, with an empty cache, and from the on-disk
// cache.
func BenchmarkCompile(b *testing.B) {
	ctx := context.Background()
	bin := goBytecount(b)
	b.ReportMetric(float64(len(bin))/(1<<20), "module-MiB")
	compileOnce := func(b *testing.B, cacheDir string) {
		r, err := NewRuntime(ctx, RuntimeOptions{CacheDir: cacheDir})
		if err != nil {
			b.Fatal(err)
		}
		opts := PluginOptions{Name: "bench"}
		opts.setDefaults(r)
		c, err := r.compile(ctx, "bench", bin, sha256.Sum256(bin), &opts)
		if err != nil {
			b.Fatal(err)
		}
		c.mod.Close(ctx)
		r.Close(ctx)
	}
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			compileOnce(b, b.TempDir())
		}
	})
	b.Run("cached", func(b *testing.B) {
		dir := b.TempDir()
		compileOnce(b, dir) // warm the cache
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			compileOnce(b, dir)
		}
	})
}
