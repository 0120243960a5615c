package wasm

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// smallOrderJS is the small handler of BenchmarkSmallHandler in
// JavaScript, run by the engine plugin (plugins/js/engine).
const smallOrderJS = `function handle(event) {
  const o = event.data; // parsed by the engine: the content type is JSON
  evhost.emit("order.seen", {id: o.id, product: o.product_id});
}`

// smallHandler is one language's build of the small handler: parse the
// event's JSON data, read two fields, emit one event.
type smallHandler struct {
	name   string
	bin    func(b *testing.B) []byte
	config map[string]string
}

var smallHandlers = []smallHandler{
	{"go", func(b *testing.B) []byte {
		return wasmbuild.Go(b, filepath.Join("testdata", "goplugins", "smallorder"))
	}, nil},
	{"c", func(b *testing.B) []byte {
		return wasmbuild.C(b, filepath.Join("testdata", "csmallorder"))
	}, nil},
	{"js", func(b *testing.B) []byte {
		// The engine without KV and HTTP (the handler needs neither).
		return wasmbuild.GoTags(b, filepath.Join("..", "..", "plugins", "js", "engine"), "evhost_nokv", "evhost_nohttp")
	}, map[string]string{"source": smallOrderJS}},
}

func smallEvent() *event.Event {
	return &event.Event{
		ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		DataContentType: "application/json",
		Data:            []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
	}
}

// checkSmall fails unless res is the small handler's one emit.
func checkSmall(b *testing.B, res Result) {
	var o struct {
		ID      int    `json:"id"`
		Product string `json:"product"`
	}
	if res.Status != Done || len(res.Emits) != 1 || json.Unmarshal(res.Emits[0].Data, &o) != nil || o.ID != 42 || o.Product != "sku-1" {
		b.Fatalf("%+v", res)
	}
}

// BenchmarkSmallHandler measures, for the same small handler in Go (the
// PDK), C (the C kit) and JavaScript (goja in the engine plugin):
//
//   - call: one event through the pool (ns/op), on a warm instance;
//   - instance: instantiating and initialising an instance from the
//     compiled module and handling its first event, which for JavaScript
//     includes making the goja runtime and compiling the source
//     (ns/op), with the instance's linear memory after that event
//     (MiB/instance) and the module's size (module-MiB);
//   - compile-cached: compiling the module in a new runtime from the
//     on-disk compilation cache, as a restarted daemon does (ns/op).
func BenchmarkSmallHandler(b *testing.B) {
	ctx := context.Background()
	for _, h := range smallHandlers {
		b.Run(h.name, func(b *testing.B) {
			bin := h.bin(b)
			cache := b.TempDir()
			r, err := NewRuntime(ctx, RuntimeOptions{CacheDir: cache})
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close(ctx)
			p, err := r.Load(ctx, bin, PluginOptions{Name: "bench", Config: h.config, MaxInstances: 1, Timeout: 5 * time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			ev := smallEvent()

			b.Run("call", func(b *testing.B) {
				checkSmall(b, p.Call(ctx, ev))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if res := p.Call(ctx, ev); res.Status != Done {
						b.Fatal(res.Reason)
					}
				}
			})

			b.Run("instance", func(b *testing.B) {
				var mem uint32
				b.ReportMetric(float64(len(bin))/(1<<20), "module-MiB")
				for i := 0; i < b.N; i++ {
					in, err := newInstance(ctx, p)
					if err != nil {
						b.Fatal(err)
					}
					checkSmall(b, in.call(ctx, ev, 1))
					mem = in.mem.Size()
					in.close()
				}
				b.ReportMetric(float64(mem)/(1<<20), "MiB/instance")
			})

			b.Run("compile-cached", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					r2, err := NewRuntime(ctx, RuntimeOptions{CacheDir: cache})
					if err != nil {
						b.Fatal(err)
					}
					opts := PluginOptions{Name: "bench"}
					opts.setDefaults(r2)
					c, err := r2.compile(ctx, "bench", bin, &opts)
					if err != nil {
						b.Fatal(err)
					}
					c.mod.Close(ctx)
					r2.Close(ctx)
				}
			})
		})
	}
}
