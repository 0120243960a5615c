package wasm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
)

// benchEvent is a ~200-byte event (its envelope is 200 bytes).
func benchEvent() *event.Event {
	return &event.Event{
		ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		DataContentType: "application/json",
		Data:            []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
	}
}

// rawModule is the baseline the pool is measured against: the same module
// instantiated once with plain wazero, its exports looked up once,
// evhost_alloc + the same envelope write + evhost_handle with
// CallWithStack, no pool and no interrupt mechanism. The host functions
// it imports are no-ops.
type rawModule struct {
	rt            wazero.Runtime
	mem           api.Memory
	alloc, handle api.Function
	stack         [2]uint64
}

func newRawModule(b *testing.B, bin []byte) *rawModule {
	b.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir())
	if err != nil {
		b.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
	b.Cleanup(func() { rt.Close(ctx); cache.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	hb := rt.NewHostModuleBuilder("evhost")
	noop := func(name string, params, results []api.ValueType) {
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), params, results).Export(name)
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	noop("log", []api.ValueType{i32, i32, i32}, nil)
	noop("emit", []api.ValueType{i32, i32}, []api.ValueType{i32})
	noop("fail", []api.ValueType{i32, i32}, nil)
	noop("config_get", []api.ValueType{i32, i32}, []api.ValueType{i64})
	if _, err := hb.Instantiate(ctx); err != nil {
		b.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, bin, wazero.NewModuleConfig().WithStartFunctions().WithName(""))
	if err != nil {
		b.Fatal(err)
	}
	if f := mod.ExportedFunction("_initialize"); f != nil {
		if _, err := f.Call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return &rawModule{rt: rt, mem: mod.ExportedMemory("memory"),
		alloc: mod.ExportedFunction("evhost_alloc"), handle: mod.ExportedFunction("evhost_handle")}
}

func (m *rawModule) call(ctx context.Context, ev *event.Event) {
	size := event.EnvelopeSize(ev)
	m.stack[0] = uint64(size)
	if err := m.alloc.CallWithStack(ctx, m.stack[:1]); err != nil {
		panic(err)
	}
	ptr := uint32(m.stack[0])
	buf, _ := m.mem.Read(ptr, uint32(size))
	event.AppendEnvelope(buf[:0], ev)
	m.stack[0], m.stack[1] = uint64(ptr), uint64(size)
	if err := m.handle.CallWithStack(ctx, m.stack[:]); err != nil {
		panic(err)
	}
}

// BenchmarkCall measures a call through the pool (timeouts and memory
// limits on) and the raw wazero call of the same module, interleaved in
// chunks with the order alternating, so that the ratio survives a noisy
// machine. Metrics: raw-ns/op, pool-ns/op and pool/raw.
func BenchmarkCall(b *testing.B) {
	for _, tc := range []struct {
		name string
		bin  func(b *testing.B) []byte
	}{
		{"trivial-wat", func(b *testing.B) []byte { return fixture(b, "trivial.wat") }},
		{"go-bytecount", func(b *testing.B) []byte { return goPlugin(b, "bytecount") }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bin := tc.bin(b)
			raw := newRawModule(b, bin)
			p := load(b, newRuntime(b), bin, wasm.PluginOptions{Name: "bench", MaxInstances: 1, Timeout: 5 * time.Second})
			ctx := context.Background()
			ev := benchEvent()
			if n := event.EnvelopeSize(ev); n < 190 || n > 210 {
				b.Fatalf("bench event is %d bytes", n)
			}
			if res := p.Call(ctx, ev); res.Status != wasm.Done {
				b.Fatalf("%+v", res)
			}
			interleave(b,
				func() { raw.call(ctx, ev) },
				func() {
					if res := p.Call(ctx, ev); res.Status != wasm.Done {
						b.Fatal(res.Reason)
					}
				})
		})
	}
}

// interleave runs a and c in turns, b.N times each in total, and reports
// their times per op and the ratio c/a.
func interleave(b *testing.B, a, c func()) {
	const chunk = 2000
	var ta, tc time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		k := min(chunk, b.N-i)
		for j := 0; j < 2; j++ {
			f, t := a, &ta
			if (j+i/chunk)%2 == 1 {
				f, t = c, &tc
			}
			start := time.Now()
			for n := 0; n < k; n++ {
				f()
			}
			*t += time.Since(start)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(ta.Nanoseconds())/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(tc.Nanoseconds())/float64(b.N), "pool-ns/op")
	b.ReportMetric(float64(tc)/float64(ta), "pool/raw")
}

// BenchmarkPoolCall measures the pool alone, for its allocations.
func BenchmarkPoolCall(b *testing.B) {
	for _, name := range []string{"trivial-wat", "go-bytecount"} {
		b.Run(name, func(b *testing.B) {
			var bin []byte
			if strings.HasPrefix(name, "go") {
				bin = goPlugin(b, "bytecount")
			} else {
				bin = fixture(b, "trivial.wat")
			}
			p := load(b, newRuntime(b), bin, wasm.PluginOptions{Name: "bench", MaxInstances: 1})
			ctx, ev := context.Background(), benchEvent()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p.Call(ctx, ev)
			}
		})
	}
}

// A call that emits nothing allocates nothing on the host side.
func TestCallDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"trivial-wat", "go-bytecount", "echo-wat"} {
		t.Run(name, func(t *testing.T) {
			var bin []byte
			switch name {
			case "go-bytecount":
				bin = goPlugin(t, "bytecount")
			case "echo-wat":
				bin = fixture(t, "echo.wat")
			default:
				bin = fixture(t, "trivial.wat")
			}
			p := load(t, newRuntime(t), bin, wasm.PluginOptions{Name: "alloc", MaxInstances: 1})
			ctx, ev := context.Background(), benchEvent()
			if name == "echo-wat" {
				ev.Data = []byte("s0") // status 0, no emit
			}
			allocs := testing.AllocsPerRun(200, func() {
				if res := p.Call(ctx, ev); res.Status != wasm.Done {
					t.Fatal(res.Reason)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per call", allocs)
			}
		})
	}
}
