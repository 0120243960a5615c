package instrument

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/evhost/evhost/internal/wasmbuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// goFuel is the fuel the Go tests use: about what the host uses.
const goFuel = 10000

// goModule builds testdata/goprog as a WASI command.
func goModule(t testing.TB) []byte {
	t.Helper()
	return wasmbuild.GoCommand(t, "testdata/goprog")
}

// runCommand instantiates a WASI command module, which runs _start, with
// the given arguments, and returns what it printed.
func runCommand(t testing.TB, r wazero.Runtime, compiled wazero.CompiledModule, args ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithStdout(&stdout).WithArgs(append([]string{"goprog"}, args...)...).WithName("")
	mod, err := r.InstantiateModule(context.Background(), compiled, cfg)
	if mod != nil {
		mod.Close(context.Background())
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 0 {
		err = nil
	}
	return stdout.String(), err
}

// goRuntime returns a runtime with WASI and the test tick.
func goRuntime(t testing.TB, tk *ticker) wazero.Runtime {
	t.Helper()
	r := newRuntime(t)
	wasi_snapshot_preview1.MustInstantiate(context.Background(), r)
	addTicker(t, r, tk)
	return r
}

// compile compiles wasm in r.
func compile(t testing.TB, r wazero.Runtime, wasm []byte) wazero.CompiledModule {
	t.Helper()
	compiled, err := r.CompileModule(context.Background(), wasm)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return compiled
}

// TestGoProgram runs a real Go wasip1 program before and after the rewrite:
// same output, the instrumented one ticks, and its data segments were
// merged.
func TestGoProgram(t *testing.T) {
	orig := goModule(t)
	out, info := mustInstrument(t, orig, opts(goFuel))
	t.Logf("%d bytes -> %d bytes, %+v", len(orig), len(out), info)
	// Go functions with resumable calls start with a loop; the others that
	// call anything (often only runtime.sigpanic) get an entry check.
	if info.Loops == 0 || info.EntryChecks == 0 || info.Loops+info.EntryChecks > 2*info.Funcs {
		t.Errorf("implausible counts for a Go module: %+v", info)
	}
	// Go's linker writes tens of thousands of data segments, nearly all
	// separated by fewer than 32 zero bytes.
	if info.MergedDataSegments < 10000 {
		t.Errorf("merged %d data segments of a Go module, want most of them", info.MergedDataSegments)
	}

	tk := &ticker{fuel: goFuel}
	r := goRuntime(t, tk)
	want, err := runCommand(t, r, compile(t, r, orig))
	if err != nil {
		t.Fatalf("original: %v", err)
	}
	got, err := runCommand(t, r, compile(t, r, out))
	if err != nil {
		t.Fatalf("instrumented: %v", err)
	}
	if got != want {
		t.Errorf("instrumented printed\n%s\noriginal printed\n%s", got, want)
	}
	if !strings.Contains(want, "primes below 200000: 17984") || !strings.Contains(want, "fib(24) = 46368") {
		t.Errorf("unexpected output:\n%s", want)
	}
	if tk.calls == 0 {
		t.Error("the instrumented program never ticked")
	}
}

// TestGoSpin stops a Go "for {}" with ticks.
func TestGoSpin(t *testing.T) {
	out, _ := mustInstrument(t, goModule(t), opts(goFuel))
	tk := &ticker{fuel: goFuel, limit: 5}
	r := goRuntime(t, tk)
	stdout, err := runCommand(t, r, compile(t, r, out), "spin")
	if !errors.Is(err, errStop) {
		t.Fatalf("spin: err = %v, want errStop", err)
	}
	if stdout != "spinning\n" {
		t.Errorf("stdout = %q, want %q", stdout, "spinning\n")
	}
	if tk.calls != 5 {
		t.Errorf("tick called %d times, want 5", tk.calls)
	}
	// The stack trace shows the Go function names, so the name section
	// was shifted with the functions.
	if !strings.Contains(err.Error(), "main.spin") || !strings.Contains(err.Error(), "main.main") {
		t.Errorf("stack trace does not name main.spin and main.main:\n%s", err)
	}
}

// BenchmarkInstrument rewrites the 2.6 MB Go module.
func BenchmarkInstrument(b *testing.B) {
	wasm := goModule(b)
	opt := opts(goFuel)
	opt.MaxMemoryPages = 1024
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Instrument(wasm, opt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoProgram runs the Go program's "big" workload (a sieve up to
// two million, recursion, maps, a goroutine), instantiation included, with
// and without instrumentation.
func BenchmarkGoProgram(b *testing.B) {
	orig := goModule(b)
	out, _ := mustInstrument(b, orig, opts(goFuel))
	for _, bc := range []struct {
		name string
		wasm []byte
	}{{"original", orig}, {"instrumented", out}} {
		b.Run(bc.name, func(b *testing.B) {
			r := goRuntime(b, &ticker{fuel: goFuel})
			compiled := compile(b, r, bc.wasm)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := runCommand(b, r, compiled, "big"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
