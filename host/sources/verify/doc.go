// Package verify checks the signatures of inbound webhook requests: the
// Standard Webhooks scheme (with the official library), a plain
// HMAC-SHA256 of the body in a header of the operator's choice, GitHub's
// X-Hub-Signature-256 and Stripe's Stripe-Signature. Every comparison of a
// signature is constant-time (hmac.Equal), and the schemes that sign a
// timestamp refuse one outside the tolerance (replay protection).
//
// It owns the algorithms only: no HTTP serving, no config, no events. It
// imports the Standard Webhooks library and the standard library, and must
// not import anything of evhost.
package verify
