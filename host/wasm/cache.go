package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/evhost/evhost/host/wasm/internal/instrument"
)

// This file holds what makes a loaded plugin cost little while nobody
// calls it: the reaper, which closes instances idle past their plugin's
// IdleTimeout, and the budget of compiled modules in memory
// (RuntimeOptions.CompiledCache), which frees the compiled code of plugins
// that have no instance left, least recently active first. See
// RATIONALE.md, "Why does an idle plugin give back its instances and its
// compiled code?".

// A compiled module is estimated to hold compiledFactor bytes in memory
// per byte of (instrumented) wasm, its machine code, the function bodies
// and the metadata wazero keeps, plus compiledOverhead: measured from the
// process's RSS over distinct copies of the Go byte-count plugin (2.8 MB
// of wasm, 15.6 MiB compiled: 5.8 per byte) and of a 400-byte WAT module
// (30 KiB each). See RATIONALE.md.
const (
	compiledFactor   = 6
	compiledOverhead = 32 << 10
)

// compiledSize estimates the memory of a compiled module of n wasm bytes.
func compiledSize(n int) int64 { return int64(n)*compiledFactor + compiledOverhead }

// Bounds of the reaper's tick: a quarter of the shortest IdleTimeout
// among the plugins, within these.
const (
	minReapTick = 10 * time.Millisecond
	maxReapTick = time.Second
)

// sourceDir is where, under the compilation cache's directory, the
// instrumented modules are kept, named by the hash of the module they were
// made from, the rewrite's version and its options: a daemon that starts
// again reads them instead of instrumenting again, and an evicted module
// is compiled again from its file. Each file is instHeader and the
// memory's cap in pages (little-endian), then the instrumented module.
const sourceDir = "evhost-modules"

var instHeader = []byte("evhI")

// instrumented returns wasm instrumented with opt, the cap of its memory in
// pages, and the file of the cache that holds it ("" when none does): read
// from the cache unless fresh, else instrumented and written there.
func (r *Runtime) instrumented(wasm []byte, sum [32]byte, opt instrument.Options, fresh bool) ([]byte, uint32, string, error) {
	path := ""
	if r.cacheDir != "" {
		h := sha256.New()
		h.Write(sum[:])
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s\x00%d\x00%d\x00%d\x00%d", instrument.Version, opt.TickModule, opt.TickName,
			opt.Fuel, opt.MaxMemoryPages, opt.MaxTableElements, opt.TableElementSize)
		path = filepath.Join(r.cacheDir, sourceDir, hex.EncodeToString(h.Sum(nil))+".wasm")
		if !fresh {
			if inst, pages, err := readInstrumented(path); err == nil {
				return inst, pages, path, nil
			}
		}
	}
	inst, info, err := instrument.Instrument(wasm, opt)
	if err != nil || path == "" {
		return inst, info.MemoryPages, "", err
	}
	b := make([]byte, 0, len(instHeader)+4+len(inst))
	b = append(b, instHeader...)
	b = binary.LittleEndian.AppendUint32(b, info.MemoryPages)
	b = append(b, inst...)
	if err := writeFile(path, b, fresh); err != nil {
		r.logger.Warn("cannot keep the instrumented module beside the compilation cache", "err", err)
		return inst, info.MemoryPages, "", nil
	}
	return b[len(instHeader)+4:], info.MemoryPages, path, nil
}

// readInstrumented reads a file that instrumented wrote.
func readInstrumented(path string) ([]byte, uint32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	n := len(instHeader) + 4
	if len(b) <= n || !bytes.Equal(b[:len(instHeader)], instHeader) {
		return nil, 0, fmt.Errorf("wasm: %s: not an instrumented module of this cache", path)
	}
	return b[n:], binary.LittleEndian.Uint32(b[len(instHeader):]), nil
}

