// Package admin owns the admin and status routes of the HTTP API: dead
// letters (list, show, redrive), the trace tree of an event, the status
// (GET /v1/status and the status page), the plugins' list and reload, and
// the explicit deletion of a subscription.
// Each is a small type that implements httpapi.Routes over the interfaces
// it needs (the bus's dead letters, the run records, counters), and the
// daemon mounts it; the answers are host/api's types, rendered by httpapi's
// one JSON writer.
//
// It imports host/api, host/bus, host/dispatch (for its sentinel
// errors), host/httpapi, host/runlog and host/statusui; it must not import host/config, the wasm runtime or a bus
// implementation.
package admin
