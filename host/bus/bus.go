package bus

import (
	"context"
	"time"

	"github.com/evhost/evhost/host/event"
)

// Publisher is the publishing half of a Bus, with Bus's contract: what
// ingest and the Go API publish through, and what a publisher middleware
// (metrics, tracing) wraps.
type Publisher interface {
	Publish(ctx context.Context, e *event.Event) (PubAck, error)
	PublishBatch(ctx context.Context, events []*event.Event, buf []PubAck) (acks []PubAck, err error)
}

// States is implemented by a bus that estimates, without asking a server,
// the events each subscription holds unsettled (waiting, in flight or
// waiting for a retry) and which subscriptions are paused: cheap enough
// for every metrics scrape and status request.
type States interface {
	Pending() map[string]int64
	PauseStates() map[string]bool
}

// Members is implemented by a bus that several processes may share: it
// tells how many of them consume a subscription, so that a limit set for
// the subscription as a whole (a rate) can be shared between them.
type Members interface {
	// Join announces that this process consumes the subscription name,
	// until leave is called. count reports how many processes have
	// announced it, this one included, as of the last few seconds (at
	// least 1); it does not wait for the server.
	Join(name string) (count func() int, leave func())
}

// Range selects recorded events by type and position in a journal, for
// replay: the events whose type matches one of Patterns, from one end to
// the other, both ends included.
type Range struct {
	// Patterns select the event types (at least one): exact types and
	// NATS-style patterns, as a subscription's.
	Patterns []string
	// FromSeq and FromTime are where the range starts; when both are
	// zero it starts at the first event the journal still holds. Set at
	// most one.
	FromSeq  uint64
	FromTime time.Time
	// ToSeq and ToTime are where it ends; when both are zero it ends with
	// the last event stored when the read began. Set at most one.
	ToSeq  uint64
	ToTime time.Time
}

// Recorded is one event read back from a journal.
type Recorded struct {
	// Seq is the event's position in the journal (its PubAck.Seq).
	Seq uint64
	// Time is when the journal stored it.
	Time  time.Time
	Event *event.Event
}

// Journal is a bus that keeps the events it accepted and reads them back
// (the NATS bus does; the memory bus does not).
type Journal interface {
	// Read calls fn with each event of r, in journal order, until the
	// range ends, fn returns an error (which Read returns), or ctx is
	// done. It touches no subscription.
	Read(ctx context.Context, r Range, fn func(Recorded) error) error
}

