// Package membus is the in-process implementation of the bus contract
// (package bus): evhost's `memory` broker, for tests, benchmarks and
// fire-and-forget setups. It gives every guarantee of the contract while the
// process lives, and none across a restart: what it holds is lost when the
// process ends or the bus is closed.
//
// It imports host/bus, host/event and the standard library only.
//
// # Design
//
// Each subscription owns a slab of slots (one per event it holds
// unsettled, so at most its Queue bound), a FIFO ring of the slots ready
// for delivery, and a free list; a delivery is a handle made of a slot
// index and a generation number, so deliveries are recycled without
// allocating and a stale handle is refused. Publishers are serialised by
// one lock, which makes deduplication and the all-or-nothing queue check
// exact; consumers take each subscription's own lock, for a batch of
// deliveries at a time with Fetch. Delayed redeliveries (Nak with a delay)
// and ack-wait expiries are driven by one goroutine per bus and a timer
// heap: there is no goroutine per event or per delivery. Ack-wait expiry is
// checked by sweeping a subscription's slots when its earliest deadline
// is due, no more often than every AckWait/16, so an unsettled delivery
// is redelivered at AckWait, or up to AckWait/16 later. Delayed events
// (deliverat ahead; delayed.go) are the exception: each waits on a
// runtime timer of its own, at most Options.MaxDelayed of them, and is lost
// with the process like everything else.
//
// # Limits
//
// A new subscription receives only the events published after Subscribe
// returns. The dedup window is bounded both in time (Options.DedupWindow)
// and in entries (Options.DedupMax), whichever is reached first: at very
// high rates the window is effectively shorter (the default, 2^18 ids, is
// at least a tenth of a second at a million events per second). The dead-letter store
// holds at most Options.MaxDeadLetters records and drops the oldest,
// with a warning in the log, beyond that.
package membus
