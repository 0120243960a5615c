package instrument

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/evhost/evhost/internal/wasmbuild"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

// features are the WebAssembly features the tests' runtimes enable: all
// that wazero v1.12 offers and this package decodes.
const features = api.CoreFeaturesV2 | experimental.CoreFeaturesThreads |
	experimental.CoreFeaturesTailCall | experimental.CoreFeaturesExtendedConst |
	experimental.CoreFeaturesExceptionHandling | experimental.CoreFeaturesTypedFunctionReferences

// errStop is what the test tick panics with once its budget is spent.
var errStop = errors.New("test: tick budget spent")

var (
	cacheOnce sync.Once
	cache     wazero.CompilationCache
)

// newRuntime returns a compiler-engine runtime closed at the end of the
// test. Runtimes share an in-memory compilation cache, so the Go module is
// compiled once per test binary, not once per test.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	cacheOnce.Do(func() { cache = wazero.NewCompilationCache() })
	cfg := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features).WithCompilationCache(cache)
	r := wazero.NewRuntimeWithConfig(context.Background(), cfg)
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// ticker is the host side of the tick import: it counts calls, refuels with
// fuel, and panics with errStop on call number limit (never if limit is 0).
type ticker struct {
	fuel  int32
	limit int
	calls int
}

// tick is the tick import.
func (tk *ticker) tick(context.Context) int32 {
	tk.calls++
	if tk.limit > 0 && tk.calls >= tk.limit {
		panic(errStop)
	}
	return tk.fuel
}

// addTicker instantiates the host module "evhost" exporting "tick". It uses
// a stack-based Go function, as the host should: the reflective WithFunc
// allocates on every call.
func addTicker(t testing.TB, r wazero.Runtime, tk *ticker) {
	t.Helper()
	tick := api.GoModuleFunc(func(ctx context.Context, _ api.Module, stack []uint64) {
		stack[0] = api.EncodeI32(tk.tick(ctx))
	})
	_, err := r.NewHostModuleBuilder("evhost").
		NewFunctionBuilder().WithGoModuleFunction(tick, nil, []api.ValueType{api.ValueTypeI32}).Export("tick").
		Instantiate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
}

// opts returns the options the tests use.
func opts(fuel int32) Options {
	return Options{TickModule: "evhost", TickName: "tick", Fuel: fuel}
}

// mustInstrument instruments wasm and checks that doing it again gives the
// same bytes.
func mustInstrument(t testing.TB, wasm []byte, opt Options) ([]byte, Info) {
	t.Helper()
	out, info, err := Instrument(wasm, opt)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	again, _, err := Instrument(wasm, opt)
	if err != nil || !bytes.Equal(out, again) {
		t.Fatalf("Instrument is not deterministic (err %v)", err)
	}
	return out, info
}

// instantiate compiles and instantiates wasm under name.
func instantiate(t testing.TB, r wazero.Runtime, wasm []byte, name string) api.Module {
	t.Helper()
	mod, err := r.InstantiateWithConfig(context.Background(), wasm, wazero.NewModuleConfig().WithName(name))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	return mod
}

const spinWAT = `(module
  (global $n (export "n") (mut i32) (i32.const 0))
  (func (export "spin")
    (loop $l
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (br $l))))`

// TestSpinStoppedByTicks stops "loop br 0" after a known number of
// iterations.
func TestSpinStoppedByTicks(t *testing.T) {
	out, info := mustInstrument(t, wasmbuild.WAT(t, spinWAT), opts(100))
	if info.Loops != 1 || info.EntryChecks != 0 {
		t.Errorf("info = %+v, want 1 loop and no entry check", info)
	}
	r := newRuntime(t)
	tk := &ticker{fuel: 100, limit: 5}
	addTicker(t, r, tk)
	mod := instantiate(t, r, out, "spin")

	_, err := mod.ExportedFunction("spin").Call(context.Background())
	if !errors.Is(err, errStop) {
		t.Fatalf("spin returned %v, want an error wrapping errStop", err)
	}
	if tk.calls != 5 {
		t.Errorf("tick called %d times, want 5", tk.calls)
	}
	// Fuel 100 and 5 ticks: the check at the 500th loop header panics
	// before the body runs a 500th time.
	if n := int32(mod.ExportedGlobal("n").Get()); n != 499 {
		t.Errorf("loop ran %d times, want 499", n)
	}
}

const recursionWAT = `(module
  (global $calls (export "calls") (mut i64) (i64.const 0))
  ;; Calls itself twice per level: 2^depth calls, no loop anywhere.
  (func $rec (export "rec") (param $depth i32)
    (global.set $calls (i64.add (global.get $calls) (i64.const 1)))
    (if (i32.eqz (local.get $depth)) (then (return)))
    (call $rec (i32.sub (local.get $depth) (i32.const 1)))
    (call $rec (i32.sub (local.get $depth) (i32.const 1)))))`

// TestRecursionStoppedByTicks stops recursion that has no loop.
func TestRecursionStoppedByTicks(t *testing.T) {
	out, info := mustInstrument(t, wasmbuild.WAT(t, recursionWAT), opts(1000))
	if info.Loops != 0 || info.EntryChecks != 1 {
		t.Errorf("info = %+v, want no loop and 1 entry check", info)
	}
	r := newRuntime(t)
	tk := &ticker{fuel: 1000, limit: 20}
	addTicker(t, r, tk)
	mod := instantiate(t, r, out, "rec")

	// 2^40 calls would take hours; the depth stays at 40 frames.
	_, err := mod.ExportedFunction("rec").Call(context.Background(), 40)
	if !errors.Is(err, errStop) {
		t.Fatalf("rec returned %v, want an error wrapping errStop", err)
	}
	if tk.calls != 20 {
		t.Errorf("tick called %d times, want 20", tk.calls)
	}
	if n := mod.ExportedGlobal("calls").Get(); n != 19999 {
		t.Errorf("rec entered %d times, want 19999", n)
	}
}

