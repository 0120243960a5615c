// Package metrics owns evhost's Prometheus metrics: what was ingested,
// published, handled, failed and dead-lettered, handler latency, reloads,
// webhook attempts, and, read at scrape time, the plugins' pools and the
// bus's pending counts. It is attached to the daemon as a dispatch
// observer (Handled), a publisher middleware (Publisher) and a few
// counting calls (RefusedRequest, Reload, Webhook), and serves /metrics
// (Routes). The status page reads its counts through Counts and Totals,
// never by reading Prometheus back.
//
// It imports host/api, host/bus, host/dispatch, host/event and
// host/httpapi; it must not import host/config, the wasm runtime or a bus
// implementation: the daemon hands it functions that read the pools and
// the bus.
package metrics
