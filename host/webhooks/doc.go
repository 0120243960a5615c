// Package webhooks runs the daemon's [[webhooks]] subscriptions: it builds
// each entry's webhook.Endpoint with the SSRF guarded client, keeps it
// across reloads while its entry is unchanged (so a 410 Gone's disabled
// state survives an unrelated reload), records every attempt as a run
// record, and offers the webhook routes of the admin API: the list, the
// enabling of a disabled endpoint, and each endpoint's delivery log.
//
// It imports host/webhook, host/netguard, host/runlog, host/dispatch,
// host/httpapi and host/api; it must not import host/config: the daemon
// maps each entry to a Spec.
package webhooks
