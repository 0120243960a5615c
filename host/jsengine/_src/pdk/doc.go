// Package pdk is the Go plugin development kit for evhost: it turns a plain
// Go function into an evhost event handler compiled to WebAssembly, speaking
// the plugin ABI version 1 (see plugins/ABI.md).
//
// A plugin is a main package that registers its handler in an init function
// and has an empty main:
//
//	package main
//
//	import "github.com/evhost/evhost/plugins/pdk"
//
//	func init() { pdk.Handle(handle) }
//
//	func main() {}
//
//	type order struct {
//		ID     string `json:"id"`
//		Amount int    `json:"amount"`
//	}
//
//	func handle(e *pdk.Event) error {
//		var o order
//		if err := e.Decode(&o); err != nil {
//			return pdk.Reject(err) // the event is bad: dead-letter it now
//		}
//		limit, _ := pdk.Config("limit")
//		pdk.Infof("order %s: amount %d (limit %s)", o.ID, o.Amount, limit)
//		if err := pdk.EmitJSON("order.checked", o, pdk.WithSubject("order/"+o.ID)); err != nil {
//			return err // retried with backoff
//		}
//		return nil // done: the host acknowledges and publishes the emit
//	}
//
// Build it as a WASI reactor with the standard Go toolchain (Go 1.24 or
// later):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o order.wasm .
//
// Importing this package links the module's exports evhost_abi_version,
// evhost_alloc and evhost_handle (//go:wasmexport works from any linked
// package); -buildmode=c-shared adds _initialize, which runs the package
// initialisers, and leaves out _start. main is never called.
//
// # Outcomes
//
// A Handler returns nil (done: acknowledge, publish the emits), an error
// marked with Reject (status 2: dead-letter now) or any other error (status
// 1: retry with backoff; Retry says so explicitly). The error text is the
// failure reason the host records. A panic in the handler is recovered and
// fails the event with status 1.
//
// # Host functions
//
// Emit and EmitJSON emit follow-up events; Debug, Info, Warn, Error (and
// their f variants) log; Config reads the plugin's configuration; KVGet,
// KVSet and KVDelete use the plugin's key-value space; DoHTTP makes an
// outbound HTTP request. Errors from the host wrap ErrNotFound,
// ErrMalformed, ErrNotPermitted, ErrLimit or ErrTransient.
//
// The module imports only the host functions that its code reaches: the
// Go linker drops the others, and the host grants capabilities by import,
// so a plugin that never calls KVGet, KVSet, KVDelete or DoHTTP needs no KV
// or HTTP grant.
//
// # Memory and lifetimes
//
// A plugin instance handles one event at a time; the host runs several
// instances side by side, so package-level variables are per instance.
// The *Event a handler gets, and everything in it, is valid only until the
// handler returns: the struct and its Extensions map are reused for the
// next event, and its strings and Data point into the buffer the host
// wrote the event into, which the next event overwrites. Decoding an event
// thus costs neither a copy nor an allocation. Copy what you keep
// (strings.Clone, bytes.Clone), or use Event.Clone. Handing the values to
// Emit, the log functions, KVSet or DoHTTP within the call is fine: they
// copy them before they return. The ABI promises UTF-8 names and values
// and RFC 3339 times, and the PDK takes the host's word for it (Event.Time
// parses the time only when asked); Event.UnmarshalBinary, for envelopes
// from anywhere else, checks both.
//
// # Testing
//
// Package pdktest runs a handler natively under go test, with configuration,
// an in-memory KV store and a fake HTTP transport, and returns the status,
// the failure reason, the emitted events and the log lines. It goes through
// the same envelope encoder and decoder as the WebAssembly build, and it
// overwrites the event after the call as the host does, so that a handler
// that keeps part of its event without copying it fails in tests too.
package pdk