// TestEntryChecks checks which functions get a check at entry.
func TestEntryChecks(t *testing.T) {
	for _, tc := range []struct {
		name, body  string
		loops, want int
	}{
		{"loop first", `(loop $l (call $f) (br_if $l (i32.const 0)))`, 1, 0},
		{"loop after a block", `(block (loop $l (call $f) (br_if $l (i32.const 0))))`, 1, 0},
		{"call only", `(call $f)`, 0, 1},
		{"call before loop", `(call $f) (loop $l (br_if $l (i32.const 0)))`, 1, 1},
		{"branch before loop", `(block (br_if 0 (i32.const 1)) (loop (call $f)))`, 1, 1},
		{"if before loop", `(if (i32.const 1) (then (nop))) (loop (call $f))`, 1, 1},
		{"return before loop", `(return) (loop (call $f))`, 1, 1},
		{"call_indirect", `(call_indirect (i32.const 0))`, 0, 1},
		{"tail call", `(return_call $f)`, 0, 1},
		{"leaf without calls", `(if (i32.const 1) (then (drop (i32.const 2))))`, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf(`(module
  (table 1 funcref)
  (func $f)
  (func (export "g") %s))`, tc.body)
			out, info := mustInstrument(t, wasmbuild.WAT(t, src), opts(10))
			if info.Loops != tc.loops || info.EntryChecks != tc.want {
				t.Errorf("info = %+v, want %d loops and %d entry checks", info, tc.loops, tc.want)
			}
			r := newRuntime(t)
			if _, err := r.CompileModule(context.Background(), out); err != nil {
				t.Fatalf("compile: %v", err)
			}
		})
	}
}

// shiftWAT uses function indices everywhere the binary format has them.
// Its name section is added by withNames, as wat2wasm leaves it out.
const shiftWAT = `(module
  (type $bin (func (param i32 i32) (result i32)))
  (import "env" "hadd" (func $hadd (type $bin)))
  (import "genv" "base" (global $base i32))
  (table $t 8 funcref)
  (global $fr funcref (ref.func $mul))
  (global $started (mut i32) (i32.const 0))
  (elem (i32.const 0) $add $sub)
  (elem (table $t) (i32.const 2) funcref (ref.func $mul) (ref.null func))
  (elem (i32.const 4) funcref (ref.func $hadd2))
  (elem $p func $add $mul)
  (elem declare func $sub)
  (func $add (type $bin) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $bin) (i32.sub (local.get 0) (local.get 1)))
  (func $mul (type $bin) (i32.mul (local.get 0) (local.get 1)))
  (func $hadd2 (type $bin) (call $hadd (local.get 0) (local.get 1)))
  (func $init (global.set $started (i32.add (global.get $base) (i32.const 1))))
  (start $init)
  (export "add" (func $add))
  (export "host" (func $hadd))
  (func $direct (export "direct") (param i32 i32) (result i32)
    (call $add (local.get 0) (local.get 1)))
  (func $indirect (export "indirect") (param i32 i32 i32) (result i32)
    (call_indirect $t (type $bin) (local.get 1) (local.get 2) (local.get 0)))
  (func $via_global (export "via_global") (param i32 i32) (result i32)
    (table.set $t (i32.const 5) (global.get $fr))
    (call_indirect $t (type $bin) (local.get 0) (local.get 1) (i32.const 5)))
  (func $via_ref (export "via_ref") (param i32 i32) (result i32)
    (table.set $t (i32.const 6) (ref.func $sub))
    (call_indirect $t (type $bin) (local.get 0) (local.get 1) (i32.const 6)))
  (func $passive (export "passive") (param i32 i32) (result i32)
    (table.init $t $p (i32.const 6) (i32.const 0) (i32.const 2))
    (call_indirect $t (type $bin) (local.get 0) (local.get 1) (i32.const 7)))
  (func $tail (export "tail") (param i32 i32) (result i32)
    (return_call $mul (local.get 0) (local.get 1)))
  (func $get_started (export "started") (result i32) (global.get $started))
  (func $boom (export "boom") (unreachable))
  (func $trap (export "trap") (call $boom)))`

// shiftNames names every function of shiftWAT by its index.
var shiftNames = []string{"hadd", "add", "sub", "mul", "hadd2", "init", "direct", "indirect",
	"via_global", "via_ref", "passive", "tail", "get_started", "boom", "trap"}

// withNames appends a name section with a module name, function names
// and, for function 1, parameter names.
func withNames(wasm []byte, module string, funcs []string) []byte {
	var sub, names []byte
	names = appendName(names, "name")

	sub = appendName(sub[:0], module)
	names = append(names, 0)
	names = appendU32(names, uint32(len(sub)))
	names = append(names, sub...)

	sub = appendU32(nil, uint32(len(funcs)))
	for i, n := range funcs {
		sub = appendU32(sub, uint32(i))
		sub = appendName(sub, n)
	}
	names = append(names, 1)
	names = appendU32(names, uint32(len(sub)))
	names = append(names, sub...)

	sub = appendU32(nil, 1)       // one function
	sub = appendU32(sub, 1)       // function 1
	sub = appendU32(sub, 2)       // two locals
	sub = appendU32(sub, 0)       // local 0
	sub = appendName(sub, "left") //
	sub = appendU32(sub, 1)       // local 1
	sub = appendName(sub, "right")
	names = append(names, 2)
	names = appendU32(names, uint32(len(sub)))
	names = append(names, sub...)

	out := slices.Clone(wasm)
	out = append(out, 0)
	out = appendU32(out, uint32(len(names)))
	return append(out, names...)
}

