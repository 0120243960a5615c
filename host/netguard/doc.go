// Package netguard is the SSRF guard of evhost's outbound HTTP: webhook
// deliveries and the http_request capability of plugins go through its
// Client.
//
// The guard decides at dial time, on the IP address that is actually
// dialed: a hostname is resolved once, every address it resolves to is
// checked, and the connection goes to the checked address, so a DNS answer
// that changes between a check and the dial (DNS rebinding) cannot slip a
// forbidden address through. IP literals take the same path. Redirects are
// followed only up to a limit, and every hop is dialed through the same
// guard. Response bodies are capped.
//
// Forbidden classes (loopback, private, link-local, cloud metadata, CGNAT,
// unspecified, multicast, broadcast, documentation and reserved ranges, and
// the IPv6 forms that embed a forbidden IPv4 address) are refused unless a
// prefix of Options.Allow contains the address.
//
// netguard imports only the standard library; it knows nothing of config,
// plugins or webhooks.
package netguard
