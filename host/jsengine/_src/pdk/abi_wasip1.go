//go:build wasip1

package pdk

// The WebAssembly side of ABI v1: the exports the host calls and the core
// host functions. kv_* and http_request are declared in kv_wasip1.go and
// http_wasip1.go; the Go linker keeps a //go:wasmimport function, and so the
// import, only when something that the plugin calls reaches it.

import (
	"runtime"
	"runtime/debug"
	"unsafe"
)

//go:wasmimport evhost log
func wasmLog(level int32, ptr unsafe.Pointer, n uint32)

//go:wasmimport evhost emit
func wasmEmit(ptr unsafe.Pointer, n uint32) int32

//go:wasmimport evhost fail
func wasmFail(ptr unsafe.Pointer, n uint32)

//go:wasmimport evhost config_get
func wasmConfigGet(ptr unsafe.Pointer, n uint32) int64

// Memory handed to the host by evhost_alloc.
var (
	// eventBuf is the block for the next event: reused, grown on demand.
	eventBuf []byte
	// blocks are the result blocks handed out during the current
	// evhost_handle call (or during a host call outside one, such as
	// config_get in an init function), referenced here so that the GC keeps
	// them; the references are dropped when evhost_handle returns.
	blocks [][]byte
	// handling is true during evhost_handle, inHostCall during a host
	// function that returns a block.
	handling, inHostCall bool
)

// maxAlloc is the largest block evhost_alloc hands out; larger requests get
// 0 (out of memory) instead of a runtime crash.
const maxAlloc = 1<<31 - 1

//go:wasmexport evhost_abi_version
func evhostABIVersion() int32 { return ABIVersion }

// evhostAlloc implements evhost_alloc. Between calls it returns the reused
// event buffer, grown as needed. During evhost_handle, or during a host
// function called outside it, it returns a fresh block that stays referenced
// until the current (or next) evhost_handle returns: these are result blocks
// for config_get, kv_get and http_request, and the event buffer, which the
// current event's Data aliases, must not be handed out again.
//
//go:wasmexport evhost_alloc
func evhostAlloc(size uint32) uint32 {
	if size > maxAlloc {
		return 0
	}
	n := max(int(size), 1)
	if handling || inHostCall {
		b := make([]byte, n)
		blocks = append(blocks, b)
		return addr(b)
	}
	if cap(eventBuf)-envelopePadding < n { // the decoder reads ahead
		eventBuf = make([]byte, n, max(n+envelopePadding, cap(eventBuf)+cap(eventBuf)/4, 4096))
	}
	eventBuf = eventBuf[:n]
	return addr(eventBuf)
}

//go:wasmexport evhost_handle
func evhostHandle(ptr, n uint32) int32 {
	env, ok := within(eventBuf, ptr, n)
	if !ok {
		hostFail("pdk: the event is not in the block evhost_alloc returned")
		return int32(StatusReject)
	}
	if ptr == addr(eventBuf) {
		env = eventBuf[:n] // with the spare capacity that the decoder reads
	}
	handling = true
	if handled++; handled%gcCheckInterval == 0 {
		finishGC() // in the call, as if the handler blocked for a moment
	}
	st := dispatch(nil, env)
	handling = false
	if len(blocks) != 0 {
		clearBlocks()
	}
	return int32(st)
}

// handled counts evhost_handle calls.
var handled uint32

// gcCheckInterval is how often (in events) evhost_handle lets a garbage
// collection that is under way finish.
const gcCheckInterval = 256

// finishGC lets a garbage collection cycle that is under way finish now.
//
// In a reactor, Go code runs only inside export calls, and the runtime's
// background goroutines (the GC's mark workers among them) run only when the
// goroutine of a call blocks. A cycle, started by an allocation, then
// advances only by the assists of later allocations: it stays in its mark
// phase for thousands of events, all of which pay for the write barrier on
// every pointer store, the assists, and the flushing of the barrier's
// buffers. Turning the collector off waits for the cycle's mark phase to
// end (runtime.setGCPercent: "wait for any concurrent GC mark to finish"),
// and in that wait the mark workers run at full speed; then the previous
// setting is restored. It costs about a microsecond when no cycle is under
// way. (Other goroutines of the plugin may run in the wait, as they may
// whenever a handler blocks.)
func finishGC() {
	debug.SetGCPercent(debug.SetGCPercent(-1))
}

func clearBlocks() {
	clear(blocks)
	blocks = blocks[:0]
}

// addr returns the linear-memory address of b's first byte.
func addr(b []byte) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b)))) }

// within returns the n bytes at address ptr when they lie inside b.
func within(b []byte, ptr, n uint32) ([]byte, bool) {
	if n == 0 {
		return b[:0], true
	}
	base := addr(b)
	if ptr < base || uint64(ptr-base)+uint64(n) > uint64(len(b)) {
		return nil, false
	}
	off := ptr - base
	return b[off : off+n : off+n], true
}

// result turns the i64 result of a host function into the bytes of the
// block it names (one that evhost_alloc handed out during this call) or a
// negative error code.
func result(r int64) ([]byte, int32) {
	if r < 0 {
		return nil, int32(max(r, -1<<31))
	}
	ptr, n := uint32(r>>32), uint32(r)
	if n == 0 {
		return []byte{}, 0
	}
	for i := len(blocks) - 1; i >= 0; i-- {
		if b, ok := within(blocks[i], ptr, n); ok {
			return b, 0
		}
	}
	return nil, -2 // the host broke the ABI; report it as malformed
}

func hostLog(level Level, msg string) {
	wasmLog(int32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
	runtime.KeepAlive(msg)
}

func hostEmit(env []byte) int32 {
	r := wasmEmit(unsafe.Pointer(unsafe.SliceData(env)), uint32(len(env)))
	runtime.KeepAlive(env)
	return r
}

func hostFail(reason string) {
	wasmFail(unsafe.Pointer(unsafe.StringData(reason)), uint32(len(reason)))
	runtime.KeepAlive(reason)
}

func hostConfigGet(key string) ([]byte, int32) {
	inHostCall = true
	r := wasmConfigGet(unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)))
	inHostCall = false
	runtime.KeepAlive(key)
	return result(r)
}
