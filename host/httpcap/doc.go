// Package httpcap is the plugins' http_request capability: a plugin's
// allowed_hosts, checked on the URL of a request and of every redirect
// before anything is resolved or dialed, then the SSRF guard (netguard)
// on the addresses dialed, with the ABI's caps on request and response.
//
// It imports host/wasm (the capability's interface) and host/netguard; it
// must not import host/config: the daemon passes the plugin's hosts and
// the allowed networks.
package httpcap