// TestIndexShift checks that every function index is shifted: the
// instrumented module computes what the original does, and keeps its names.
func TestIndexShift(t *testing.T) {
	orig := withNames(watTyped(t, shiftWAT), "shift", shiftNames)
	out, info := mustInstrument(t, orig, opts(7))
	if info.FuncImports != 1 || info.Funcs != len(shiftNames)-1 || info.EntryChecks != 8 || info.CounterGlobal != 3 {
		t.Errorf("info = %+v, want 1 function import, %d functions, 8 entry checks, counter global 3", info, len(shiftNames)-1)
	}
	genv := wasmbuild.WAT(t, `(module (global (export "base") i32 (i32.const 41)))`)

	// run calls the exports of wasm and returns what each returned, along
	// with the compiled module.
	run := func(wasm []byte, tick bool) (map[string]string, wazero.CompiledModule) {
		r := newRuntime(t)
		_, err := r.NewHostModuleBuilder("env").
			NewFunctionBuilder().WithFunc(func(a, b int32) int32 { return a + b + 1000 }).Export("hadd").
			Instantiate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		instantiate(t, r, genv, "genv")
		if tick {
			addTicker(t, r, &ticker{fuel: 7})
		}
		compiled, err := r.CompileModule(context.Background(), wasm)
		if err != nil {
			t.Fatalf("compile: %v", err)
		}
		mod, err := r.InstantiateModule(context.Background(), compiled, wazero.NewModuleConfig())
		if err != nil {
			t.Fatalf("instantiate: %v", err)
		}
		results := map[string]string{}
		call := func(key, name string, args ...uint64) {
			res, err := mod.ExportedFunction(name).Call(context.Background(), args...)
			if err != nil {
				results[key] = "error: " + err.Error()
				return
			}
			results[key] = fmt.Sprint(res)
		}
		call("add", "add", 2, 3)
		call("host", "host", 2, 3)
		call("direct", "direct", 4, 5)
		for i := uint64(0); i < 6; i++ {
			call(fmt.Sprint("indirect ", i), "indirect", i, 10, 3)
		}
		call("via_global", "via_global", 6, 7)
		call("via_ref", "via_ref", 9, 4)
		call("passive", "passive", 3, 3)
		call("tail", "tail", 11, 12)
		call("started", "started")
		call("trap", "trap")
		return results, compiled
	}
	want, _ := run(orig, false)
	got, compiled := run(out, true)
	// The expected values are spelled out so that a module that computes
	// nonsense before and after the rewrite cannot pass.
	for key, v := range map[string]string{
		"add": "[5]", "host": "[1005]", "direct": "[9]",
		"indirect 0": "[13]", "indirect 1": "[7]", "indirect 2": "[30]", "indirect 4": "[1013]",
		"via_global": "[42]", "via_ref": "[5]", "passive": "[9]", "tail": "[132]", "started": "[42]",
	} {
		if want[key] != v {
			t.Errorf("original %s = %s, want %s", key, want[key], v)
		}
	}
	for key := range want {
		if strings.HasPrefix(key, "trap") {
			continue
		}
		if got[key] != want[key] {
			t.Errorf("instrumented %s = %s, original %s", key, got[key], want[key])
		}
	}
	if !strings.Contains(got["indirect 3"], "invalid table access") && !strings.Contains(got["indirect 3"], "null") {
		t.Errorf("indirect through a null entry = %s, want a trap", got["indirect 3"])
	}

	// Names survive: in definitions, parameter names and stack traces.
	defs := compiled.ExportedFunctions()
	for export, name := range map[string]string{
		"add": "shift.add", "host": "shift.hadd", "direct": "shift.direct", "tail": "shift.tail", "trap": "shift.trap",
	} {
		if got := defs[export].DebugName(); got != name {
			t.Errorf("export %s has debug name %q, want %q", export, got, name)
		}
	}
	if got := defs["add"].ParamNames(); !slices.Equal(got, []string{"left", "right"}) {
		t.Errorf("add's parameter names = %q, want [left right]", got)
	}
	trace := got["trap"]
	if !strings.Contains(trace, "unreachable") || !strings.Contains(trace, "shift.boom") || !strings.Contains(trace, "shift.trap") {
		t.Errorf("trap error does not name the functions:\n%s", trace)
	}
}

// watTyped compiles WAT like wasmbuild.WAT but without wabt's typed
// function references: with them (wasmbuild passes --enable-all), wabt
// 1.0.32 types ref.func $f as (ref $t) and rejects it where a funcref is
// expected, as in a funcref global's initialiser or table.set.
func watTyped(t testing.TB, src string) []byte {
	t.Helper()
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		t.Skip("wat2wasm not found; install it with: apt-get install wabt")
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.wat"), filepath.Join(dir, "m.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "--enable-threads", "--enable-tail-call", "--enable-extended-const", "-o", out, in)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, msg)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// featuresWAT uses a loop with parameters and a multi-value block type
// (encoded as a type index), SIMD with every kind of immediate, bulk memory
// and table instructions, typed select, saturating conversions and sign
// extension.
const featuresWAT = `(module
  (memory (export "mem") 1)
  (data $hello "hello, world")
  (table $t 2 funcref)
  (func $fib (export "fib") (param $n i32) (result i32)
    (local $k i32) (local $a i32) (local $b i32)
    (local.get $n) (i32.const 0) (i32.const 1)
    (loop $l (param i32 i32 i32) (result i32)
      (local.set $b) (local.set $a) (local.set $k)
      (if (result i32) (i32.eqz (local.get $k))
        (then (local.get $a))
        (else
          (i32.sub (local.get $k) (i32.const 1))
          (local.get $b)
          (i32.add (local.get $a) (local.get $b))
          (br $l)))))
  (func $pair (param i32) (result i32 i32) (local.get 0) (i32.const 1))
  (func (export "multi") (param i32) (result i32)
    (local.get 0)
    (block (param i32) (result i32 i32) (call $pair))
    (i32.add))
  (func (export "simd") (result i32)
    (v128.store offset=16 (i32.const 0)
      (i32x4.add (v128.const i32x4 1 2 3 4) (v128.load (i32.const 0))))
    (i32.add
      (i32x4.extract_lane 2 (v128.load offset=16 (i32.const 0)))
      (i32.add
        (i8x16.extract_lane_u 0
          (i8x16.shuffle 20 0 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (v128.load (i32.const 0)) (v128.load (i32.const 16))))
        (i32x4.extract_lane 0
          (v128.load32_lane 0 (i32.const 16) (v128.const i32x4 0 0 0 0))))))
  (func (export "bulk") (result i32)
    (memory.init $hello (i32.const 100) (i32.const 0) (i32.const 12))
    (data.drop $hello)
    (memory.copy (i32.const 200) (i32.const 100) (i32.const 5))
    (memory.fill (i32.const 205) (i32.const 33) (i32.const 2))
    (drop (table.grow $t (ref.null func) (i32.const 3)))
    (table.fill $t (i32.const 0) (ref.null func) (i32.const 5))
    (i32.add
      (i32.add (i32.load8_u (i32.const 204)) (i32.load8_u (i32.const 206)))
      (i32.add
        (select (result i32) (table.size $t) (i32.const 0) (ref.is_null (table.get $t (i32.const 1))))
        (i32.add (i32.extend8_s (i32.const 255)) (i32.trunc_sat_f32_s (f32.const 1e20)))))))`

