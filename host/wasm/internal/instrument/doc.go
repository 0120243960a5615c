// Package instrument rewrites a WebAssembly binary at load time so that the
// guest code it holds can be interrupted cheaply, and caps its memory.
//
// # Why
//
// evhost runs plugin code compiled by wazero's compiler engine, in the
// goroutine that delivers the event. Machine code compiled from WebAssembly
// never reaches a Go preemption point on its own, so a guest that spins
// (WAT "loop br 0", Go "for {}", C "while (1);") does not just burn its own
// goroutine: at the next garbage collection the Go runtime waits forever for
// that goroutine to stop, and the whole process freezes.
//
// wazero's own answer, WithCloseOnContextDone, checks a flag at loop headers
// and function entries, but it needs a context per call and a goroutine
// watching it. Measured with wazero v1.12.0 on evhost's handlers it makes a
// call 12-16x slower for a Go handler and 38-47x for a trivial one, allocates
// 11-13 times per call, and still does not stop recursion without loops.
//
// This package takes the other road: once, when a module is loaded, it adds
// a counter global and a function import (the "tick"), and decrements the
// counter at every loop header and at the entry of functions that could
// otherwise recurse without passing one. When the counter runs out the guest
// calls the tick, in the caller's own goroutine, which checks the call's
// deadline and, when it has passed, stops the guest (the host closes the
// module and panics out of the call, as WASI proc_exit does); otherwise it
// returns the next amount of fuel. That costs 1.1-1.5x on the same handlers,
// allocates nothing per call, and stops every case above within a fraction
// of a millisecond.
//
// # The rewrite
//
//   - The type section gets () -> (i32), unless it already has it.
//   - The import section gets Options.TickModule.TickName of that type, after
//     the existing imports, so every defined function's index grows by one;
//     call, return_call and ref.func in code, ref.func in constant
//     expressions (global, table and element initialisers), element
//     segments' function index vectors, function exports, the start
//     function and the name section's function and local names are shifted
//     to match. The name section's label names are dropped (the rewrite adds
//     blocks) and so are DWARF sections (.debug_*), whose code offsets it
//     invalidates. Other custom sections are kept.
//   - The global section gets a mutable i32 counter set to Options.Fuel.
//   - Right after every loop header (the loop opcode and its block type) and
//     at the entry of some functions (below), the code gets a check.
//   - With Options.MaxMemoryPages set, every defined memory's maximum is
//     lowered to it (or set, if the memory had none); a memory that starts
//     larger is an error. Imported memories are left alone.
//   - With Options.MaxTableElements set, every defined table's maximum is
//     lowered (or set) so that the tables' maxima add up to at most that
//     many elements; tables whose initial sizes add up to more are an error.
//     With Options.TableElementSize as well, the tables' maxima, in whole
//     pages (rounded down), are taken off the memories' cap. Imported tables are left
//     alone.
//   - Active data segments of a defined memory at constant i32 offsets, none
//     overlapping another, are merged where at most 256 zero bytes lie
//     between them (written out, up to half the module's size and 64 KiB in
//     all), unless a data count section says instructions name segments. A
//     module built by Go has tens of thousands of segments, and each costs
//     time at every instantiation (see RATIONALE.md).
//
// The check is
//
//	global.get $c  i32.const 1  i32.sub  global.set $c
//	global.get $c  i32.const 1  i32.lt_s
//	if  call $tick  global.set $c  end
//
// which leaves the operand stack as it found it, so loops with parameters
// need nothing special. A function gets the check at entry when its body
// contains a call (call, call_indirect, call_ref or a tail call) and no loop
// header comes before its first control instruction (a branch, return, if,
// else, call, throw or try_table). Without a call a function can only run
// unboundedly by branching back to a loop header, which is checked; with a
// loop header first, as in every function the Go compiler emits, each call
// passes a check before it can call again. Together these bound the work
// between two checks by the size of the code, whatever mix of loops and
// recursion the guest uses.
//
// The output is a deterministic function of the input and the options, so
// a compilation cache keyed by the module's bytes stays warm across restarts.
// Anything the package cannot decode is an error, never a panic: the decoder
// covers the instruction set wazero v1.12 accepts (the 2.0 specification
// with SIMD, threads, tail calls, extended constants, exception handling
// with try_table, and typed function references) plus the multi-memory and
// memory64 encodings of memory arguments and limits.
//
// # Boundaries
//
// The package uses only the standard library; it must not import wazero or
// any other part of evhost: it is a pure function from bytes to bytes that
// host/wasm calls before compiling. Validation beyond what the rewrite needs
// (types of operands, index ranges other than function indices) is left to
// the runtime that compiles the result.
package instrument
