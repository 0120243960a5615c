// Package rawwasm is the baseline evhost's benchmarks measure against: a
// plugin module instantiated once with plain wazero, its exports looked up
// once, and each event written with evhost_alloc + the envelope write +
// evhost_handle through CallWithStack: no pool, no limits, no interrupt
// mechanism. The host functions it imports are no-ops.
package rawwasm

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/evhost/evhost/host/event"
)

// Runtime holds the wazero runtime that raw modules are instantiated in.
type Runtime struct {
	rt    wazero.Runtime
	cache wazero.CompilationCache
	cm    wazero.CompiledModule
}

// New compiles bin (with the compilation cache in cacheDir, if not empty).
func New(ctx context.Context, bin []byte, cacheDir string) (*Runtime, error) {
	cfg := wazero.NewRuntimeConfigCompiler()
	r := &Runtime{}
	if cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cacheDir)
		if err != nil {
			return nil, err
		}
		r.cache = c
		cfg = cfg.WithCompilationCache(c)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	wasi_snapshot_preview1.MustInstantiate(ctx, r.rt)
	hb := r.rt.NewHostModuleBuilder("evhost")
	noop := func(name string, params, results []api.ValueType) {
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) {}), params, results).Export(name)
	}
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	noop("log", []api.ValueType{i32, i32, i32}, nil)
	noop("emit", []api.ValueType{i32, i32}, []api.ValueType{i32})
	noop("fail", []api.ValueType{i32, i32}, nil)
	noop("config_get", []api.ValueType{i32, i32}, []api.ValueType{i64})
	if _, err := hb.Instantiate(ctx); err != nil {
		r.Close(ctx)
		return nil, err
	}
	cm, err := r.rt.CompileModule(ctx, bin)
	if err != nil {
		r.Close(ctx)
		return nil, err
	}
	r.cm = cm
	return r, nil
}

// Close frees the runtime.
func (r *Runtime) Close(ctx context.Context) {
	r.rt.Close(ctx)
	if r.cache != nil {
		r.cache.Close(ctx)
	}
}

// Module is one raw instance. It is not safe for concurrent use.
type Module struct {
	mem           api.Memory
	alloc, handle api.Function
	stack         [2]uint64
}

// Instantiate creates and initialises one instance.
func (r *Runtime) Instantiate(ctx context.Context) (*Module, error) {
	mod, err := r.rt.InstantiateModule(ctx, r.cm, wazero.NewModuleConfig().WithStartFunctions().WithName(""))
	if err != nil {
		return nil, err
	}
	if f := mod.ExportedFunction("_initialize"); f != nil {
		if _, err := f.Call(ctx); err != nil {
			return nil, err
		}
	}
	return &Module{mem: mod.ExportedMemory("memory"),
		alloc: mod.ExportedFunction("evhost_alloc"), handle: mod.ExportedFunction("evhost_handle")}, nil
}

// Call runs the module on ev and returns the status.
func (m *Module) Call(ctx context.Context, ev *event.Event) (uint32, error) {
	size := event.EnvelopeSize(ev)
	m.stack[0] = uint64(size)
	if err := m.alloc.CallWithStack(ctx, m.stack[:1]); err != nil {
		return 0, err
	}
	ptr := uint32(m.stack[0])
	buf, ok := m.mem.Read(ptr, uint32(size))
	if !ok {
		return 0, fmt.Errorf("rawwasm: evhost_alloc returned %#x", ptr)
	}
	event.AppendEnvelope(buf[:0], ev)
	m.stack[0], m.stack[1] = uint64(ptr), uint64(size)
	if err := m.handle.CallWithStack(ctx, m.stack[:]); err != nil {
		return 0, err
	}
	return uint32(m.stack[0]), nil
}
