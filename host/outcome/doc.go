// Package outcome names what a handler run asks for: Done, Retry or
// Reject (the plugin ABI's statuses, section 5 of plugins/ABI.md). The
// wasm runtime returns it and the dispatcher acts on it; one enum, so that
// neither converts the other's numbers.
//
// It imports nothing of evhost's, and must not.
package outcome
