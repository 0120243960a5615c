package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/rawwasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// The per-event call: one handler call for one event, on one goroutine,
// the instance already warm. Two logics, each in every system:
//
//   - byte count: count the non-zero bytes of the event's data;
//   - JSON decode: decode the event's data into a struct of three fields.
//
// The event is ~200 bytes (its envelope is 200 bytes, its data 38 bytes of
// JSON), the event of host/wasm's BenchmarkCall.

// benchEvent is the event of host/wasm's BenchmarkCall.
func benchEvent() *event.Event {
	return &event.Event{
		ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		Time:            time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		DataContentType: "application/json",
		Data:            []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
	}
}

// benchEnvelope returns the envelope of benchEvent: the bytes a guest gets.
func benchEnvelope() []byte { return event.AppendEnvelope(nil, benchEvent()) }

// Guest limits of every wasm variant that has them: evhost's defaults.
const (
	callTimeout   = 5 * time.Second
	memoryLimit   = 64 << 20
	wasmPageBytes = 64 << 10
)

// logic is one of the two handlers.
type logic struct {
	name   string
	evhost []byte // the evhost PDK plugin
	export string // the Extism plugin's export
	native func(ev *event.Event) error
}

// sink keeps the logic's results alive: a plain int for the per-event
// call variants (one goroutine), an atomic for the handlers that run
// concurrently.
var (
	sink       int
	sharedSink atomic.Int64
)

