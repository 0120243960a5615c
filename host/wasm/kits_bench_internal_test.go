package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// The two handlers of BenchmarkKits, each written in every language:
//
//   - bytes: count the event data's nonzero bytes, one by one, into a
//     global; emit nothing (the cost of a call and of decoding the event);
//   - json: read the fields id and product_id of the event's JSON data and
//     emit one event, order.seen, {"id":...,"product":...}. Go decodes with
//     encoding/json (the PDK's Decode) and JavaScript with the engine's
//     JSON parse; C, Rust, AssemblyScript and WAT scan for the two keys (a
//     lower bound for the same logic: their kits have no JSON parser).
//
// The WAT handlers, written by hand, are the reference.
const (
	bytesJS = `let total = 0;
function handle(event) {
  const d = event.data; // a string: the content type is text/plain
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d.charCodeAt(i) !== 0) n++;
  total += n;
}`
	// smallOrderJS is the json handler in JavaScript.
	smallOrderJS = `function handle(event) {
  const o = event.data; // parsed by the engine: the content type is JSON
  evhost.emit("order.seen", {id: o.id, product: o.product_id});
}`
)

// kitHandler is one language's build of one of the handlers.
type kitHandler struct {
	lang   string
	bin    func(b *testing.B) []byte
	config map[string]string
}

var plugins = filepath.Join("..", "..", "plugins")

// jsEngine is the JavaScript engine (QuickJS) without KV and HTTP (the
// handlers need neither).
func jsEngine(b *testing.B) []byte {
	return wasmbuild.JSEngine(b, filepath.Join("..", ".."), jsengine.Variant{})
}

var kitHandlers = map[string][]kitHandler{
	"bytes": {
		{"wat", func(b *testing.B) []byte { return wasmbuild.WATFile(b, filepath.Join("testdata", "bytecount.wat")) }, nil},
		{"c", func(b *testing.B) []byte { return wasmbuild.C(b, filepath.Join("testdata", "cbytecount")) }, nil},
		{"rust", func(b *testing.B) []byte {
			return wasmbuild.Rust(b, filepath.Join(plugins, "rust", "bench", "bytecount"))
		}, nil},
		{"as", func(b *testing.B) []byte {
			return wasmbuild.AssemblyScript(b, filepath.Join(plugins, "assemblyscript"), "bench/bytecount.ts")
		}, nil},
		// as-data reads e.data, a copy of the data, where as reads it in place.
		{"as-data", func(b *testing.B) []byte {
			return wasmbuild.AssemblyScript(b, filepath.Join(plugins, "assemblyscript"), "bench/bytecount_data.ts")
		}, nil},
		{"go", func(b *testing.B) []byte { return wasmbuild.Go(b, filepath.Join("testdata", "goplugins", "bytecount")) }, nil},
		{"js", jsEngine, map[string]string{"source": bytesJS}},
	},
	"json": {
		{"wat", func(b *testing.B) []byte { return wasmbuild.WATFile(b, filepath.Join("testdata", "smallorder.wat")) }, nil},
		{"c", func(b *testing.B) []byte { return wasmbuild.C(b, filepath.Join("testdata", "csmallorder")) }, nil},
		{"rust", func(b *testing.B) []byte {
			return wasmbuild.Rust(b, filepath.Join(plugins, "rust", "bench", "smallorder"))
		}, nil},
		{"as", func(b *testing.B) []byte {
			return wasmbuild.AssemblyScript(b, filepath.Join(plugins, "assemblyscript"), "bench/smallorder.ts")
		}, nil},
		{"go", func(b *testing.B) []byte {
			return wasmbuild.Go(b, filepath.Join("testdata", "goplugins", "smallorder"))
		}, nil},
		{"js", jsEngine, map[string]string{"source": smallOrderJS}},
	},
}

// kitEvent is the event of a handler: a small order in JSON (text/plain
// for bytes, so that JavaScript gets the data as a string).
func kitEvent(logic string) *event.Event {
	ct := "application/json"
	if logic == "bytes" {
		ct = "text/plain"
	}
	return &event.Event{
		ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		DataContentType: ct,
		Data:            []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
	}
}

// checkKit fails unless res is what the handler of logic gives.
func checkKit(b *testing.B, logic string, res Result) {
	b.Helper()
	if logic == "bytes" {
		if res.Status != Done || len(res.Emits) != 0 {
			b.Fatalf("%+v", res)
		}
		return
	}
	var o struct {
		ID      int    `json:"id"`
		Product string `json:"product"`
	}
	if res.Status != Done || len(res.Emits) != 1 || res.Emits[0].Type != "order.seen" ||
		json.Unmarshal(res.Emits[0].Data, &o) != nil || o.ID != 42 || o.Product != "sku-1" {
		b.Fatalf("%+v", res)
	}
}

// BenchmarkKits measures, for each handler in each language
// (BenchmarkKits/<handler>/<language>/...):
//
//   - call: one event through the pool (ns/op), on a warm instance;
//   - instance: instantiating and initialising an instance from the
//     compiled module and handling its first event, which for JavaScript
//     includes making the QuickJS runtime and compiling the source (ns/op),
//     with the instance's linear memory after that event (pages and
//     MiB/instance) and the module's size (module-KiB);
//   - compile-cold: compiling the module in a new runtime with an empty
//     compilation cache (ns/op);
//   - compile-cached: compiling it in a new runtime from the on-disk
//     compilation cache, as a restarted daemon does (ns/op).
//
// Run it with a time, not a count (compiling the JavaScript engine cold
// takes seconds): go test ./host/wasm/ -run '^$' -bench BenchmarkKits
// -benchtime 1s.
func BenchmarkKits(b *testing.B) {
	ctx := context.Background()
	for _, logic := range []string{"bytes", "json"} {
		b.Run(logic, func(b *testing.B) {
			for _, h := range kitHandlers[logic] {
				b.Run(h.lang, func(b *testing.B) { benchKit(b, ctx, logic, h) })
			}
		})
	}
}

func benchKit(b *testing.B, ctx context.Context, logic string, h kitHandler) {
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
	ev := kitEvent(logic)

	b.Run("call", func(b *testing.B) {
		checkKit(b, logic, p.Call(ctx, ev))
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
		b.ReportMetric(float64(len(bin))/(1<<10), "module-KiB")
		for i := 0; i < b.N; i++ {
			in, err := newInstance(ctx, p, p.c.mod)
			if err != nil {
				b.Fatal(err)
			}
			checkKit(b, logic, in.call(ctx, ev, 1))
			mem = in.mem.Size()
			in.close()
		}
		b.ReportMetric(float64(mem)/(1<<16), "pages")
		b.ReportMetric(float64(mem)/(1<<20), "MiB/instance")
	})

	compile := func(b *testing.B, dir func() string) {
		for i := 0; i < b.N; i++ {
			r2, err := NewRuntime(ctx, RuntimeOptions{CacheDir: dir()})
			if err != nil {
				b.Fatal(err)
			}
			opts := PluginOptions{Name: "bench"}
			opts.setDefaults(r2)
			c, err := r2.compile(ctx, "bench", bin, sha256.Sum256(bin), &opts)
			if err != nil {
				b.Fatal(err)
			}
			c.mod.Close(ctx)
			r2.Close(ctx)
		}
	}
	b.Run("compile-cold", func(b *testing.B) {
		compile(b, func() string {
			b.StopTimer()
			defer b.StartTimer()
			return b.TempDir()
		})
	})
	b.Run("compile-cached", func(b *testing.B) { compile(b, func() string { return cache }) })
}
