// Package replay runs a subscription's plugin again over events read back
// from the journal: a replay, whose emits are published (deduplicated by
// their deterministic ids) unless told not to, or a shadow replay of a
// candidate module, which publishes nothing and compares the candidate's
// emits with what the live version emitted, from the run records. It also
// offers POST /v1/admin/replay.
//
// It reads the journal through bus.Journal and the live plugins through
// host/registry; it must not import host/config or a bus implementation.
package replay
