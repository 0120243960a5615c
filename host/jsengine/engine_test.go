package jsengine_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// The engine's own behaviour, through evhost's runtime (the conformance
// suite of internal/conformance covers the evhost object): the event
// object, the outcomes of each kind of exception, the source compiled once
// per instance, promise jobs, and a handler that recurses, allocates or
// loops without end.

var (
	rtOnce sync.Once
	rt     *wasm.Runtime
	rtErr  error
)

func runtime(t *testing.T) *wasm.Runtime {
	t.Helper()
	rtOnce.Do(func() {
		rt, rtErr = wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{
			CacheDir: filepath.Join(wasmbuild.CacheDir(), "wazero"), Logger: slog.New(slog.DiscardHandler)})
	})
	if rtErr != nil {
		t.Fatal(rtErr)
	}
	return rt
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Enabled(context.Context, slog.Level) bool { return true }
func (l *logs) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.lines = append(l.lines, r.Level.String()+": "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logs) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logs) WithGroup(string) slog.Handler      { return l }
func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// load loads the engine of v with src as the handler's source.
func load(t *testing.T, v jsengine.Variant, src string, opts wasm.PluginOptions) (*wasm.Plugin, *logs) {
	t.Helper()
	bin := wasmbuild.JSEngine(t, filepath.Join("..", ".."), v)
	l := &logs{}
	opts.Name = "js"
	opts.Config = map[string]string{"source": src}
	opts.Logger = slog.New(l)
	opts.MaxInstances = 1
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if v.KV {
		opts.KV = kv.NewMemory(1 << 20)
	}
	p, err := runtime(t).Load(context.Background(), bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, l
}

var seq int

func ev(typ, ct, data string) *event.Event {
	seq++
	e := &event.Event{ID: fmt.Sprintf("ev-%d", seq), Source: "/test", Type: typ, SpecVersion: "1.0",
		Time: time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC), DataContentType: ct}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

func TestEngine(t *testing.T) {
	const order = `function handle(event) {
		const o = event.data;
		evhost.log.info("order " + o.id + " for " + o.product);
		evhost.emit("order.seen", {id: o.id, product: o.product}, {subject: "order/" + o.id});
	}`
	p, l := load(t, jsengine.Variant{}, order, wasm.PluginOptions{})
	res := p.Call(context.Background(), ev("order.placed", "application/json", `{"id":42,"product":"sku-1","qty":3}`))
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	if string(e.Data) != `{"id":42,"product":"sku-1"}` || e.DataContentType != "application/json" || e.Subject != "order/42" {
		t.Errorf("emitted %+v data %s", e, e.Data)
	}
	if !strings.Contains(l.all(), "INFO: order 42 for sku-1") {
		t.Errorf("logs %s", l.all())
	}

	// Data that is not JSON arrives as a string; the bundle form works; the
	// event object has the attributes given, in a fixed order.
	bundle := `var evhostHandler = (() => ({ handle(e) {
		evhost.emit("len", String(e.data.length), {extensions: {keys: Object.keys(e).join(","), ext: JSON.stringify(e.extensions)}});
	} }))();`
	p, _ = load(t, jsengine.Variant{}, bundle, wasm.PluginOptions{})
	in := ev("t", "", "hello")
	in.Subject = "s/1"
	in.SetExt("tenant", "acme")
	res = p.Call(context.Background(), in)
	if res.Status != wasm.Done || string(res.Emits[0].Data) != "5" {
		t.Fatalf("%+v", res)
	}
	if k, _ := res.Emits[0].Ext("keys"); k != "id,source,type,specversion,subject,time,data,extensions" {
		t.Errorf("event keys %q", k)
	}
	if x, _ := res.Emits[0].Ext("ext"); x != `{"tenant":"acme"}` {
		t.Errorf("extensions %s", x)
	}

	for _, c := range []struct {
		src    string
		status wasm.Status
		reason string
	}{
		{`function handle() { throw evhost.reject("bad") }`, wasm.Reject, "bad"},
		{`function handle() { throw evhost.retry("later") }`, wasm.Retry, "later"},
		{`function handle() { null.x }`, wasm.Retry, "TypeError"},
		{`function handle() { throw "a string" }`, wasm.Retry, "a string"},
		{`function handle( {`, wasm.Retry, "js engine: compile: SyntaxError"},
		{`throw new Error("top")`, wasm.Retry, "js engine: running the handler's top level: Error: top"},
		{`var x = 1`, wasm.Retry, "defines no function handle"},
		{`const handle = (e) => evhost.emit("c")`, wasm.Done, ""},
		{`function handle(e) { JSON.stringify(e.data) }`, wasm.Done, ""},
		{`function handle() { (function f() { f() })() }`, wasm.Retry, "stack overflow"},
		{`function handle() { const a = []; for (;;) a.push(new Array(1e5).fill(1.5)) }`, wasm.Retry, "out of memory"},
		{`async function handle() { await null; evhost.emit("async") }`, wasm.Done, ""},
		{`async function handle() { await null; throw evhost.reject("later, bad") }`, wasm.Reject, "later, bad"},
		{`async function handle() { await null; null.x }`, wasm.Retry, "TypeError"},
	} {
		p, _ := load(t, jsengine.Variant{}, c.src, wasm.PluginOptions{MemoryLimit: 32 << 20})
		res := p.Call(context.Background(), ev("t", "", ""))
		if res.Status != c.status || !strings.Contains(res.Reason, c.reason) {
			t.Errorf("%s: status %v reason %q, want %v %q", c.src, res.Status, res.Reason, c.status, c.reason)
		}
		// The instance keeps serving after a handler's exception.
		if c.status != wasm.Done && !strings.Contains(c.reason, "js engine") {
			before := p.Stats().Discards
			res := p.Call(context.Background(), ev("t", "", ""))
			if res.Status != c.status || p.Stats().Discards != before {
				t.Errorf("%s: the second call: %+v, %d discards", c.src, res, p.Stats().Discards-before)
			}
		}
		if strings.Contains(c.src, `emit("async")`) && (len(res.Emits) != 1 || res.Emits[0].Type != "async") {
			t.Errorf("the async handler's emit: %+v", res.Emits)
		}
	}

	// Invalid JSON data under a JSON content type is rejected.
	p, _ = load(t, jsengine.Variant{}, `function handle() {}`, wasm.PluginOptions{})
	res = p.Call(context.Background(), ev("t", "application/cloudevents+json; charset=utf-8", "{"))
	if res.Status != wasm.Reject || !strings.Contains(res.Reason, "the event's data is not JSON: SyntaxError") {
		t.Errorf("%+v", res)
	}
}

// The source is compiled once per instance: top-level state persists.
func TestCompiledOnce(t *testing.T) {
	p, _ := load(t, jsengine.Variant{}, `let n = 0; function handle() { evhost.emit("n", String(++n)) }`, wasm.PluginOptions{})
	for _, want := range []string{"1", "2", "3"} {
		res := p.Call(context.Background(), ev("t", "", ""))
		if res.Status != wasm.Done || string(res.Emits[0].Data) != want {
			t.Fatalf("%+v, want %s", res, want)
		}
	}
}

// A variant without KV or HTTP does not import them, and its functions
// throw EvhostError -3; a handler that never returns is stopped by the
// call's timeout, and the next call gets a new instance.
func TestRefusedAndTimeout(t *testing.T) {
	src := `function handle(e) {
		if (e.type === "loop") for (;;) {}
		const codes = [];
		for (const f of [() => evhost.kv.get("k"), () => evhost.kv.set("k", "v"), () => evhost.http({url: "http://x/"})]) {
			try { f(); codes.push("none") } catch (err) { codes.push(err instanceof evhost.EvhostError ? err.code : String(err)) }
		}
		evhost.emit("codes", codes.join(","));
	}`
	p, _ := load(t, jsengine.Variant{}, src, wasm.PluginOptions{Timeout: time.Second})
	res := p.Call(context.Background(), ev("t", "", ""))
	if res.Status != wasm.Done || string(res.Emits[0].Data) != "-3,-3,-3" {
		t.Fatalf("%+v", res)
	}
	res = p.Call(context.Background(), ev("loop", "", ""))
	if res.Status != wasm.Retry || p.Stats().Discards != 1 {
		t.Fatalf("an endless loop: %+v, %d discards", res, p.Stats().Discards)
	}
	res = p.Call(context.Background(), ev("t", "", ""))
	if res.Status != wasm.Done {
		t.Fatalf("after the timeout: %+v", res)
	}
}

// emit sends a string, a Uint8Array or an ArrayBuffer as it is and any
// other value as JSON, with the content type application/json unless the
// options give one.
func TestEmitData(t *testing.T) {
	src := `function handle(e) {
		evhost.emit("u8", new Uint8Array([104, 105]));
		evhost.emit("ab", new Uint8Array([104, 105]).buffer);
		evhost.emit("str", "hi", {datacontenttype: "text/plain"});
		evhost.emit("obj", {a: 1});
		evhost.emit("i32", new Int32Array([1]));
		evhost.emit("ct", {a: 1}, {datacontenttype: "application/vnd.x+json"});
		evhost.emit("none");
	}`
	p, _ := load(t, jsengine.Variant{}, src, wasm.PluginOptions{})
	res := p.Call(context.Background(), ev("t", "", ""))
	if res.Status != wasm.Done || len(res.Emits) != 7 {
		t.Fatalf("%+v", res)
	}
	want := []string{"u8 hi ", "ab hi ", "str hi text/plain", `obj {"a":1} application/json`,
		`i32 {"0":1} application/json`, `ct {"a":1} application/vnd.x+json`, "none  "}
	for i, e := range res.Emits {
		if got := e.Type + " " + string(e.Data) + " " + e.DataContentType; got != want[i] {
			t.Errorf("emit %d: %q, want %q", i, got, want[i])
		}
	}
}

// A warm instance does not grow: 10,000 events through the json handler
// of host/wasm's BenchmarkKits, with an extension, an emit with options
// and a caught exception each, fit in a 2 MiB memory limit (an instance
// takes 1.25 MiB after its first event), on one instance. (A handler that
// keeps 200 bytes per event fails here after about 3,200 events.)
func TestNoGrowth(t *testing.T) {
	src := `function handle(event) {
		const o = event.data;
		try { null.x } catch (e) {}
		evhost.emit("order.seen", {id: o.id, product: o.product_id}, {subject: "s", extensions: {tenant: event.extensions.tenant}});
	}`
	p, _ := load(t, jsengine.Variant{}, src, wasm.PluginOptions{MemoryLimit: 2 << 20})
	e := ev("order.placed", "application/json", `{"id":42,"product_id":"sku-1","qty":2}`)
	e.SetExt("tenant", "acme")
	for i := 0; i < 10000; i++ {
		res := p.Call(context.Background(), e)
		if res.Status != wasm.Done || len(res.Emits) != 1 {
			t.Fatalf("call %d: %+v", i, res)
		}
	}
	if d := p.Stats().Discards; d != 0 {
		t.Errorf("%d instances discarded", d)
	}
}
