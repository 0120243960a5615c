package wasm

import (
	"bytes"
	"os"
	"testing"
)

// A module instrumented once is read back from beside the compilation
// cache by the next runtime on the same directory (the rewrite is not done
// again), and a damaged file there is replaced, the module loading as
// usual.
func TestInstrumentedModuleCached(t *testing.T) {
	dir := t.TempDir()
	opts := PluginOptions{MinInstances: 1}
	r1 := manualRuntime(t, dir, 0)
	opts.Name = "a"
	a := loadInternal(t, r1, watModule(t, "trivial.wat"), opts)
	opts.Name = "b"
	b := loadInternal(t, r1, watModule(t, "bytecount.wat"), opts)
	if a.c.srcFile == "" || b.c.srcFile == "" || a.c.srcFile == b.c.srcFile {
		t.Fatalf("files of the instrumented modules: %q and %q", a.c.srcFile, b.c.srcFile)
	}
	good, err := os.ReadFile(a.c.srcFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, pages, err := readInstrumented(a.c.srcFile); err != nil || pages != a.c.memPages {
		t.Fatalf("readInstrumented = %d pages, %v; want %d", pages, err, a.c.memPages)
	}

	// Read back, not instrumented again: the file of a is made to hold b's
	// module, and the next runtime loads that for a's bytes.
	other, err := os.ReadFile(b.c.srcFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a.c.srcFile, other, 0o600); err != nil {
		t.Fatal(err)
	}
	opts.Name = "a"
	a2 := loadInternal(t, manualRuntime(t, dir, 0), watModule(t, "trivial.wat"), opts)
	if a2.c.srcFile != a.c.srcFile || a2.c.size != b.c.size {
		t.Fatalf("second load of a: file %q size %d; want %q and b's size %d", a2.c.srcFile, a2.c.size, a.c.srcFile, b.c.size)
	}

	// A damaged file: not an instrumented module, or one that does not
	// compile. Either is replaced.
	for _, bad := range [][]byte{[]byte("junk"), append(append([]byte(nil), good[:8]...), "not wasm"...)} {
		if err := os.WriteFile(a.c.srcFile, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		a3 := loadInternal(t, manualRuntime(t, dir, 0), watModule(t, "trivial.wat"), opts)
		mustCall(t, a3)
		if got, err := os.ReadFile(a.c.srcFile); err != nil || !bytes.Equal(got, good) {
			t.Fatalf("after loading over a damaged file %q: %d bytes, %v; want the module again", bad, len(got), err)
		}
	}
}
