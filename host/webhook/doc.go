// Package webhook delivers events to HTTP endpoints per the Standard
// Webhooks specification (https://www.standardwebhooks.com): each request
// carries the event as CloudEvents structured JSON and the headers
// webhook-id, webhook-timestamp and webhook-signature, signed with one or
// more whsec_ secrets.
//
// An Endpoint is a dispatch.Handler: the dispatcher gives it a subscription
// (queue, concurrency, retries with backoff, dead letters) and it turns each
// HTTP answer into an outcome (see Endpoint.Handle). It owns signing, the
// request, its timeout, the reading of the answer, and the endpoint's
// disabled state after a 410 Gone.
//
// It imports host/event and host/dispatch only. It does not dial by itself:
// the caller injects the *http.Client, which in the daemon is the SSRF
// guarded one, and records attempts through Options.Observe.
package webhook
