//go:build !evhost_jsengine

package jsengine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Without the embedded engine, Module builds the variants from the
// embedded source with clang into the cache, and reads them from there
// next time.
func TestBuildFromSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the engine (about a minute)")
	}
	if Embedded() {
		t.Fatal("built without evhost_jsengine but Embedded() is true")
	}
	dir := t.TempDir()
	t.Setenv("EVHOST_ENGINE_CACHE", dir)
	v := Variant{KV: true}
	b, err := build(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	checkVariant(t, v, b)
	cached := filepath.Join(dir, SourceHash()[:16]+"-"+v.File())
	if fi, err := os.Stat(cached); err != nil || fi.Size() != int64(len(b)) {
		t.Fatalf("the cache has no %s: %v", cached, err)
	}
	// From the cache, with no toolchain to build with; every variant was
	// built at once.
	t.Setenv("PATH", "")
	for _, w := range Variants {
		b, err := build(context.Background(), w)
		if err != nil {
			t.Fatalf("from the cache: %v", err)
		}
		if w != v {
			checkVariant(t, w, b)
		}
	}
	// With neither the cache nor clang, the error says what to install.
	t.Setenv("EVHOST_ENGINE_CACHE", t.TempDir())
	t.Setenv("CC", "")
	if _, err := build(context.Background(), v); err == nil || !strings.Contains(err.Error(), "apt-get install clang lld wasi-libc") {
		t.Fatalf("without clang: %v", err)
	}
}
