// Package hostabi connects the native (non-WebAssembly) build of package pdk
// to a stand-in host, package pdktest. In a wasip1 build nothing imports it:
// there the pdk calls the real host through //go:wasmimport.
//
// The methods of Host mirror the host functions of ABI v1 section 3 one to
// one, on raw bytes: results are either a value with code 0 or a negative
// ABI error code. Package pdk sets Dispatch in its init function; pdktest
// installs a Host for the duration of one call of Dispatch.
package hostabi

import "sync"

// Host is the host side of the ABI seen from the guest.
type Host interface {
	Log(level int32, msg string)
	Emit(envelope []byte) int32
	Fail(reason string)
	ConfigGet(key string) ([]byte, int32)
	KVGet(key string) ([]byte, int32)
	KVSet(key string, value []byte) int32
	KVDelete(key string) int32
	HTTPRequest(req []byte) ([]byte, int32)
}

// Padding is the spare capacity that an envelope given to Dispatch should
// have after its end: the decoder reads that far ahead (pdk checks that it
// matches its own constant). Without it the decoder takes its slow path.
const Padding = 32

// Dispatch runs one evhost_handle call natively: it decodes the event
// envelope as the guest does and runs handler (a pdk.Handler, or nil for the
// handler registered with pdk.Handle). It returns the status. Package pdk
// sets it at init.
var Dispatch func(handler any, envelope []byte) int32

var (
	runMu   sync.Mutex // one simulated call at a time, as in one instance
	stateMu sync.Mutex // guards current
	current Host
)

// Run installs h as the current host, calls fn, and removes h again. Runs
// are serialised process-wide: the pdk has one set of package-level host
// functions, exactly like one WebAssembly instance.
func Run(h Host, fn func()) {
	runMu.Lock()
	defer runMu.Unlock()
	set(h)
	defer set(nil)
	fn()
}

func set(h Host) {
	stateMu.Lock()
	current = h
	stateMu.Unlock()
}

// Current returns the installed host, or nil outside Run.
func Current() Host {
	stateMu.Lock()
	defer stateMu.Unlock()
	return current
}