type order struct {
	ID        int    `json:"id"`
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

// byteCount is the byte-count logic: the number of non-zero bytes of data.
func byteCount(data []byte) int {
	n := 0
	for _, b := range data {
		if b != 0 {
			n++
		}
	}
	return n
}

func nativeByteCount(ev *event.Event) error {
	sink += byteCount(ev.Data)
	return nil
}

// concurrentByteCount is the byte count for handlers that run
// concurrently.
func concurrentByteCount(ev *event.Event) error {
	sharedSink.Add(int64(byteCount(ev.Data)))
	return nil
}

func nativeJSONDecode(ev *event.Event) error {
	var o order
	if err := json.Unmarshal(ev.Data, &o); err != nil {
		return err
	}
	sink += o.Qty
	return nil
}

// logics returns the byte count, and the JSON decode when its plugin was
// built.
func logics(m *modules) []logic {
	ls := []logic{{name: "byte count", evhost: m.bytecount, export: "count", native: nativeByteCount}}
	if m.jsondecode != nil {
		ls = append(ls, logic{name: "JSON decode", evhost: m.jsondecode, export: "decode", native: nativeJSONDecode})
	}
	return ls
}

// callBench holds what the per-event call variants share; close frees it.
type callBench struct {
	rt      *wasm.Runtime
	raws    []*rawwasm.Runtime
	extisms []*extism.CompiledPlugin
	closers []func()
}

func (c *callBench) close(ctx context.Context) {
	for _, f := range c.closers {
		f()
	}
	for _, r := range c.raws {
		r.Close(ctx)
	}
	for _, e := range c.extisms {
		e.Close(ctx)
	}
	if c.rt != nil {
		c.rt.Close(ctx)
	}
}

// callVariants returns, per logic, the four per-event call variants, each
// calling for about the duration calls per round.
func callVariants(ctx context.Context, m *modules, calls time.Duration, cb *callBench) ([]*Variant, error) {
	cacheDir := filepath.Join(wasmbuild.CacheDir(), "wazero")
	rt, err := wasm.NewRuntime(ctx, wasm.RuntimeOptions{CacheDir: cacheDir, Logger: quiet})
	if err != nil {
		return nil, err
	}
	cb.rt = rt
	var vs []*Variant
	for _, l := range logics(m) {
		group := "call: " + l.name
		ev := benchEvent()

		// evhost: the plugin's pool, the call the dispatcher makes for
		// each delivery, with the default timeout and memory limit.
		p, err := rt.Load(ctx, l.evhost, wasm.PluginOptions{Name: "bench", Timeout: callTimeout, MemoryLimit: memoryLimit, MinInstances: 1, MaxInstances: 1})
		if err != nil {
			return nil, err
		}
		cb.closers = append(cb.closers, p.Close)
		if res := p.Call(ctx, ev); res.Status != wasm.Done {
			return nil, fmt.Errorf("evhost %s: %s", l.name, res.Reason)
		}
		vs = append(vs, &Variant{Group: group, Name: "evhost pool (wasm.Plugin.Call)", Unit: NsPerOp, Baseline: true,
			Run: timeCalls(calls, func() error {
				if res := p.Call(ctx, ev); res.Status != wasm.Done {
					return fmt.Errorf("status %v: %s", res.Status, res.Reason)
				}
				return nil
			})})

		// raw wazero: internal/rawwasm, the baseline of host/wasm's
		// BenchmarkCall.
		raw, err := rawwasm.New(ctx, l.evhost, cacheDir)
		if err != nil {
			return nil, err
		}
		cb.raws = append(cb.raws, raw)
		mod, err := raw.Instantiate(ctx)
		if err != nil {
			return nil, err
		}
		vs = append(vs, &Variant{Group: group, Name: "raw wazero (no pool, no limits)", Unit: NsPerOp,
			Run: timeCalls(calls, func() error {
				st, err := mod.Call(ctx, ev)
				if err == nil && st != 0 {
					err = fmt.Errorf("status %d", st)
				}
				return err
			})})

		// Extism: one instance of the compiled plugin, the same limits.
		ext, err := newExtism(ctx, m.extism, cacheDir)
		if err != nil {
			return nil, err
		}
		cb.extisms = append(cb.extisms, ext)
		inst, err := ext.Instance(ctx, extism.PluginInstanceConfig{ModuleConfig: wazero.NewModuleConfig()})
		if err != nil {
			return nil, fmt.Errorf("extism instance: %w", err)
		}
		cb.closers = append(cb.closers, func() { inst.Close(ctx) })
		var input []byte
		extCall := func() error {
			// The input is the envelope of the event, encoded per call as
			// evhost's pool does it (into a reused buffer here).
			input = event.AppendEnvelope(input[:0], ev)
			rc, _, err := inst.CallWithContext(ctx, l.export, input)
			if err == nil && rc != 0 {
				err = fmt.Errorf("rc %d", rc)
			}
			return err
		}
		if err := extCall(); err != nil {
			return nil, fmt.Errorf("extism %s: %w", l.name, err)
		}
		vs = append(vs, &Variant{Group: group, Name: "Extism go-sdk v1.7.1 (go-pdk v1.1.3)", Unit: NsPerOp, Run: timeCalls(calls, extCall)})

		// Native: a Go callback bus, the tutorial's EventBus: handlers in a
		// map by event type, called in turn by publish.
		bus := callbackBus{}
		bus.subscribe("order.placed", l.native)
		vs = append(vs, &Variant{Group: group, Name: "native Go callback bus", Unit: NsPerOp,
			Run: timeCalls(calls, func() error { return bus.publish(ev) })})
	}
	return vs, nil
}

// newExtism compiles the Extism plugin with WASI, a timeout and a memory
// limit (the manifest's, as an Extism user sets them), with the compiler
// and the same on-disk compilation cache as evhost.
func newExtism(ctx context.Context, bin []byte, cacheDir string) (*extism.CompiledPlugin, error) {
	cache, err := wazero.NewCompilationCacheWithDir(cacheDir)
	if err != nil {
		return nil, err
	}
	manifest := extism.Manifest{
		Wasm:    []extism.Wasm{extism.WasmData{Data: bin}},
		Memory:  &extism.ManifestMemory{MaxPages: memoryLimit / wasmPageBytes},
		Timeout: uint64(callTimeout.Milliseconds()),
	}
	cfg := extism.PluginConfig{EnableWasi: true, RuntimeConfig: wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache)}
	p, err := extism.NewCompiledPlugin(ctx, manifest, cfg, nil)
	if err != nil {
		return nil, fmt.Errorf("extism: %w", err)
	}
	return p, nil
}

// timeCalls returns a Run that calls f in chunks of 100 until d has
// passed (at least one chunk) and returns the time per call: every variant
// gets about the same window of the machine, however fast it is.
func timeCalls(d time.Duration, f func() error) func(context.Context) (float64, error) {
	return func(context.Context) (float64, error) {
		const chunk = 100
		n := 0
		start := time.Now()
		for {
			for range chunk {
				if err := f(); err != nil {
					return 0, err
				}
			}
			n += chunk
			if took := time.Since(start); took >= d {
				return float64(took.Nanoseconds()) / float64(n), nil
			}
		}
	}
}

// callbackBus is the simplest event bus: callbacks by event type, called
// synchronously by publish.
type callbackBus map[string][]func(*event.Event) error

func (b callbackBus) subscribe(typ string, fn func(*event.Event) error) {
	b[typ] = append(b[typ], fn)
}

func (b callbackBus) publish(ev *event.Event) error {
	for _, fn := range b[ev.Type] {
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}
