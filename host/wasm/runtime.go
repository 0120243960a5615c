package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/evhost/evhost/host/wasm/internal/instrument"
)

// Names of the import modules.
const (
	// HostModule is the import module of the evhost host functions.
	HostModule = "evhost"
	// WASIModule is the import module of WASI preview 1.
	WASIModule = "wasi_snapshot_preview1"

	tickModule = "evhost_internal" // added by instrumentation, never by plugins
	tickName   = "tick"

	// ABIVersion is the plugin ABI version this host implements.
	ABIVersion = 1

	pageSize = 65536
)

// fuel is the number of loop iterations and function entries between two
// deadline checks. At a few nanoseconds per step this is tens of
// microseconds: a timeout overshoots by about that much, and the tick's
// cost disappears in the noise.
const fuel = 10000

// RuntimeOptions configures a Runtime.
type RuntimeOptions struct {
	// CacheDir is the directory of the on-disk compilation cache. Empty
	// keeps compiled code in memory only.
	CacheDir string
	// CompilationWorkers is the number of goroutines that compile one
	// module. Zero means runtime.NumCPU().
	CompilationWorkers int
	// Logger receives the runtime's own log lines and, by default, the
	// plugins' log lines. Nil means slog.Default().
	Logger *slog.Logger
	// CompiledCache bounds the bytes of compiled reactor modules kept in
	// memory (as estimated by compiledSize); past it, the least recently
	// active modules whose plugin has no live instance are freed, and
	// compiled again (from the on-disk cache) by their next call. Zero
	// means no bound.
	CompiledCache int64
	// MemoryReserve bounds the bytes of linear memory that closed
	// instances leave, zeroed, for new instances of any plugin to reuse
	// (see RATIONALE.md, "Why recycle linear memory?"); zero keeps none.
	// The daemon sets it from [host] memory_reserve.
	MemoryReserve int64

	// manualReap, set by internal tests, starts no reaper goroutine: the
	// test calls reap with the clock readings it chooses.
	manualReap bool
}

// Runtime compiles and runs plugins. It is safe for concurrent use; Close
// it when done, after the plugins loaded from it.
type Runtime struct {
	rt      wazero.Runtime
	cache   wazero.CompilationCache
	workers int
	logger  *slog.Logger
	wasiFns map[string]api.FunctionDefinition
	mem     *memReserve // nil: linear memory from the Go heap, not recycled

	mu      sync.Mutex
	closed  bool
	plugins map[*Plugin]struct{} // loaded and not yet done

	// coarse is a clock reading (nanotime) refreshed by the reaper at each
	// tick: what a released instance records as its idle start, so that a
	// call reads no clock for it.
	coarse   atomic.Int64
	reapStop chan struct{}
	reapDone chan struct{}

	// The compiled modules in memory, against CompiledCache.
	cacheDir   string
	budget     int64
	evictMu    sync.Mutex // one eviction pass at a time
	resident   atomic.Int64
	residentN  atomic.Int64
	evictions  atomic.Uint64
	recompiles atomic.Uint64
	idleCloses atomic.Uint64
}

// NewRuntime creates a runtime with the compiler engine, the compilation
// cache, and the evhost and WASI host modules.
func NewRuntime(ctx context.Context, opts RuntimeOptions) (*Runtime, error) {
	r := &Runtime{workers: opts.CompilationWorkers, logger: opts.Logger, plugins: map[*Plugin]struct{}{},
		cacheDir: opts.CacheDir, budget: max(0, opts.CompiledCache)}
	r.coarse.Store(nanotime())
	if opts.MemoryReserve > 0 {
		r.mem = &memReserve{budget: opts.MemoryReserve}
	}
	if r.workers <= 0 {
		r.workers = runtime.NumCPU()
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(false). // deadlines are enforced by the tick
		WithCoreFeatures(api.CoreFeaturesV2)
	if opts.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm: compilation cache %s: %w", opts.CacheDir, err)
		}
		r.cache = cache
		cfg = cfg.WithCompilationCache(cache)
	}
	r.rt = wazero.NewRuntimeWithConfig(ctx, cfg)

	wb := r.rt.NewHostModuleBuilder(WASIModule)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wb)
	wasi, err := wb.Compile(ctx)
	if err == nil {
		r.wasiFns = wasi.ExportedFunctions()
		_, err = r.rt.InstantiateModule(ctx, wasi, wazero.NewModuleConfig())
	}
	if err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiating WASI: %w", err)
	}
	if err := instantiateHost(ctx, r.rt); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiating host functions: %w", err)
	}
	if err := instantiateTick(ctx, r.rt); err != nil {
		r.Close(ctx)
		return nil, fmt.Errorf("wasm: instantiating tick: %w", err)
	}
	if !opts.manualReap {
		r.reapStop, r.reapDone = make(chan struct{}), make(chan struct{})
		go r.reapLoop()
	}
	return r, nil
}

