// Package wasm runs evhost handler plugins: WebAssembly modules that follow
// the plugin ABI v1 (plugins/ABI.md). It is the only package of evhost that
// touches wazero; nothing it exports exposes a wazero type.
//
// A [Runtime] owns one wazero runtime with the compiler engine, an on-disk
// compilation cache, and the host modules every plugin may import (`evhost`
// and a deny-by-default WASI). [Runtime.Load] compiles and checks one
// version of a plugin and returns a [Plugin]: for a reactor module, a pool
// of pre-initialised instances that serve one call at a time each; for a
// command module (WASI `_start`), a fresh instance per event.
//
// # Limits
//
// Every call has a timeout that really stops guest code, a memory limit
// (tables included), and caps on emits, emitted bytes, log volume and event
// depth. Guest code is made
// interruptible at load time (see internal/instrument and RATIONALE.md):
// a counter decremented at every loop header and at the entry of loop-free
// functions calls back into the host every few thousand steps, and the host
// checks the call's deadline there, on the caller's own goroutine. A
// timeout, a trap or an exceeded limit fails that call only, and the
// instance it ran on is discarded.
//
// # Idle plugins
//
// A loaded plugin costs little while nobody calls it: one reaper per
// runtime closes instances idle past their plugin's IdleTimeout (down to
// MinInstances, which may be 0), and with RuntimeOptions.CompiledCache the
// compiled modules of plugins with no instance are freed, least recently
// active first, once the modules in memory pass that budget; the next call
// instantiates, or compiles again from the on-disk cache, what it needs
// (cache.go; RATIONALE.md). The linear memory of a closed instance is
// cleared and kept, up to RuntimeOptions.MemoryReserve, for the next
// instance of any plugin (memreuse.go), so that instantiating after an
// idle spell does not fault fresh pages in.
//
// # Concurrency
//
// Runtime and Plugin are safe for concurrent use. An instance serves one
// call at a time; the pool hands instances out and takes them back.
package wasm
