// Package api holds the request and response types of evhost's HTTP API:
// what the daemon's admin and status routes answer, and what the CLI's
// client commands (evhost dlq, trace, webhooks, replay) and other programs
// decode. It is the API's vocabulary and nothing else.
//
// It imports the standard library only, so that a client of the API does
// not link the wasm runtime or the NATS server (go list -deps shows
// neither); it must not import any other package of evhost.
package api
