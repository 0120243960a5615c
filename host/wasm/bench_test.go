package wasm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/rawwasm"
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

func newRawModule(b *testing.B, bin []byte) *rawwasm.Module {
	b.Helper()
	ctx := context.Background()
	r, err := rawwasm.New(ctx, bin, cacheDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(ctx) })
	m, err := r.Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	return m
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
				func() { raw.Call(ctx, ev) },
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