// Bus carries events from producers to subscriptions. See the package
// documentation for the guarantees every implementation gives.
type Bus interface {
	// Publish offers e to every subscription whose patterns match e.Type.
	//
	// On a nil error e is accepted: it is enqueued for each of those
	// subscriptions, or it is a duplicate (PubAck.Duplicate) of an event
	// with the same Source and ID accepted within the dedup window, and is
	// enqueued nowhere. An event that matches no subscription is accepted
	// too (durable buses journal it).
	//
	// On an error e is enqueued nowhere and is not remembered for
	// deduplication, so the same event may be published again:
	//   - ErrInvalidEvent (wrapped) when e fails e.Validate or
	//     event.ValidType(e.Type); retrying will not help;
	//   - a *BackpressureError (errors.Is ErrBackpressure) naming the first
	//     matching subscription found full; retry later;
	//   - ErrClosed once Close has begun; ctx.Err() if ctx is done.
	//
	// A delayed event, whose deliverat extension (event.ExtDeliverAt)
	// names a time ahead, is accepted now and enqueued at that time for
	// the subscriptions that match it then, once; the queue bounds apply
	// when it comes due, and the bus bounds how far ahead it may be (past
	// that: ErrInvalidEvent) and how many it holds (past that: a
	// *BackpressureError naming DelayedQueue). A durable bus keeps
	// delayed events across restarts; the memory bus in its process only.
	//
	// Publish never waits for room in a queue. The bus keeps e: the caller
	// must not modify it afterwards.
	Publish(ctx context.Context, e *event.Event) (PubAck, error)

	// PublishBatch publishes events in order, as Publish would one by one,
	// and stops at the first event refused. It returns the receipts of the
	// events accepted, which are always events[:len(acks)], and the error
	// of events[len(acks)] if one was refused. Each event is all or nothing
	// on its own; the batch is not.
	//
	// The receipts are appended to buf[:0], in buf's array as long as it
	// has room: a caller that publishes batch after batch passes the
	// receipts it was given last time, and allocates nothing for them once
	// they have room for a batch. buf may be nil.
	PublishBatch(ctx context.Context, events []*event.Event, buf []PubAck) (acks []PubAck, err error)

	// Subscribe attaches a new consumer to the subscription named sub.Name,
	// creating the subscription if it does not exist. A subscription
	// receives the events accepted after it was created, never earlier
	// ones. Subscribing again under an existing name attaches one more
	// consumer that shares the subscription's work (each delivery goes to
	// one consumer); if sub's settings differ from the subscription's, the
	// subscription takes the new ones: patterns for events published from
	// then on, the others for deliveries made from then on; events already
	// queued stay queued.
	//
	// It returns ErrInvalidSubscription (wrapped) when sub.Validate fails,
	// and ErrClosed after Close.
	Subscribe(ctx context.Context, sub Subscription) (Subscriber, error)

	// Unsubscribe deletes the subscription named name: it stops receiving
	// events (and no longer counts for backpressure), the events it holds
	// are dropped (not dead-lettered), and its consumers' Next and Fetch
	// return ErrClosed. Settling one of its unsettled deliveries has no
	// effect, and returns ErrClosed (wrapped) where the bus can tell. It
	// returns ErrNotFound (wrapped) if there is no such subscription. Dead
	// letters of the subscription are kept.
	Unsubscribe(ctx context.Context, name string) error

	// Pause stops the deliveries of the subscription name to all its
	// consumers, in every process that shares it, until Resume: Next and
	// Fetch wait, deliveries made before may still be settled, and events
	// keep queueing (up to the queue bound; then Publish refuses them with
	// backpressure, as for any full subscription). A pause outlives the
	// consumers, and on a durable bus the process. Pausing a paused
	// subscription does nothing. It returns ErrNotFound (wrapped) when
	// there is no such subscription.
	Pause(ctx context.Context, name string) error

	// Resume undoes Pause: the events held are delivered in order. It
	// returns ErrNotFound (wrapped) when there is no such subscription.
	Resume(ctx context.Context, name string) error

	// Paused reports whether the subscription name is paused; ErrNotFound
	// (wrapped) when there is no such subscription.
	Paused(ctx context.Context, name string) (bool, error)

	// DeadLetters lists the dead letters that f selects, oldest first.
	DeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, error)

	// Redrive puts the event of the dead letter id back into the queue of
	// its subscription, as a fresh event (its attempts start again at 1),
	// and removes the dead letter. It bypasses deduplication. It returns
	// ErrNotFound (wrapped) if there is no such dead letter or its
	// subscription no longer exists (the dead letter is then kept), and a
	// *BackpressureError if the subscription is full.
	Redrive(ctx context.Context, id uint64) error

	// Close stops the bus: Publish, Subscribe and the settling of
	// deliveries return ErrClosed from then on, and consumers blocked in
	// Next or Fetch return ErrClosed. It waits for the bus's goroutines to
	// end, or for ctx to be done (then it returns ctx.Err(), and the
	// goroutines still end on their own). What a bus without durability
	// held is lost. Close is idempotent.
	Close(ctx context.Context) error
}

// PubAck is the receipt of an accepted event.
type PubAck struct {
	// Seq is the event's position in the bus's journal, increasing with
	// every accepted event. For a duplicate, it is the original's.
	Seq uint64
	// Duplicate is true when an event with the same source and id had been
	// accepted within the dedup window: this one was not enqueued.
	Duplicate bool
}

// Subscriber is one consumer attached to a subscription. Consumers pull:
// nothing is delivered to a Subscriber until it asks, except that a
// Subscriber whose callers take deliveries quickly may take a little of
// the events already stored ahead of their calls (the NATS bus: what they
// take in about 50 ms), never events published after.
//
// Next and Fetch may be called from several goroutines at once; each
// delivery goes to one caller.
type Subscriber interface {
	// Next waits for the next delivery of the subscription and returns
	// it. It returns ctx.Err() when ctx is done first, and ErrClosed
	// (wrapped) when the Subscriber, its subscription or the bus is
	// closed.
	Next(ctx context.Context) (Delivery, error)

	// Fetch waits, as Next does, until at least one delivery is ready,
	// then fills buf with up to len(buf) deliveries that are ready without
	// waiting any longer, and returns how many it stored. Each must be
	// settled on its own. Fetch with an empty buf returns 0, nil at once.
	Fetch(ctx context.Context, buf []Delivery) (int, error)

	// Close detaches this consumer. Its blocked Next and Fetch calls
	// return ErrClosed; deliveries it already received stay valid and
	// should still be settled (a graceful stop finishes and settles its
	// in-flight work after Close). The subscription itself lives on: see
	// Bus.Unsubscribe. Close is idempotent and returns nil.
	Close() error
}