// Close closes every plugin loaded from the runtime, waits until their
// calls in flight have returned (or ctx ends), then releases the runtime
// and everything compiled or instantiated in it.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	if r.reapStop != nil {
		close(r.reapStop)
	}
	plugins := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		plugins = append(plugins, p)
	}
	r.mu.Unlock()
	for _, p := range plugins {
		p.Close()
	}
	for _, p := range plugins {
		select {
		case <-p.Done():
		case <-ctx.Done():
		}
	}
	if r.reapDone != nil {
		<-r.reapDone
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	if r.rt != nil {
		err = r.rt.Close(ctx)
	}
	if r.cache != nil {
		if cerr := r.cache.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}

func (r *Runtime) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// track registers a loaded plugin until it is done.
func (r *Runtime) track(p *Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.plugins[p] = struct{}{}
	return nil
}

func (r *Runtime) untrack(p *Plugin) {
	r.mu.Lock()
	delete(r.plugins, p)
	r.mu.Unlock()
}

// Kind says how a plugin module is run.
type Kind int

// Kinds of plugin module (ABI v1, section 1).
const (
	// Reactor modules export evhost_abi_version, evhost_alloc and
	// evhost_handle and are pooled.
	Reactor Kind = iota + 1
	// Command modules export WASI _start and run once per event.
	Command
)

func (k Kind) String() string {
	switch k {
	case Reactor:
		return "reactor"
	case Command:
		return "command"
	}
	return "unknown"
}

// Hash returns the content hash that identifies a plugin version: the hex
// sha256 of its module bytes.
func Hash(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return hex.EncodeToString(sum[:])
}

// compiled is the result of compiling and checking one module.
type compiled struct {
	// mod is nil while the module is evicted (see cache.go): guarded by the
	// plugin's cmu, and changed only while its pool has no instance.
	mod      wazero.CompiledModule
	size     int64  // estimated bytes in memory while compiled
	src      []byte // the instrumented module, kept when there is no srcFile
	srcFile  string // the instrumented module, on disk
	kind     Kind
	init     bool   // exports _initialize
	memPages uint32 // the cap of its memory, after its tables' share
}

// tableElementSize is what one table element costs the host: wazero keeps
// a table as a slice of pointer-sized references.
const tableElementSize = 8

// tableShare is the part of a plugin's memory limit its tables may take
// together (1/tableShare), at tableElementSize bytes an element.
const tableShare = 8

// budget splits a plugin's memory limit: the pages its memory may grow to
// (before its tables are charged to them) and the elements its tables may
// hold together. See RATIONALE.md, "Why are tables charged to the memory
// limit?".
func budget(limit uint64) (pages, tableElems uint32) {
	pages64 := (limit + pageSize - 1) / pageSize
	elems := pages64 * pageSize / tableElementSize / tableShare
	return uint32(min(pages64, 1<<16)), uint32(min(elems, 1<<32-1))
}

var (
	sigVoid     = sig{}
	sigI32      = sig{results: []api.ValueType{api.ValueTypeI32}}
	sigAlloc    = sig{params: []api.ValueType{api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}}
	sigHandle   = sig{params: []api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, results: []api.ValueType{api.ValueTypeI32}}
	reactorExps = []string{"evhost_abi_version", "evhost_alloc", "evhost_handle"}
)

type sig struct{ params, results []api.ValueType }

func (s sig) String() string {
	return fmt.Sprintf("(%s) -> (%s)", types(s.params), types(s.results))
}

func types(ts []api.ValueType) string {
	out := ""
	for i, t := range ts {
		if i > 0 {
			out += ", "
		}
		out += api.ValueTypeName(t)
	}
	return out
}

func sigOf(d api.FunctionDefinition) sig {
	return sig{params: d.ParamTypes(), results: d.ResultTypes()}
}

func (s sig) equal(o sig) bool {
	if len(s.params) != len(o.params) || len(s.results) != len(o.results) {
		return false
	}
	for i := range s.params {
		if s.params[i] != o.params[i] {
			return false
		}
	}
	for i := range s.results {
		if s.results[i] != o.results[i] {
			return false
		}
	}
	return true
}

// compile instruments, compiles and checks a module's exports and imports;
// sum is the sha256 of wasm.
func (r *Runtime) compile(ctx context.Context, name string, wasm []byte, sum [32]byte, opts *PluginOptions) (*compiled, error) {
	if r.isClosed() {
		return nil, ErrClosed
	}
	pages, elems := budget(opts.MemoryLimit)
	iopt := instrument.Options{
		TickModule:       tickModule,
		TickName:         tickName,
		Fuel:             fuel,
		MaxMemoryPages:   pages,
		MaxTableElements: elems,
		TableElementSize: tableElementSize,
	}
	inst, memPages, file, err := r.instrumented(wasm, sum, iopt, false)
	if errors.Is(err, instrument.ErrLimit) {
		return nil, refuse(name, err, "module does not fit its memory limit of %d bytes (tables: at most %d elements of %d bytes, charged to it)",
			opts.MemoryLimit, elems, tableElementSize)
	}
	if err != nil {
		return nil, refuse(name, err, "cannot prepare module")
	}
	cm, err := r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, r.workers), inst)
	if err != nil && file != "" {
		// A damaged file of the cache: instrument again, and replace it.
		r.logger.Warn("instrumenting the module again: its cached form does not compile", "plugin", name, "file", file, "err", err)
		if inst, memPages, file, err = r.instrumented(wasm, sum, iopt, true); err == nil {
			cm, err = r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, r.workers), inst)
		}
	}
	if err != nil {
		return nil, refuse(name, err, "cannot compile module")
	}
	c := &compiled{mod: cm, memPages: memPages, size: compiledSize(len(inst)), srcFile: file}
	if err := r.check(name, c, opts); err != nil {
		cm.Close(ctx)
		return nil, err
	}
	if c.kind == Reactor && r.budget > 0 && file == "" {
		c.src = inst // kept to compile it again after an eviction
	}
	return c, nil
}

