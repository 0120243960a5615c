// Package dispatch runs subscriptions: it pulls deliveries from the bus,
// calls each subscription's handler with bounded concurrency, publishes the
// events a handler emits when (and only when) it succeeds, and settles
// every delivery with the broker verb its outcome calls for (Ack, Nak with
// backoff, Term). A route's rate limit is a token bucket per process,
// sized to its share among the processes that run the route (bus.Members).
//
// It imports host/event, host/outcome, host/bus and golang.org/x/time/rate
// only. Handlers are whatever the daemon wires in (wasm plugins, native Go
// functions, webhooks); the dispatcher never knows which.
package dispatch
