// Package runlog records handler runs and their outcomes: which
// subscription (and which plugin version) handled which event, on which
// attempt, how it ended, how long it took, and the events it emitted. The
// run log is what the trace tree (`evhost trace ID`) and the delivery log
// read, and what shadow replay compares a candidate plugin against.
//
// It owns the Record value and its JSON form, the Store contract with an
// in-memory implementation (Memory), and the Recorder, which takes records
// off the dispatcher's hot path and appends them to a Store in batches.
// The durable Store lives with the bus that keeps it (natsbus.Runs).
//
// It imports host/event and the standard library only. In particular it
// must not import dispatch: bus implementations import runlog to provide
// a Store, and a bus must not depend on the dispatcher. The daemon adapts
// the dispatcher's Observer to Recorder.Handled (a few lines; see
// Recorder).
package runlog
