package instrument

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// FuzzInstrument feeds arbitrary bytes to Instrument. Seeds, in
// testdata/fuzz/FuzzInstrument, are the test modules of this package (made
// by TestWriteFuzzSeeds). It checks that Instrument never panics, that its
// errors are *Error, that its output is deterministic, and that wazero
// compiles every output whose input it compiles.
//
// Inputs that Instrument refuses are not given to wazero: wazero v1.12
// allocates what a module declares before reading it (function and data
// segment counts, locals), so a few bytes can ask it for gigabytes and take
// the fuzzing process down. Instrument checks every such count against the
// bytes that follow, which is one reason to run it before compiling; that
// it accepts the modules wazero accepts is shown by the tests on real
// modules and on the seeds.
func FuzzInstrument(f *testing.F) {
	f.Add([]byte{})
	f.Add(slicesConcat(magic))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		opt := opts(10)
		opt.MaxMemoryPages = 100
		opt.MaxTableElements = 1000
		opt.TableElementSize = 8
		out, info, err := Instrument(wasm, opt)
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		again, info2, err := Instrument(wasm, opt)
		if err != nil || !bytes.Equal(out, again) || info != info2 {
			t.Fatalf("not deterministic: %v", err)
		}
		if !validCompiles(t, wasm, out) {
			t.Fatal("wazero compiles the input but not the output")
		}
	})
}

// slicesConcat joins byte slices.
func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzInstrument from the test modules")

// TestWriteFuzzSeeds writes the test modules as fuzz seeds when run with
// -update-seeds. The seeds are committed; this keeps the command that made
// them next to them.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzInstrument")
	}
	seeds := map[string][]byte{
		"spin":      wasmbuild.WAT(t, spinWAT),
		"recursion": wasmbuild.WAT(t, recursionWAT),
		"shift":     withNames(watTyped(t, shiftWAT), "shift", shiftNames),
		"features":  wasmbuild.WAT(t, featuresWAT),
		"threads":   wasmbuild.WAT(t, threadsWAT),
		"eh":        ehModule(),
		"memory":    wasmbuild.WAT(t, `(module (memory 1 2) (memory 3) (data (i32.const 0) "x"))`),
		"tables":    wasmbuild.WAT(t, `(module (memory 1) (table 2 4 funcref) (table 3 externref) (func $f) (elem (i32.const 0) $f))`),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzInstrument")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, wasm := range seeds {
		data := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(wasm)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
