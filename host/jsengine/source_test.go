package jsengine

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "copy the C kit's header from plugins/ into src/c")

// The embedded copy of the C kit's header, src/c/evhost.h, is
// plugins/c/evhost.h byte for byte: `go generate ./host/jsengine` copies it
// again after a change. (The engine's own source and the vendored QuickJS
// live in src only.)
func TestSourceMatchesPlugins(t *testing.T) {
	files := sourceFiles()
	if *update {
		if err := os.RemoveAll(filepath.Join("src", "c")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, f := range files {
		want, err := os.ReadFile(filepath.Join("..", "..", "plugins", filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		name := f
		dst := filepath.Join("src", filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := source.ReadFile("src/" + filepath.ToSlash(name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("src/%s differs from plugins/%s (%v): run go generate ./host/jsengine", name, f, err)
		}
		n++
	}
	if *update {
		return
	}
	// No file left over from a source that is gone.
	err := filepath.WalkDir(filepath.Join("src", "c"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n--
		}
		return err
	})
	if err != nil || n != 0 {
		t.Errorf("src/c has %d files more than plugins/c (%v): run go generate ./host/jsengine", -n, err)
	}
}