// TestFeaturesPassThrough runs featuresWAT before and after the rewrite.
func TestFeaturesPassThrough(t *testing.T) {
	orig := wasmbuild.WAT(t, featuresWAT)
	out, info := mustInstrument(t, orig, opts(3))
	if info.Loops != 1 {
		t.Errorf("info = %+v, want 1 loop", info)
	}
	calls := []struct {
		name string
		args []uint64
		want uint64
	}{
		{"fib", []uint64{20}, 6765},
		{"multi", []uint64{41}, 42},
		{"simd", nil, 3 + 2 + 1},
		{"bulk", nil, 'o' + 33 + 5 - 1 + 0x7fffffff},
	}
	for i, wasm := range [][]byte{orig, out} {
		r := newRuntime(t)
		tk := &ticker{fuel: 3}
		addTicker(t, r, tk)
		mod := instantiate(t, r, wasm, "features")
		for _, c := range calls {
			res, err := mod.ExportedFunction(c.name).Call(context.Background(), c.args...)
			if err != nil {
				t.Fatalf("module %d: %s: %v", i, c.name, err)
			}
			if uint32(res[0]) != uint32(c.want) {
				t.Errorf("module %d: %s = %d, want %d", i, c.name, int32(res[0]), int32(c.want))
			}
		}
		// fib(20) passes its loop header 21 times.
		if i == 1 && tk.calls != 21/3 {
			t.Errorf("fib(20) ticked %d times with fuel 3, want %d", tk.calls, 21/3)
		}
	}
}

// threadsWAT uses atomics on a shared memory, including atomic.fence and
// a memory argument on wait and notify.
const threadsWAT = `(module
  (memory 1 1 shared)
  (func (export "atomics") (result i32)
    (local $i i32)
    (loop $l
      (drop (i32.atomic.rmw.add (i32.const 8) (i32.const 2)))
      (atomic.fence)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
    (drop (memory.atomic.notify (i32.const 8) (i32.const 1)))
    (drop (memory.atomic.wait32 offset=4 (i32.const 12) (i32.const 1) (i64.const 0)))
    (i32.atomic.load (i32.const 8))))`

// TestThreadsPassThrough runs threadsWAT after the rewrite.
func TestThreadsPassThrough(t *testing.T) {
	out, info := mustInstrument(t, wasmbuild.WAT(t, threadsWAT), opts(1000))
	if info.Loops != 1 {
		t.Errorf("info = %+v, want 1 loop", info)
	}
	r := newRuntime(t)
	addTicker(t, r, &ticker{fuel: 1000})
	mod := instantiate(t, r, out, "threads")
	res, err := mod.ExportedFunction("atomics").Call(context.Background())
	if err != nil || res[0] != 20 {
		t.Fatalf("atomics = %v, %v; want 20", res, err)
	}
}

