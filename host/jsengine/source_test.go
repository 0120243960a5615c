package jsengine

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "copy the engine's source from plugins/ into _src")

// The embedded source is the engine's and the PDK's under plugins/, byte
// for byte: `go generate ./host/jsengine` copies them again after a change.
func TestSourceMatchesPlugins(t *testing.T) {
	files, err := sourceFiles()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.RemoveAll("_src"); err != nil {
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
		dst := filepath.Join("_src", filepath.FromSlash(name))
		if *update {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := source.ReadFile("_src/" + filepath.ToSlash(name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("_src/%s differs from plugins/%s (%v): run go generate ./host/jsengine", name, f, err)
		}
		n++
	}
	if *update {
		return
	}
	// No file left over from a source that is gone.
	err = filepath.WalkDir("_src", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n--
		}
		return err
	})
	if err != nil || n != 0 {
		t.Errorf("_src has %d files more than plugins/ (%v): run go generate ./host/jsengine", -n, err)
	}
}
