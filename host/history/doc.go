// Package history keeps the daemon's recent history for the status page's
// charts: one point every Interval (10 s) for Window (an hour), in a ring
// of bounded size, each with the events ingested, handled and failed per
// second, and per subscription its pending count and its handler latency
// (p50, p99) over the interval. It serves them on GET /v1/status/history.
//
// It samples on a ticker of its own (see RATIONALE.md). It reads the
// counters through Source (the metrics: totals, per-subscription counts,
// the latency histogram's buckets) and the bus's pending estimate through
// a function; it imports host/api and host/httpapi, and must not import
// host/config, the metrics, a bus or the wasm runtime.
package history