// TestMemoryLimit checks Options.MaxMemoryPages.
func TestMemoryLimit(t *testing.T) {
	const growWAT = `(module
  (memory (export "mem") 1)
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`
	opt := opts(100)
	opt.MaxMemoryPages = 4
	out, _ := mustInstrument(t, wasmbuild.WAT(t, growWAT), opt)
	r := newRuntime(t)
	addTicker(t, r, &ticker{fuel: 100})
	mod := instantiate(t, r, out, "grow")
	if max, ok := mod.ExportedMemory("mem").Definition().Max(); !ok || max != 4 {
		t.Errorf("memory max = %d, %v; want 4", max, ok)
	}
	grow := mod.ExportedFunction("grow")
	for _, step := range []struct{ pages, want uint32 }{{2, 1}, {2, 0xffffffff}, {1, 3}, {1, 0xffffffff}} {
		res, err := grow.Call(context.Background(), uint64(step.pages))
		if err != nil || uint32(res[0]) != step.want {
			t.Errorf("memory.grow(%d) = %v, %v; want %d", step.pages, res, err, int32(step.want))
		}
	}

	t.Run("declared max below the limit is kept", func(t *testing.T) {
		out, _ := mustInstrument(t, wasmbuild.WAT(t, `(module (memory (export "mem") 1 2))`), opt)
		compiled, err := newRuntime(t).CompileModule(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		if max, ok := compiled.ExportedMemories()["mem"].Max(); !ok || max != 2 {
			t.Errorf("memory max = %d, %v; want 2", max, ok)
		}
	})
	t.Run("declared max above the limit is lowered", func(t *testing.T) {
		out, _ := mustInstrument(t, wasmbuild.WAT(t, `(module (memory (export "mem") 1 65536))`), opt)
		compiled, err := newRuntime(t).CompileModule(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		if max, ok := compiled.ExportedMemories()["mem"].Max(); !ok || max != 4 {
			t.Errorf("memory max = %d, %v; want 4", max, ok)
		}
	})
	t.Run("initial size above the limit", func(t *testing.T) {
		_, _, err := Instrument(wasmbuild.WAT(t, `(module (memory 5))`), opt)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "5 initial pages") || !strings.Contains(err.Error(), "limit of 4 pages") {
			t.Errorf("err = %v, want ErrLimit naming 5 and 4", err)
		}
	})
	t.Run("imported memory is left alone", func(t *testing.T) {
		in := wasmbuild.WAT(t, `(module (import "env" "mem" (memory 8)))`)
		out, _ := mustInstrument(t, in, opt)
		if !bytes.Contains(out, []byte{0x02, 0x00, 0x08}) { // kind memory, no max, min 8
			t.Errorf("imported memory limits changed")
		}
	})
}

// assemble builds a module from (id, payload) pairs, for the features that
// wabt 1.0.32 cannot write and for malformed input.
func assemble(sections ...any) []byte {
	out := slices.Clone(magic)
	for i := 0; i < len(sections); i += 2 {
		out = appendSection(out, byte(sections[i].(int)), sections[i+1].([]byte))
	}
	return out
}

// ehModule uses try_table, throw, a tag section, call_ref and ref.func.
func ehModule() []byte {
	bin := func(b ...byte) []byte { return b }
	return assemble(
		secType, bin(2, 0x60, 1, valI32, 1, valI32, 0x60, 1, valI32, 0),
		secFunction, bin(4, 0, 1, 0, 0),
		secTag, bin(1, 0, 1),
		secExport, bin(2, 5, 'c', 'a', 't', 'c', 'h', 0, 0, 7, 'c', 'a', 'l', 'l', 'r', 'e', 'f', 0, 3),
		secElement, bin(1, 3, 0, 1, 2), // declare func 2
		secCode, bin(4,
			// catch: block (result i32) try_table (catch 0 0) local.get 0 call 1 end i32.const 0 end
			18, 0, 0x02, valI32, 0x1f, blockEmpty, 1, 0, 0, 0, 0x20, 0, 0x10, 1, 0x0b, 0x41, 0, 0x0b, 0x0b,
			// thrower: local.get 0 throw 0
			6, 0, 0x20, 0, 0x08, 0, 0x0b,
			// id: local.get 0
			4, 0, 0x20, 0, 0x0b,
			// callref: local.get 0 ref.func 2 call_ref 0
			8, 0, 0x20, 0, 0xd2, 2, 0x14, 0, 0x0b),
	)
}

// TestExceptionsAndTypedReferences runs ehModule before and after the
// rewrite.
func TestExceptionsAndTypedReferences(t *testing.T) {
	wasm := ehModule()
	out, info := mustInstrument(t, wasm, opts(5))
	if info.EntryChecks != 2 {
		t.Errorf("info = %+v, want 2 entry checks", info)
	}
	for i, m := range [][]byte{wasm, out} {
		r := newRuntime(t)
		addTicker(t, r, &ticker{fuel: 5})
		mod := instantiate(t, r, m, "eh")
		for name, want := range map[string]uint64{"catch": 7, "callref": 9} {
			res, err := mod.ExportedFunction(name).Call(context.Background(), want)
			if err != nil || res[0] != want {
				t.Errorf("module %d: %s(%d) = %v, %v", i, name, want, res, err)
			}
		}
	}
}

// TestMalformed feeds broken modules: errors of the right kind, no panic.
func TestMalformed(t *testing.T) {
	valid := wasmbuild.WAT(t, `(module
  (memory 1)
  (func $f (export "f") (param i32) (result i32)
    (loop $l (br_if $l (i32.eqz (local.get 0))))
    (call $f (i32.const 1))))`)
	bin := func(b ...byte) []byte { return b }
	for _, tc := range []struct {
		name string
		in   []byte
		kind error
		msg  string
	}{
		{"empty", nil, ErrMalformed, "bad magic"},
		{"garbage", []byte("#!/bin/sh\necho hi\n"), ErrMalformed, "bad magic"},
		{"version 2", append([]byte("\x00asm"), 2, 0, 0, 0), ErrUnsupported, "version"},
		{"component", append([]byte("\x00asm"), 0x0d, 0, 1, 0), ErrUnsupported, "version"},
		{"section past the end", append(slices.Clone(magic), secType, 10, 0), ErrMalformed, "runs past"},
		{"overlong section size", append(slices.Clone(magic), secType, 0x81, 0x80, 0x80, 0x80, 0x80, 0x00), ErrMalformed, "too long"},
		{"section size bits above 32", append(slices.Clone(magic), secType, 0xff, 0xff, 0xff, 0xff, 0x1f), ErrMalformed, "too large"},
		{"truncated LEB", append(slices.Clone(magic), secType, 0x80), ErrMalformed, "truncated"},
		{"unknown section", assemble(14, bin()), ErrUnsupported, "section id 14"},
		{"sections out of order", assemble(secImport, bin(0), secType, bin(0)), ErrMalformed, "out of order"},
		{"repeated section", assemble(secType, bin(0), secType, bin(0)), ErrMalformed, "out of order"},
		{"GC rec type", assemble(secType, bin(1, 0x4e, 0)), ErrUnsupported, "type form 0x4e"},
		{"type count too big", assemble(secType, bin(0x80, 0x80, 0x04)), ErrMalformed, "type count"},
		{"trailing bytes in type section", assemble(secType, bin(0, 0)), ErrMalformed, "unexpected bytes"},
		{"code without functions", assemble(secCode, bin(1, 2, 0, 0x0b)), ErrMalformed, "1 bodies for 0"},
		{"functions without code", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0)), ErrMalformed, "no code section"},
		{"body without end", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 2, 0, 0x01)), ErrMalformed, "before its final end"},
		{"end before the end of the body", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 3, 0, 0x0b, 0x01)), ErrMalformed, "end of function before"},
		{"unknown opcode", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 3, 0, 0xc5, 0x0b)), ErrUnsupported, "function 0: unknown opcode 0xc5"},
		{"unknown 0xfc opcode", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 4, 0, 0xfc, 18, 0x0b)), ErrUnsupported, "unknown opcode 0xfc 18"},
		{"unknown 0xfd opcode", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 5, 0, 0xfd, 0x80, 0x02, 0x0b)), ErrUnsupported, "unknown opcode 0xfd 256"},
		{"unknown 0xfe opcode", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 4, 0, 0xfe, 0x04, 0x0b)), ErrUnsupported, "unknown opcode 0xfe 4"},
		{"overlong i32.const", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 9, 0, 0x41, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b)), ErrMalformed, "too long"},
		{"i32.const bits beyond 32", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 8, 0, 0x41, 0xff, 0xff, 0xff, 0xff, 0x4f, 0x0b)), ErrMalformed, "too large"},
		{"call out of range", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 4, 0, 0x10, 1, 0x0b)), ErrMalformed, "function index 1 out of range"},
		{"export out of range", assemble(secExport, bin(1, 1, 'f', 0, 0)), ErrMalformed, "out of range"},
		{"bad block type", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 5, 0, 0x02, 0x50, 0x0b, 0x0b)), ErrUnsupported, "block type"},
		{"element flags", assemble(secElement, bin(1, 8)), ErrUnsupported, "element segment flags 8"},
		{"data segment past the end", assemble(secData, bin(1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f)), ErrMalformed, "runs past"},
		{"data segment count", assemble(secData, bin(0xff, 0xff, 0xff, 0xff, 0x0f)), ErrMalformed, "data segment count"},
		{"function count", assemble(secFunction, bin(0xff, 0xff, 0xff, 0xff, 0x0f)), ErrMalformed, "function count"},
		{"too many locals", assemble(secType, bin(1, 0x60, 0, 0), secFunction, bin(1, 0), secCode, bin(1, 10, 2, 0xa8, 0xc3, 0x01, valI32, 0x80, 0x80, 0x04, valI64, 0x0b)), ErrLimit, "more than 50000 locals"},
		{"already instrumented", assemble(secType, bin(1, 0x60, 0, 1, valI32), secImport, bin(1, 6, 'e', 'v', 'h', 'o', 's', 't', 4, 't', 'i', 'c', 'k', 0, 0)), ErrUnsupported, "already imports evhost.tick"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := Instrument(tc.in, opts(10))
			if err == nil {
				t.Fatalf("no error; output % x", out)
			}
			var e *Error
			if !errors.Is(err, tc.kind) || !errors.As(err, &e) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want %v containing %q", err, tc.kind, tc.msg)
			}
			if out != nil {
				t.Errorf("output with an error")
			}
		})
	}

	t.Run("every truncation", func(t *testing.T) {
		for n := range len(valid) {
			out, _, err := Instrument(valid[:n], opts(10))
			if err == nil && !validCompiles(t, valid[:n], out) {
				t.Errorf("truncated to %d bytes: accepted, and wazero rejects the output", n)
			}
		}
	})
	t.Run("every byte flipped", func(t *testing.T) {
		for i := range valid {
			in := slices.Clone(valid)
			in[i] ^= 0xff
			out, _, err := Instrument(in, opts(10))
			if err == nil && !validCompiles(t, in, out) {
				t.Errorf("byte %d flipped: accepted, and wazero rejects the output", i)
			}
		}
	})
	t.Run("options", func(t *testing.T) {
		for _, opt := range []Options{{TickName: "tick", Fuel: 1}, {TickModule: "m", Fuel: 1}, {TickModule: "m", TickName: "t"}, {TickModule: "\xff", TickName: "t", Fuel: 1}} {
			if _, _, err := Instrument(valid, opt); !errors.Is(err, ErrOptions) {
				t.Errorf("options %+v: err = %v, want ErrOptions", opt, err)
			}
		}
	})
}

