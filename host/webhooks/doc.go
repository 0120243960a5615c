// Package webhooks runs the daemon's [[webhooks]] subscriptions: it builds
// each entry's webhook.Endpoint with the SSRF guarded client, keeps it
// across reloads while its entry is unchanged (so a 410 Gone's disabled
// state survives an unrelated reload), records every attempt as a run
// record, and offers the webhook routes of the admin API: the list, the
// enabling of a disabled endpoint, and each endpoint's delivery log.
//
// Runtime holds the webhooks created over the admin API (POST
// /v1/admin/webhooks, DELETE /v1/admin/webhooks/{name}): validated as the
// config validates an entry, kept in a Store (a KV bucket of the broker,
// shared by the daemons of a cluster and kept across restarts) that each
// daemon watches, applying every change as a route change.
//
// It imports host/webhook, host/netguard, host/runlog, host/dispatch,
// host/httpapi, host/api, host/bus (names), host/event (patterns) and
// host/filter; it must not import host/config: the daemon
// maps each entry to a Spec.
package webhooks