// check applies the load-time rules of ABI v1: the kind of module, export
// signatures, and that every import is offered and granted.
func (r *Runtime) check(name string, c *compiled, opts *PluginOptions) error {
	exps := c.mod.ExportedFunctions()
	_, hasStart := exps["_start"]
	_, c.init = exps["_initialize"]
	var have, missing []string
	for _, e := range reactorExps {
		if _, ok := exps[e]; ok {
			have = append(have, e)
		} else {
			missing = append(missing, e)
		}
	}
	switch {
	case len(have) > 0 && hasStart:
		return refuse(name, nil, "module exports both _start and the evhost exports; build it as a reactor (Go: -buildmode=c-shared; C: -mexec-model=reactor)")
	case len(have) > 0 && len(missing) > 0:
		return refuse(name, nil, "module is missing export(s) %v", missing)
	case len(have) == 0 && !hasStart:
		return refuse(name, nil, "module is neither a reactor (missing exports %v) nor a command (missing export _start)", missing)
	case hasStart:
		c.kind = Command
		if s := sigOf(exps["_start"]); !s.equal(sigVoid) {
			return refuse(name, nil, "export _start has signature %s, want ()", s)
		}
	default:
		c.kind = Reactor
		for e, want := range map[string]sig{"evhost_abi_version": sigI32, "evhost_alloc": sigAlloc, "evhost_handle": sigHandle} {
			if got := sigOf(exps[e]); !got.equal(want) {
				return refuse(name, nil, "export %s has signature %s, want %s", e, got, want)
			}
		}
		if c.init {
			if s := sigOf(exps["_initialize"]); !s.equal(sigVoid) {
				return refuse(name, nil, "export _initialize has signature %s, want ()", s)
			}
		}
	}
	if len(c.mod.ExportedMemories()) == 0 {
		return refuse(name, nil, "module exports no memory")
	}
	for _, m := range c.mod.ImportedMemories() {
		mod, n, _ := m.Import()
		return refuse(name, nil, "module imports memory %s.%s: not offered (a plugin owns its memory)", mod, n)
	}
	imps := c.mod.ImportedFunctions()
	for i, d := range imps {
		mod, n, _ := d.Import()
		if i == len(imps)-1 && mod == tickModule && n == tickName {
			continue // added by instrument
		}
		switch mod {
		case HostModule:
			want, ok := hostSigs[n]
			if !ok {
				return refuse(name, nil, "module imports %s.%s: not offered by this host (ABI v%d)", mod, n, ABIVersion)
			}
			if c.kind == Command {
				return refuse(name, nil, "command module imports %s.%s: command modules import only WASI", mod, n)
			}
			if grant := hostGrant[n]; grant != "" && !opts.granted(grant) {
				return refuse(name, nil, "module imports %s.%s: not granted (%s)", mod, n, grantHint[grant])
			}
			if got := sigOf(d); !got.equal(want) {
				return refuse(name, nil, "module imports %s.%s with signature %s, want %s", mod, n, got, want)
			}
		case WASIModule:
			def, ok := r.wasiFns[n]
			if !ok {
				return refuse(name, nil, "module imports %s.%s: not offered by this host", mod, n)
			}
			if got := sigOf(d); !got.equal(sigOf(def)) {
				return refuse(name, nil, "module imports %s.%s with signature %s, want %s", mod, n, got, sigOf(def))
			}
		default:
			return refuse(name, nil, "module imports %s.%s: module %q is not offered (only %q and %q)", mod, n, mod, HostModule, WASIModule)
		}
	}
	return nil
}

var grantHint = map[string]string{
	"kv":   "grant it with kv = true in the plugin's config",
	"http": "grant it with allowed_hosts in the plugin's config",
}

// instanceContext returns the context an instance of in is instantiated
// and called with: it carries in to the host functions, and the runtime's
// memory reserve to wazero.
func (r *Runtime) instanceContext(in *instance) context.Context {
	ctx := context.WithValue(context.Background(), instKey{}, in)
	if r.mem != nil {
		ctx = experimental.WithMemoryAllocator(ctx, r.mem)
	}
	return ctx
}