var (
	checkRuntimeOnce sync.Once
	checkRuntime     wazero.Runtime
)

// compiles reports whether wazero compiles wasm. It uses one runtime for the
// whole test binary, as the fuzz target calls it for every input.
//
// wazero v1.12's validator panics on some invalid modules when exception
// handling is enabled (a tag whose type index is out of range, seed
// 24a8f4cfa929fabd); such a module counts as not compiling.
func compiles(wasm []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	checkRuntimeOnce.Do(func() {
		cfg := wazero.NewRuntimeConfigCompiler().WithCoreFeatures(features)
		checkRuntime = wazero.NewRuntimeWithConfig(context.Background(), cfg)
	})
	ctx := context.Background()
	c, err := checkRuntime.CompileModule(ctx, wasm)
	if err != nil {
		return false
	}
	c.Close(ctx)
	return true
}

// validCompiles reports whether out compiles, or in does not (so that out
// need not).
func validCompiles(t testing.TB, in, out []byte) bool {
	t.Helper()
	if !compiles(in) || compiles(out) {
		return true
	}
	_, err := checkRuntime.CompileModule(context.Background(), out)
	t.Logf("input compiles, output does not: %v", err)
	return false
}

// overheadWAT holds the worst cases for the checks: a loop whose body is
// one addition, and recursion whose functions do almost nothing else.
const overheadWAT = `(module
  (func (export "loop") (param $n i32) (result i32)
    (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (local.get $n)))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $s))
  (func $fib (export "fib") (param $n i32) (result i32)
    (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
      (then (local.get $n))
      (else (i32.add (call $fib (i32.sub (local.get $n) (i32.const 1)))
                     (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
  (func (export "nop") (param i32) (result i32) (local.get 0)))`