// writeFile writes b to path, through a temporary file renamed into
// place; unless replace, a file of the same size already there is kept
// (files are named by what they hold).
func writeFile(path string, b []byte, replace bool) error {
	if fi, err := os.Stat(path); err == nil && fi.Size() == int64(len(b)) && !replace {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// module returns the plugin's compiled module, compiling it again (from
// the on-disk compilation cache when it has the module) if it was
// evicted. The caller holds a slot of the pool (total > 0), so that the
// module is not evicted meanwhile.
func (p *Plugin) module(ctx context.Context) (wazero.CompiledModule, error) {
	p.cmu.Lock()
	if m := p.c.mod; m != nil {
		p.cmu.Unlock()
		return m, nil
	}
	src := p.c.src
	if src == nil {
		b, _, err := readInstrumented(p.c.srcFile)
		if err != nil {
			p.cmu.Unlock()
			return nil, fmt.Errorf("wasm: plugin %s: reading its evicted module: %w", p.name, err)
		}
		src = b
	}
	cm, err := p.r.rt.CompileModule(experimental.WithCompilationWorkers(ctx, p.r.workers), src)
	if err != nil {
		p.cmu.Unlock()
		return nil, fmt.Errorf("wasm: plugin %s: compiling its evicted module again: %w", p.name, err)
	}
	p.c.mod = cm
	p.compiled.Store(true)
	p.r.resident.Add(p.c.size)
	p.r.residentN.Add(1)
	p.r.recompiles.Add(1)
	p.cmu.Unlock()
	p.r.enforceBudget()
	return cm, nil
}

// freeModule closes the plugin's compiled module, if it is in memory; the
// caller makes sure no instance of it is alive or being created.
func (p *Plugin) freeModule() bool {
	p.cmu.Lock()
	defer p.cmu.Unlock()
	if p.c.mod == nil {
		return false
	}
	p.c.mod.Close(context.Background())
	p.c.mod = nil
	p.compiled.Store(false)
	p.r.resident.Add(-p.c.size)
	p.r.residentN.Add(-1)
	return true
}

// evictable reports whether the plugin's compiled module may be evicted
// at all: a reactor whose source is kept.
func (p *Plugin) evictable() bool {
	return p.pool != nil && (p.c.src != nil || p.c.srcFile != "")
}

// enforceBudget evicts compiled modules, least recently active first,
// among the plugins with no instance, until the modules in memory fit
// the budget (or nothing more may be evicted).
func (r *Runtime) enforceBudget() {
	if r.budget <= 0 || r.resident.Load() <= r.budget {
		return
	}
	r.evictMu.Lock()
	defer r.evictMu.Unlock()
	if r.resident.Load() <= r.budget {
		return
	}
	type cand struct {
		p    *Plugin
		last int64
	}
	var cs []cand
	for _, p := range r.snapshot() {
		if p.evictable() {
			if last, ok := p.pool.vacant(); ok {
				cs = append(cs, cand{p, last})
			}
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		switch {
		case a.last < b.last:
			return -1
		case a.last > b.last:
			return 1
		}
		return 0
	})
	for _, c := range cs {
		if r.resident.Load() <= r.budget {
			return
		}
		if c.p.pool.evict() {
			c.p.evictions.Add(1)
			r.evictions.Add(1)
		}
	}
}

// snapshot returns the plugins loaded and not yet done.
func (r *Runtime) snapshot() []*Plugin {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		out = append(out, p)
	}
	return out
}

// reapLoop runs the reaper until the runtime closes.
func (r *Runtime) reapLoop() {
	defer close(r.reapDone)
	t := time.NewTimer(maxReapTick)
	defer t.Stop()
	for {
		select {
		case <-r.reapStop:
			return
		case <-t.C:
		}
		t.Reset(r.reap(nanotime()))
	}
}

// reap is one tick of the reaper at clock reading now: it refreshes the
// coarse clock, closes instances idle for long enough, evicts what no
// longer fits the budget, and returns the time to the next tick.
func (r *Runtime) reap(now int64) time.Duration {
	r.coarse.Store(now)
	tick := maxReapTick
	closed := 0
	for _, p := range r.snapshot() {
		if p.pool == nil || p.opts.IdleTimeout <= 0 {
			continue
		}
		tick = min(tick, p.opts.IdleTimeout/4)
		closed += p.pool.reap(now)
	}
	if closed > 0 {
		r.enforceBudget()
	}
	return max(tick, minReapTick)
}

// RuntimeStats are the counters of a runtime: its compiled modules and
// what the reaper and the budget did.
type RuntimeStats struct {
	// CompiledModules and CompiledBytes are the compiled modules in
	// memory and their estimated bytes; CompiledBudget is the bound (0:
	// none).
	CompiledModules int   `json:"compiled_modules"`
	CompiledBytes   int64 `json:"compiled_bytes"`
	CompiledBudget  int64 `json:"compiled_budget"`
	// Evictions counts compiled modules freed to fit the budget;
	// Recompiles, evicted modules compiled again for a call.
	Evictions  uint64 `json:"evictions"`
	Recompiles uint64 `json:"recompiles"`
	// IdleCloses counts instances closed after their idle timeout.
	IdleCloses uint64 `json:"idle_closes"`
	// ReservedBytes is the cleared linear memory that closed instances
	// left for new ones, at most ReserveBudget ([host] memory_reserve; 0
	// keeps none).
	ReservedBytes int64 `json:"reserved_bytes"`
	ReserveBudget int64 `json:"reserve_budget"`
}

// Stats returns the runtime's counters.
func (r *Runtime) Stats() RuntimeStats {
	return RuntimeStats{
		CompiledModules: int(r.residentN.Load()),
		CompiledBytes:   r.resident.Load(),
		CompiledBudget:  r.budget,
		Evictions:       r.evictions.Load(),
		Recompiles:      r.recompiles.Load(),
		IdleCloses:      r.idleCloses.Load(),
		ReservedBytes:   r.mem.held(),
		ReserveBudget:   r.mem.budgetBytes(),
	}
}
