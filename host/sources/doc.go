// Package sources runs the config's sources of events from outside
// evhost's own API: inbound webhooks ([[sources.webhooks]]), served under
// /v1/hooks/ without the bearer token, each request verified by its
// signature (package verify) before it becomes a CloudEvent; and other
// applications' NATS messages ([[sources.nats]]), read from a core NATS
// subject (at most once) or a JetStream stream through a durable consumer
// of the source's own (at least once), each message made a CloudEvent.
//
// Every event gets the source's fixed source attribute and, where the
// provider or the publisher gives one, an id that is the same on every
// redelivery (a webhook delivery id, a Nats-Msg-Id, a stream sequence), so
// that the broker's deduplication (by source and id, within its dedup
// window) makes a redelivery a duplicate rather than a second event.
//
// It owns the sources' state across reloads (Set.Apply), their counters
// (GET /v1/status's sources, the evhost_source_* metrics) and the bounds
// of what a provider or a publisher can push: the body or message size,
// the pending messages of a core subscription, the unacknowledged
// messages of a stream consumer, the headers made extensions.
//
// It imports host/api, host/bus, host/event, host/httpapi, host/bus/natsbus
// (for natsbus.Endpoint, the way to the daemon's broker), the NATS client
// and the Prometheus client; it must not import host/config (the daemon
// maps the config to HookSpec and NATSSpec in package specs), nor
// dispatch, registry or wasm.
package sources