// BenchmarkOverhead calls the functions of overheadWAT with and without
// instrumentation, through CallWithStack as the host does.
func BenchmarkOverhead(b *testing.B) {
	orig := wasmbuild.WAT(b, overheadWAT)
	out, _ := mustInstrument(b, orig, opts(10000))
	for _, fn := range []struct {
		name string
		arg  uint64
	}{{"loop", 1000}, {"fib", 20}, {"nop", 1}} {
		for _, m := range []struct {
			name string
			wasm []byte
		}{{"original", orig}, {"instrumented", out}} {
			b.Run(fn.name+"/"+m.name, func(b *testing.B) {
				r := newRuntime(b)
				addTicker(b, r, &ticker{fuel: 10000})
				f := instantiate(b, r, m.wasm, "overhead").ExportedFunction(fn.name)
				stack := make([]uint64, 1)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					stack[0] = fn.arg
					if err := f.CallWithStack(ctx, stack); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestCustomSections checks which custom sections are kept, and where the
// added sections go.
func TestCustomSections(t *testing.T) {
	custom := func(name string, payload ...byte) []byte {
		return append(appendName(nil, name), payload...)
	}
	wasm := assemble(
		secCustom, custom("producers", 1, 2, 3),
		secType, []byte{1, 0x60, 0, 0},
		secFunction, []byte{1, 0},
		secCustom, custom(".debug_info", 9, 9, 9),
		secCode, []byte{1, 2, 0, 0x0b},
		secCustom, custom("name", 1, 0xff), // function names of 255 bytes: malformed
		secCustom, custom("sourceMappingURL", 'x'),
	)
	out, info := mustInstrument(t, wasm, opts(1))
	if info.DroppedSections != 2 {
		t.Errorf("dropped %d sections, want 2", info.DroppedSections)
	}
	for _, name := range []string{"producers", "sourceMappingURL"} {
		if !bytes.Contains(out, custom(name)) {
			t.Errorf("custom section %s was dropped", name)
		}
	}
	for _, name := range []string{".debug_info", "name"} {
		if bytes.Contains(out, custom(name)) {
			t.Errorf("custom section %s was kept", name)
		}
	}
	if !compiles(out) {
		t.Error("wazero does not compile the output")
	}
	// The new sections go where the order requires: import after type,
	// global before code, the kept custom sections where they were.
	var ids []byte
	d := decoder{b: out, p: len(magic)}
	for !d.done() {
		id, _ := d.byte()
		size, _ := d.u32()
		ids = append(ids, id)
		d.p += int(size)
	}
	if want := []byte{secCustom, secType, secImport, secFunction, secGlobal, secCode, secCustom}; !bytes.Equal(ids, want) {
		t.Errorf("section ids %v, want %v", ids, want)
	}
}

// TestNoSections instruments a module that is only a header.
func TestNoSections(t *testing.T) {
	out, _ := mustInstrument(t, magic, opts(1))
	if !compiles(out) {
		t.Error("wazero does not compile the output")
	}
}

// TestTableLimit checks Options.MaxTableElements and TableElementSize.
func TestTableLimit(t *testing.T) {
	const growWAT = `(module
  (table $t (export "t") 2 funcref)
  (func (export "grow") (param i32) (result i32) (table.grow $t (ref.null func) (local.get 0))))`
	opt := opts(100)
	opt.MaxTableElements = 10
	out, info := mustInstrument(t, wasmbuild.WAT(t, growWAT), opt)
	if info.TableElements != 10 {
		t.Errorf("info.TableElements = %d, want 10", info.TableElements)
	}
	r := newRuntime(t)
	addTicker(t, r, &ticker{fuel: 100})
	mod := instantiate(t, r, out, "grow")
	grow := mod.ExportedFunction("grow")
	for _, step := range []struct{ elems, want uint32 }{{5, 2}, {4, 0xffffffff}, {8 << 20, 0xffffffff}, {3, 7}, {1, 0xffffffff}} {
		res, err := grow.Call(context.Background(), uint64(step.elems))
		if err != nil || uint32(res[0]) != step.want {
			t.Errorf("table.grow(%d) = %v, %v; want %d", step.elems, res, err, int32(step.want))
		}
	}

	// maxima returns the maximum of each table of an instrumented module,
	// read back by instrumenting it again without a cap.
	maxima := func(t *testing.T, wasm []byte) []uint64 {
		t.Helper()
		m := &module{in: wasm, opt: opts(1)}
		if err := m.split(); err != nil {
			t.Fatal(err)
		}
		s, ok := m.find(secTable)
		if !ok {
			t.Fatal("no table section")
		}
		d := m.decoderFor(s)
		n, _ := d.count("table")
		var out []uint64
		for range n {
			var lim tableLimits
			if _, err := m.tableType(&d, &lim); err != nil {
				t.Fatal(err)
			}
			if lim.flags&1 == 0 {
				t.Fatalf("table without a maximum")
			}
			out = append(out, lim.max)
		}
		return out
	}
	for _, tc := range []struct {
		name, wat string
		limit     uint32
		want      []uint64
	}{
		{"declared max below the limit is kept", `(module (table 1 4 funcref))`, 10, []uint64{4}},
		{"declared max above the limit is lowered", `(module (table 1 100000 funcref))`, 10, []uint64{10}},
		{"room goes to the tables in order", `(module (table 2 4 funcref) (table 3 externref) (table 1 funcref))`, 20, []uint64{4, 15, 1}},
		{"initial sizes exactly at the limit", `(module (table 4 funcref) (table 6 6 funcref))`, 10, []uint64{4, 6}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(1)
			o.MaxTableElements = tc.limit
			out, info := mustInstrument(t, wasmbuild.WAT(t, tc.wat), o)
			if got := maxima(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("maxima = %v, want %v", got, tc.want)
			}
			var sum uint64
			for _, v := range tc.want {
				sum += v
			}
			if info.TableElements != sum {
				t.Errorf("info.TableElements = %d, want %d", info.TableElements, sum)
			}
			if !compiles(out) {
				t.Errorf("wazero does not compile the output")
			}
		})
	}
	t.Run("initial sizes above the limit", func(t *testing.T) {
		for _, wat := range []string{`(module (table 11 funcref))`, `(module (table 6 funcref) (table 5 externref))`} {
			_, _, err := Instrument(wasmbuild.WAT(t, wat), opt)
			if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "11 initial elements") || !strings.Contains(err.Error(), "limit of 10 elements") {
				t.Errorf("%s: err = %v, want ErrLimit naming 11 and 10", wat, err)
			}
		}
	})
	t.Run("a huge initial size is refused before wazero allocates it", func(t *testing.T) {
		_, _, err := Instrument(wasmbuild.WAT(t, `(module (table 100000000 funcref))`), opt)
		if !errors.Is(err, ErrLimit) {
			t.Errorf("err = %v, want ErrLimit", err)
		}
	})
	t.Run("imported table is left alone", func(t *testing.T) {
		out, _ := mustInstrument(t, wasmbuild.WAT(t, `(module (import "env" "t" (table 100 funcref)))`), opt)
		if !bytes.Contains(out, []byte{0x01, valFuncref, 0x00, 100}) { // kind table, funcref, no max, min 100
			t.Errorf("imported table limits changed")
		}
	})
	t.Run("no limit leaves tables alone", func(t *testing.T) {
		in := wasmbuild.WAT(t, `(module (table 3 funcref) (table 1 7 funcref))`)
		out, info := mustInstrument(t, in, opts(1))
		if info.TableElements != 0 {
			t.Errorf("info.TableElements = %d without a limit", info.TableElements)
		}
		if !bytes.Contains(out, []byte{secTable, 8, 2, valFuncref, 0, 3, valFuncref, 1, 1, 7}) {
			t.Errorf("table section changed without a limit")
		}
	})
	t.Run("table with an initialiser", func(t *testing.T) {
		bin := func(b ...byte) []byte { return b }
		// (type (func (result i32))) (func $f (result i32) i32.const 42)
		// (table 0x40 0x00 (ref null func) 1 (ref.func $f)) (elem declare func $f)
		// (func (export "call") (result i32) i32.const 0 call_indirect (type 0) (table 0))
		in := assemble(
			secType, bin(1, 0x60, 0, 1, valI32),
			secFunction, bin(2, 0, 0),
			secTable, bin(1, 0x40, 0, refNullable, valFuncref, 0, 1, 0xd2, 0, 0x0b),
			secExport, bin(1, 4, 'c', 'a', 'l', 'l', 0, 1),
			secElement, bin(1, 3, 0, 1, 0),
			secCode, bin(2, 4, 0, 0x41, 42, 0x0b, 7, 0, 0x41, 0, 0x11, 0, 0, 0x0b),
		)
		o := opts(100)
		o.MaxTableElements = 5
		out, info := mustInstrument(t, in, o)
		if info.TableElements != 5 {
			t.Errorf("info.TableElements = %d, want 5", info.TableElements)
		}
		for i, m := range [][]byte{in, out} {
			r := newRuntime(t)
			addTicker(t, r, &ticker{fuel: 100})
			mod := instantiate(t, r, m, "init")
			if res, err := mod.ExportedFunction("call").Call(context.Background()); err != nil || res[0] != 42 {
				t.Errorf("module %d: call = %v, %v; want 42 (ref.func in the initialiser shifted)", i, res, err)
			}
		}
	})
	t.Run("tables are charged to the memory cap", func(t *testing.T) {
		o := opts(1)
		o.MaxMemoryPages = 10
		o.MaxTableElements = 65536 // 8 bytes an element: 8 pages at most
		o.TableElementSize = 8
		out, info := mustInstrument(t, wasmbuild.WAT(t, `(module (memory (export "mem") 1) (table 100 8192 funcref))`), o)
		if info.TableElements != 8192 || info.MemoryPages != 9 {
			t.Errorf("info = %+v, want 8192 table elements (1 page) and 9 memory pages", info)
		}
		compiled, err := newRuntime(t).CompileModule(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		if max, ok := compiled.ExportedMemories()["mem"].Max(); !ok || max != 9 {
			t.Errorf("memory max = %d, %v; want 9", max, ok)
		}
		_, info = mustInstrument(t, wasmbuild.WAT(t, `(module (memory 1) (table 1 funcref))`), o)
		if info.TableElements != 65536 || info.MemoryPages != 2 {
			t.Errorf("unbounded table: info = %+v, want 65536 elements and 2 memory pages", info)
		}
		_, info = mustInstrument(t, wasmbuild.WAT(t, `(module (memory 1) (table 8191 8191 funcref))`), o)
		if info.TableElements != 8191 || info.MemoryPages != 10 {
			t.Errorf("tables under a page: info = %+v, want 8191 elements and all 10 memory pages", info)
		}
		_, _, err = Instrument(wasmbuild.WAT(t, `(module (memory 3) (table 1 funcref))`), o)
		if !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), "8 pages for 65536 table elements") {
			t.Errorf("err = %v, want ErrLimit naming the pages taken by the tables", err)
		}
	})
}
