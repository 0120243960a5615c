package wasm

import (
	"context"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/rawwasm"
)

// BenchmarkCallLayers splits the cost of a pooled call of the Go
// byte-count plugin, in one run with the three interleaved: the raw
// wazero call of the module as built (raw-ns/op), the call on an
// instance of the instrumented module without the pool (instance-ns/op:
// what the deadline's instrumentation and the call's bookkeeping add),
// and the call through the pool (pool-ns/op: acquire and release added).
func BenchmarkCallLayers(b *testing.B) {
	ctx := context.Background()
	bin := goBytecount(b)
	rr, err := rawwasm.New(ctx, bin, sharedCache())
	if err != nil {
		b.Fatal(err)
	}
	defer rr.Close(ctx)
	raw, err := rr.Instantiate(ctx)
	if err != nil {
		b.Fatal(err)
	}
	r, err := NewRuntime(ctx, RuntimeOptions{CacheDir: sharedCache()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	p, err := r.Load(ctx, bin, PluginOptions{Name: "layers", MinInstances: 1, MaxInstances: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	direct, err := newInstance(ctx, p, p.c.mod)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.close()
	ev := &event.Event{
		ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		DataContentType: "application/json",
		Data:            []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
	}
	fs := []func(){
		func() { raw.Call(ctx, ev) },
		func() { direct.call(ctx, ev, 0) },
		func() { p.Call(ctx, ev) },
	}
	var took [3]time.Duration
	const chunk = 2000
	b.ResetTimer()
	for i := 0; i < b.N; i += chunk {
		k := min(chunk, b.N-i)
		for j := range fs {
			f := (j + i/chunk) % len(fs) // rotate the order
			start := time.Now()
			for range k {
				fs[f]()
			}
			took[f] += time.Since(start)
		}
	}
	b.StopTimer()
	for i, unit := range []string{"raw-ns/op", "instance-ns/op", "pool-ns/op"} {
		b.ReportMetric(float64(took[i].Nanoseconds())/float64(b.N), unit)
	}
	b.ReportMetric(float64(took[2])/float64(took[0]), "pool/raw")
}
