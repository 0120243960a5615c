// Package debugsrv serves the daemon's profiles on a listener of its own
// ([host] debug_listen): Go's net/http/pprof under /debug/pprof/ and
// expvar at /debug/vars. They are never mounted on the API's listener, and
// nothing else is served here.
//
// It owns the mux of those handlers and the listener's life. Who may call
// it is the caller's business: the daemon wraps the handler in the API's
// guards and tokens with the admin scope (httpapi.Server.Protect), and the
// config refuses a debug_listen off loopback that no token protects.
//
// It imports the standard library only; it must not import the rest of
// evhost.
package debugsrv