// FairFetcher is implemented by a Subscriber that several callers can
// each fetch batches from without one holding deliveries another could run,
// and that settles a caller's last batch in the same step. The memory bus
// implements it.
type FairFetcher interface {
	Subscriber
	// AckFetch acks the deliveries of done, which this Subscriber
	// delivered, setting errs[i] (len(errs) >= len(done)) to what
	// done[i].Ack() would have returned; then, unless buf is empty, it is
	// Fetch for one of n callers sharing the Subscriber: it takes more than
	// one delivery only while at least len(buf) are ready for each of the
	// n. The acks and the fetch take the subscription's lock once. done
	// and buf must not overlap.
	AckFetch(ctx context.Context, done []Delivery, errs []error, buf []Delivery, n int) (int, error)
}

// Subscription is the configuration of a durable subscription.
type Subscription struct {
	// Name identifies the subscription (a durable consumer name): 1 to 64
	// characters of A-Z, a-z, 0-9, '_' and '-'.
	Name string
	// Patterns select the event types it receives: exact types and
	// NATS-style patterns (see event.ParsePattern); at least one.
	Patterns []string
	// Queue bounds the events the subscription holds unsettled: waiting,
	// in flight and waiting for redelivery. When it is reached, Publish
	// refuses events for it with ErrBackpressure. Zero means the bus's
	// default.
	Queue int
	// MaxAttempts is the number of deliveries of an event (the first
	// included) that may fail before the bus dead-letters it. Zero means
	// DefaultMaxAttempts.
	MaxAttempts int
	// AckWait is how long a delivery may stay unsettled; after that it
	// counts as a failed attempt (reason ReasonAckWait) and the event is
	// delivered again. Zero means DefaultAckWait.
	AckWait time.Duration
	// Backoff gives the redelivery delay of a Nak with a negative delay
	// (see Delivery.Nak).
	Backoff Backoff
	// Partitions, when positive, orders the subscription per key: each
	// event belongs to the partition Partition(OrderKey(e), Partitions),
	// and the bus hands out at most one event of a partition at a time,
	// across all the subscription's consumers (in every process sharing
	// it), in the order the events were accepted; a failed attempt is
	// delivered again before any later event of its partition, and a dead
	// letter lets the next one go. Events of different partitions are
	// handed out concurrently. Zero means no order beyond the package
	// documentation's. At most MaxPartitions. The partitioning of an
	// existing subscription (Partitions and OrderBy) cannot change:
	// Subscribe refuses it, and the subscription must be deleted first.
	Partitions int
	// OrderBy names the key of OrderKey (for example "subject" or
	// "data.customer.id"); required with Partitions, and compared, with
	// Partitions, to the existing subscription's by Subscribe.
	OrderBy string
	// OrderKey returns the key of an event; required with Partitions. It
	// must be deterministic, the same in every process sharing the
	// subscription, and safe for concurrent use.
	OrderKey func(*event.Event) string
}

// MaxPartitions caps Subscription.Partitions.
const MaxPartitions = 256

// Partition returns the partition of key among n (n > 0): FNV-1a of the
// key, modulo n. It is fixed: every process, every version, maps a key to
// the same partition.
func Partition(key string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Comparable returns s without its OrderKey, for comparing subscriptions'
// settings (functions do not compare).
func (s Subscription) Comparable() Subscription {
	s.OrderKey = nil
	return s
}

// Defaults of a Subscription's zero fields.
const (
	DefaultMaxAttempts = 5
	DefaultAckWait     = 30 * time.Second
)

// ReasonAckWait is the reason recorded for an attempt whose delivery was not
// settled within the subscription's AckWait.
const ReasonAckWait = "ack wait expired"

// DeadLetter is the record of an event that a subscription gave up on.
type DeadLetter struct {
	// ID identifies the record in the bus's dead-letter store; IDs
	// increase with time.
	ID uint64
	// Event is the event, as published. It must not be modified.
	Event *event.Event
	// Subscription is the name of the subscription that gave up.
	Subscription string
	// Reason is the Term reason, or the reason of the last failed attempt
	// (a Nak reason or ReasonAckWait).
	Reason string
	// Attempts is the number of deliveries made, the last one included.
	Attempts int
	// Terminated is true when a consumer called Term, false when the
	// attempts ran out.
	Terminated bool
	// Time is when the event was dead-lettered.
	Time time.Time
}

// DeadLetterFilter selects dead letters. Its zero value selects all of them.
type DeadLetterFilter struct {
	// Subscription keeps the dead letters of this subscription only, when
	// not empty.
	Subscription string
	// EventID keeps the dead letters of events with this id only, when not
	// empty.
	EventID string
	// After keeps the dead letters whose ID is greater (a cursor: the last
	// ID of the previous page).
	After uint64
	// Limit caps the number of dead letters returned, when positive.
	Limit int
}

// Match reports whether f selects dl.
func (f *DeadLetterFilter) Match(dl *DeadLetter) bool {
	return dl.ID > f.After &&
		(f.Subscription == "" || f.Subscription == dl.Subscription) &&
		(f.EventID == "" || dl.Event != nil && f.EventID == dl.Event.ID)
}
