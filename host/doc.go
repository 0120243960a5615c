// Package host is evhost as a Go library, and the composition root of the
// daemon: it maps a config.Config to each part's options, wires the parts
// (New), runs them (Start, Run, Serve) and closes them (Close); and it is
// the embedding API: Publish, native Go handlers (Handle), and what the
// parts answer (Plugins, Trace, Replay, Runs). It holds parts, not their
// state.
//
// # Packages
//
// Dependencies point down; a package imports only those below it. Only the
// composition (this package, broker, specs, deploy) imports config.
//
//	host          config -> parts; New/Start/Run/Close; Publish, Handle
//	 ├ deploy     evhost deploy (Deploy) and deploy mode (Follower, Modules)
//	 ├ specs      config -> registry.Spec, webhooks.Spec, the API's and the tracer's options
//	 ├ broker     [broker] -> the bus (embedded NATS, a cluster, or memory), run records, KV spaces, API webhooks
//	 ├ admin      admin and status routes: dead letters, traces, status, plugins
//	 ├ backup     POST /v1/admin/backup (JetStream snapshots as a tar); write and restore a backup directory
//	 ├ history    the status page's hour of samples (rates, pending, latency); GET /v1/status/history
//	 ├ replay     replay and shadow replay over bus.Journal; POST /v1/admin/replay
//	 ├ webhooks   the [[webhooks]] endpoints across reloads, and those created over the API; their admin routes
//	 ├ schedule   the [[schedules]]: one event per tick across daemons; GET /v1/schedules
//	 ├ sources    [sources]: inbound webhooks (sources/verify: their signatures), NATS subjects -> events
//	 ├ metrics    Prometheus: a dispatch observer, a publisher middleware, /metrics
//	 ├ registry   plugin sources -> loaded versions; the running Snapshot
//	 ├ httpapi    the HTTP server: ingest, health, token, one JSON writer, Routes
//	 ├ httpcap    the plugins' http_request: allowed_hosts, then netguard
//	 ├ telemetry  OpenTelemetry spans: a dispatch middleware, a publisher middleware
//	 ├ dispatch   routes -> bounded concurrent handler calls -> Ack/Nak/Term; pause, filters, rate
//	 ├ filter     CEL filter expressions over an event
//	 ├ orderkey   order_by: the key of an event that orders its subscription
//	 ├ runlog     run records: the recorder and the stores
//	 ├ wasm       plugins: compile, check, pool, sandbox, ABI v1
//	 ├ bus        the broker contract; bus/natsbus (JetStream), bus/membus
//	 ├ webhook    one endpoint: Standard Webhooks signing and delivery
//	 ├ hotreload  watches config.toml and the plugins' sources; calls reloads
//	 ├ watch, gobuild, kv, netguard, statusui   the leaves they use
//	 ├ config     TOML -> Config, with file:line:column errors
//	 └ api, event, outcome   vocabulary: wire types, the CloudEvent, Done/Retry/Reject
//
// api imports the standard library only: the CLI's client commands use it
// without linking wazero or the NATS server.
//
// # An event, from POST /v1/events to a plugin and out as an emit
//
//  1. httpapi decodes and stamps the events and publishes them through the
//     publisher chain built in Handler (metrics counts, telemetry starts
//     the publish span) to the bus.
//  2. dispatch pulls each subscription's deliveries from the bus and calls
//     the route's handler, wrapped by the telemetry middleware: for a
//     plugin, a registry.Plugin, which calls the current wasm.Plugin
//     version (an instance from its pool, the guest's handle export).
//  3. The outcome (outcome.Done, Retry, Reject) comes back to dispatch:
//     on Done it publishes the emits to the bus, then acknowledges; it
//     tells the observer (metrics, runlog), and each emit starts again at 2.
//
// # A changed plugin file, to the swap
//
//  1. watch (kept by hotreload with the registry's Targets) sees the
//     file's content hash change and reports the path.
//  2. registry.Reload reads the source (running its build command, or
//     building a Go directory), loads the module aside (compile, check,
//     pre-warm), and swaps it into the plugin's atomic pointer; the old
//     version is closed when its last call returns. A refused module (or
//     a failed build, with its output) leaves the old one serving.
//
// A config change goes through registry.Apply instead: every new or
// changed plugin is loaded aside, the dispatcher takes the new routes,
// then one snapshot is swapped in and the replaced versions retired.
//
// See RATIONALE.md for why the parts are split this way.
package host
