// Package bus is evhost's broker contract: publishing events, durable
// subscriptions selected by type patterns, and deliveries that a consumer
// settles with Ack, Nak (redeliver after a delay) or Term (dead-letter now).
//
// It owns the vocabulary only: the [Bus] and [Subscriber] interfaces, the
// [Delivery] handle, [Subscription] and [Backoff] settings, [DeadLetter]
// records and the sentinel errors. Implementations live in subpackages
// named after what they wrap: bus/membus (in-process, no durability) and
// bus/natsbus (NATS JetStream). bus/bustest is the one conformance suite
// that every implementation passes.
//
// The package imports host/event and the standard library only; it must
// not import config, dispatch or any implementation, and nothing it exports
// exposes a NATS type.
//
// # Model
//
// A subscription is a durable, named queue of events, filled by Publish with
// every event whose type matches one of its patterns and drained by one or
// more consumers ([Subscriber]) that share its work. A subscription
// outlives its consumers: events keep queueing while none is attached (up to
// the queue bound), and the next consumer attached under the same name gets
// them. [Bus.Unsubscribe] deletes a subscription and what it holds.
//
//	Publish --> subscription "payment" (queue) --> Subscriber --> Delivery.Ack / Nak / Term
//	        \-> subscription "audit"   (queue) --> Subscriber --> ...
//
// # Guarantees
//
//   - At least once: an event accepted by Publish (a nil error) is delivered
//     to every subscription that existed when it was accepted and whose
//     patterns match its type, again and again, until a delivery of it is
//     acked, or until it is dead-lettered (Term, or MaxAttempts failed
//     attempts), or until the subscription is deleted. A delivery that is
//     not settled within the subscription's AckWait counts as a failed
//     attempt and the event is delivered again.
//   - All or nothing: Publish refuses an event that would overflow any
//     matching subscription's queue (ErrBackpressure), and then enqueues it
//     nowhere, so the producer can retry it without doubling it anywhere.
//   - Deduplication: an event with the source and id of an event accepted
//     within the bus's dedup window is accepted again (PubAck.Duplicate) but
//     not enqueued again.
//   - Order: one consumer of a subscription, without redeliveries, gets its
//     events in the order they were accepted. Several consumers, or
//     redeliveries, may reorder them.
//   - Delay: an event whose deliverat extension is ahead is enqueued at
//     that time, not before, once (see Bus.Publish).
//   - Independence: subscriptions progress independently; a full or stuck
//     subscription refuses new events for itself but never delays another's
//     deliveries.
//
// Events are values: the bus keeps the *event.Event it was given and hands
// the same pointer to every delivery, so neither the producer (after
// Publish) nor a consumer may modify it.
//
// # Concurrency
//
// Every method of Bus, Subscriber and Delivery is safe for concurrent use.
package bus
