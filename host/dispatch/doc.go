// Package dispatch runs subscriptions: it pulls deliveries from the bus,
// calls each subscription's handler with bounded concurrency, publishes the
// events a handler emits when (and only when) it succeeds, and settles
// every delivery with the broker verb its outcome calls for (Ack, Nak with
// backoff, Term).
//
// It imports host/event, host/outcome and host/bus only. Handlers are whatever the
// daemon wires in (wasm plugins, native Go functions, webhooks); the
// dispatcher never knows which.
package dispatch
