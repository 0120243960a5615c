// Package httpapi is the daemon's HTTP surface: CloudEvents ingest, health
// and readiness, and a mux on which the daemon mounts the endpoints that
// other packages own (admin, metrics), all behind bearer tokens with scopes
// (publish, read, admin: see ScopePublish) and one JSON error renderer.
//
// # Endpoints
//
//	POST /v1/events          CloudEvents 1.0 in the HTTP binding's three content modes:
//	                         structured (application/cloudevents+json),
//	                         batch (application/cloudevents-batch+json), and
//	                         binary (ce-* headers, the body is the data)
//	POST /v1/events/{type}   the body is the data of one event of that type;
//	                         ce-* headers may add attributes
//	GET  /healthz            200 while the process serves (no token)
//	GET  /readyz             200, or 503 with the reason (no token)
//
// Every event is validated and stamped before it reaches the bus: a missing
// id becomes a random UUID (version 4), a missing source becomes
// Options.Source, a missing time becomes the time of receipt (UTC), a
// missing specversion becomes 1.0. The type is required and must be usable
// as a subject (event.ValidType).
//
// # Status codes
//
//	202  accepted: {"ids":[...],"duplicates":[...]}; duplicates are indexes
//	     into ids of events the bus had already accepted (same source and id)
//	     and did not enqueue again
//	400  malformed request: {"error":"...","field":"..."}, naming the ce-
//	     header, the attribute (as a JSON path, "[2].time" in a batch) or
//	     "body", and "index" for a batch element
//	401  token missing or unknown (WWW-Authenticate: Bearer)
//	403  a token without the route's scope (field "Authorization"), or
//	     that may not publish the event's type (field "type", "[i].type")
//	403  on every route, before routing: a Host the server does not answer
//	     to (field "Host": not an IP address, localhost or one of
//	     Options.Hostnames; DNS rebinding), or a request a browser sent
//	     for a page of another origin (field "Origin": Sec-Fetch-Site or
//	     Origin, http.CrossOriginProtection; Options.TrustedOrigins pass)
//	404, 405  unknown path, method not allowed
//	413  body over Options.MaxBody
//	415  a structured or batch event format other than JSON (or a non-UTF-8
//	     charset)
//	429  a subscription's queue is full (Retry-After; "subscription" names it)
//	503  not ready, or the bus is closed (draining) (Retry-After)
//
// A 429 or 503 from publishing carries "ids", the events accepted before
// the refusal, and for a batch "index", the first event refused: the
// events from index on were not accepted. A producer retries the whole
// request, or the rest of the batch; deduplication by source and id makes
// resending events already accepted safe, as long as each event keeps the
// id it was first sent with (an event sent without an id gets a new one on
// every attempt, so give ids to events you may resend).
//
// # Boundaries
//
// The package imports host/event, host/bus (for its vocabulary: PubAck and
// the sentinel errors) and the standard library. It must not import
// host/config, host/wasm or any bus implementation: it declares what it
// needs ([Publisher], [Readiness]) and the daemon wires them. It does not
// run a listener; the daemon owns the http.Server, its timeouts and its
// shutdown.
package httpapi
