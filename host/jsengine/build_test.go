//go:build !evhost_jsengine

package jsengine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// Without the embedded engine, Module builds the variant from the
// embedded source with the Go toolchain into the cache, and reads it from
// there next time.
func TestBuildFromSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the engine (about half a minute)")
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
	// From the cache, with no toolchain to build with.
	t.Setenv("PATH", "")
	if _, err := build(context.Background(), v); err != nil {
		t.Fatalf("from the cache: %v", err)
	}
}
