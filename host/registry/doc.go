// Package registry owns the plugins a daemon runs: it turns plugin
// sources (a .wasm file, built first by its Build command when it has one,
// a Go package directory, a module pinned by its digest, the JavaScript
// engine) into loaded
// versions, and keeps the running set of plugins and
// their routes as one immutable Snapshot.
//
// A change is built aside and swapped in one step, as caddy swaps its
// config: Apply loads every new or changed plugin next to the running
// ones, hands the complete routes to the caller's commit (the dispatcher),
// then stores the new Snapshot with one atomic pointer write and retires
// the versions it replaced. A version is retired with wasm.Plugin.Close:
// calls in flight finish on it and it is closed when its last call
// returns. Reload swaps a new version of one plugin in the same way when
// its module changes. A change that fails anywhere leaves the running
// Snapshot as it was.
//
// Each plugin is served by one stable *Plugin (a dispatch.Handler) whose
// current version is an atomic pointer, so that a new version never
// restarts its subscription's workers and a call that raced a swap runs
// again on the new version instead of failing.
//
// The package takes its own options (Spec, Options), not config: it
// imports host/wasm, host/dispatch, host/event, host/gobuild,
// host/jsengine, host/watch and host/api, and must not import host/config, a bus implementation or
// the HTTP API.
package registry
