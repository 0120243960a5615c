package membus

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Defaults of Options' zero fields.
const (
	DefaultQueue          = 1024
	DefaultDedupWindow    = 2 * time.Minute
	DefaultDedupMax       = 1 << 18
	DefaultMaxDeadLetters = 10_000
)

// Options configure a Bus. The zero value gives the defaults.
type Options struct {
	// Queue is the queue bound of subscriptions that do not set one
	// (Subscription.Queue zero). Zero or less means DefaultQueue.
	Queue int
	// DedupWindow is how long an accepted event's source and id are
	// remembered to refuse duplicates: at least that long, and less than
	// twice as long. Zero means DefaultDedupWindow; a negative value turns
	// deduplication off.
	DedupWindow time.Duration
	// DedupMax caps the number of ids remembered: when the newer half of
	// them reaches DedupMax/2, the older half is forgotten, however young.
	// Zero or less means DefaultDedupMax (about 12 MiB of memory when
	// full).
	DedupMax int
	// MaxDeadLetters caps the dead letters kept; past it the oldest are
	// dropped, with a warning. Zero or less means DefaultMaxDeadLetters.
	MaxDeadLetters int
	// MaxDelay is how far ahead a delayed event may be due; MaxDelayed
	// caps the delayed events held (see delayed.go). Zero or less means
	// DefaultMaxDelay and DefaultMaxDelayed.
	MaxDelay   time.Duration
	MaxDelayed int
	// Logger receives the bus's warnings; nil discards them.
	Logger *slog.Logger
}

// Bus is the in-memory bus. Create it with New and stop it with Close.
// It is safe for concurrent use.
type Bus struct {
	queue          int
	maxDeadLetters int
	log            *slog.Logger
	start          time.Time // origin of bus time (monotonic)

	closed  atomic.Bool
	done    chan struct{} // closed by Close: stops the timer goroutine
	stopped chan struct{} // closed by the timer goroutine when it returns
	once    sync.Once

	// pubMu serialises publishing, redriving and changes to the set of
	// subscriptions, which makes deduplication and the all-or-nothing
	// queue check exact. Lock order: pubMu, then a subscription's mu (one
	// at a time), then tmu or dlMu.
	pubMu   sync.Mutex
	subs    []*subscription
	byName  map[string]*subscription
	seq     uint64
	dedup   dedup
	matched []*subscription // scratch for publish
	hashes  []uint64        // scratch for PublishBatch: the events' dedup hashes
	staging []*subscription // the subscriptions PublishBatch stages events for

	dlMu  sync.Mutex
	dead  []bus.DeadLetter // ordered by ID
	dlSeq uint64

	tmu   sync.Mutex
	theap timerHeap
	twake chan struct{}

	delayed delayedEvents
}

var _ bus.Bus = (*Bus)(nil)

// New returns a running Bus. Its one goroutine runs until Close.
func New(opts Options) *Bus {
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.DedupWindow == 0 {
		opts.DedupWindow = DefaultDedupWindow
	}
	if opts.DedupMax <= 0 {
		opts.DedupMax = DefaultDedupMax
	}
	if opts.MaxDeadLetters <= 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		queue:          opts.Queue,
		maxDeadLetters: opts.MaxDeadLetters,
		log:            opts.Logger,
		start:          time.Now(),
		done:           make(chan struct{}),
		stopped:        make(chan struct{}),
		byName:         make(map[string]*subscription),
		dedup:          newDedup(max(int64(opts.DedupWindow), 0), opts.DedupMax),
		twake:          make(chan struct{}, 1),
	}
	b.delayed.init(opts)
	go b.runTimers()
	return b
}

// now returns the bus time: monotonic nanoseconds since New.
func (b *Bus) now() int64 { return int64(time.Since(b.start)) }

// Publish implements bus.Bus.
func (b *Bus) Publish(ctx context.Context, e *event.Event) (bus.PubAck, error) {
	if err := ctx.Err(); err != nil {
		return bus.PubAck{}, err
	}
	b.pubMu.Lock()
	ack, err := b.publishLocked(e, b.hashOf(e), b.now())
	b.flushStagedLocked()
	b.pubMu.Unlock()
	return ack, err
}

// PublishBatch implements bus.Bus.
func (b *Bus) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	acks := buf[:0]
	if cap(acks) == 0 {
		acks = make([]bus.PubAck, 0, len(events))
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	now := b.now()
	hs := b.hashes[:0]
	for _, e := range events {
		hs = append(hs, b.hashOf(e))
	}
	b.hashes = hs
	b.dedup.touch(hs)
	var err error
	for i, e := range events {
		var ack bus.PubAck
		if ack, err = b.publishLocked(e, hs[i], now); err != nil {
			break
		}
		acks = append(acks, ack)
	}
	b.flushStagedLocked()
	return acks, err
}

// hashOf returns the dedup hash of e (0 for nil, which publishLocked
// refuses).
func (b *Bus) hashOf(e *event.Event) uint64 {
	if e == nil {
		return 0
	}
	return b.dedup.hash(dedupKey{source: e.Source, id: e.ID})
}

// publishLocked publishes e, of dedup hash h, staging it for the
// subscriptions (the caller enqueues it with flushStagedLocked); b.pubMu is
// held.
func (b *Bus) publishLocked(e *event.Event, h uint64, now int64) (bus.PubAck, error) {
	if b.closed.Load() {
		return bus.PubAck{}, bus.ErrClosed
	}
	if e == nil {
		return bus.PubAck{}, fmt.Errorf("%w: nil event", bus.ErrInvalidEvent)
	}
	if err := e.Validate(); err != nil {
		return bus.PubAck{}, fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	if err := event.ValidType(e.Type); err != nil {
		return bus.PubAck{}, fmt.Errorf("%w: %w", bus.ErrInvalidEvent, err)
	}
	at, delayed, err := b.delay(e)
	if err != nil {
		return bus.PubAck{}, err
	}
	key := dedupKey{source: e.Source, id: e.ID}
	seq, dup := b.dedup.lookup(key, h, now)
	if dup {
		return bus.PubAck{Seq: seq, Duplicate: true}, nil
	}
	if delayed {
		if err := b.hold(e, at); err != nil {
			return bus.PubAck{}, err
		}
	} else if err := b.stageLocked(e); err != nil {
		return bus.PubAck{}, err
	}
	b.seq++
	b.dedup.add(key, h, b.seq, now)
	return bus.PubAck{Seq: b.seq}, nil
}

// enqueueLocked enqueues e for every subscription it matches, or for none
// when one is full; b.pubMu is held.
func (b *Bus) enqueueLocked(e *event.Event) error {
	err := b.stageLocked(e)
	b.flushStagedLocked()
	return err
}

// stageLocked stages e for every subscription it matches, or for none
// when one is full: it checks each one's room against what it had when the
// batch first staged an event for it, less what the batch staged since;
// flushStagedLocked then enqueues the batch with one lock of each
// subscription, where a lock per event would be taken otherwise. The room
// read is a lower bound while b.pubMu is held: only publishing, redriving
// and Subscribe (all under b.pubMu) take room, and settling only gives it
// back. b.pubMu is held.
func (b *Bus) stageLocked(e *event.Event) error {
	matched := b.matched[:0]
	defer func() { clear(matched); b.matched = matched[:0] }()
	for _, s := range b.subs {
		if !event.MatchAny(s.patterns, e.Type) {
			continue
		}
		if !s.staging {
			s.mu.Lock()
			s.room = s.queue - s.heldLocked()
			s.mu.Unlock()
			s.staging = true
			b.staging = append(b.staging, s)
		}
		if s.room <= len(s.staged) {
			return &bus.BackpressureError{Subscription: s.name, Queue: s.queue}
		}
		matched = append(matched, s)
	}
	for _, s := range matched {
		s.staged = append(s.staged, e)
	}
	return nil
}

// flushRun is the most events flushStagedLocked enqueues in one take of a
// subscription's lock, so that the subscription's workers, which take it
// to ack and fetch, never wait for a whole batch (see RATIONALE.md).
const flushRun = 32

// flushStagedLocked enqueues the events stageLocked staged; b.pubMu is held.
func (b *Bus) flushStagedLocked() {
	for _, s := range b.staging {
		for i := 0; i < len(s.staged); i += flushRun {
			lockSpinning(&s.mu)
			for _, e := range s.staged[i:min(i+flushRun, len(s.staged))] {
				s.enqueueLocked(e, 1)
			}
			s.mu.Unlock()
		}
		clear(s.staged)
		s.staged, s.staging = s.staged[:0], false
	}
	clear(b.staging)
	b.staging = b.staging[:0]
}

// Subscribe implements bus.Bus.
func (b *Bus) Subscribe(ctx context.Context, sub bus.Subscription) (bus.Subscriber, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	patterns, err := sub.CompilePatterns()
	if err != nil {
		return nil, err
	}
	sub = sub.WithDefaults()
	if sub.Queue == 0 {
		sub.Queue = b.queue
	}
	sub.Patterns = append([]string(nil), sub.Patterns...)

	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.closed.Load() {
		return nil, bus.ErrClosed
	}
	s := b.byName[sub.Name]
	if s != nil {
		s.mu.Lock()
		n, by := len(s.parts), s.orderBy
		s.mu.Unlock()
		if n != sub.Partitions || by != sub.OrderBy {
			return nil, fmt.Errorf("%w %q: %w", bus.ErrInvalidSubscription, sub.Name, bus.ErrPartitioning)
		}
	}
	if s == nil {
		s = newSubscription(b, sub.Name)
		b.subs = append(b.subs, s)
		b.byName[sub.Name] = s
	}
	s.patterns = patterns
	s.mu.Lock()
	defer s.mu.Unlock()
	s.configureLocked(sub)
	c := &consumer{s: s, stop: make(chan struct{})}
	s.consumers[c] = struct{}{}
	return c, nil
}

// Unsubscribe implements bus.Bus.
func (b *Bus) Unsubscribe(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.closed.Load() {
		return bus.ErrClosed
	}
	s := b.byName[name]
	if s == nil {
		return fmt.Errorf("membus: subscription %q: %w", name, bus.ErrNotFound)
	}
	delete(b.byName, name)
	b.subs = slices.DeleteFunc(b.subs, func(t *subscription) bool { return t == s })
	s.mu.Lock()
	s.removeLocked()
	s.mu.Unlock()
	return nil
}

// Pause implements bus.Bus.
func (b *Bus) Pause(ctx context.Context, name string) error {
	return b.setPaused(ctx, name, true)
}

// Resume implements bus.Bus.
func (b *Bus) Resume(ctx context.Context, name string) error {
	return b.setPaused(ctx, name, false)
}

// Paused implements bus.Bus.
func (b *Bus) Paused(ctx context.Context, name string) (bool, error) {
	s, err := b.lookup(ctx, name)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused, nil
}

func (b *Bus) setPaused(ctx context.Context, name string, paused bool) error {
	s, err := b.lookup(ctx, name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = paused
	if !paused {
		s.signalLocked()
	}
	return nil
}

// lookup returns the subscription name.
func (b *Bus) lookup(ctx context.Context, name string) (*subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.closed.Load() {
		return nil, bus.ErrClosed
	}
	s := b.byName[name]
	if s == nil {
		return nil, fmt.Errorf("membus: subscription %q: %w", name, bus.ErrNotFound)
	}
	return s, nil
}

// DeadLetters implements bus.Bus.
func (b *Bus) DeadLetters(ctx context.Context, f bus.DeadLetterFilter) ([]bus.DeadLetter, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, bus.ErrClosed
	}
	b.dlMu.Lock()
	defer b.dlMu.Unlock()
	var out []bus.DeadLetter
	for i := sort.Search(len(b.dead), func(i int) bool { return b.dead[i].ID > f.After }); i < len(b.dead); i++ {
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
		if f.Match(&b.dead[i]) {
			out = append(out, b.dead[i])
		}
	}
	return out, nil
}

// Redrive implements bus.Bus.
func (b *Bus) Redrive(ctx context.Context, id uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	if b.closed.Load() {
		return bus.ErrClosed
	}
	// b.pubMu serialises redrives, so the record cannot go away between
	// here and its removal below.
	b.dlMu.Lock()
	i, found := b.findDeadLetter(id)
	var dl bus.DeadLetter
	if found {
		dl = b.dead[i]
	}
	b.dlMu.Unlock()
	if !found {
		return fmt.Errorf("membus: dead letter %d: %w", id, bus.ErrNotFound)
	}
	s := b.byName[dl.Subscription]
	if s == nil {
		return fmt.Errorf("membus: dead letter %d: subscription %q: %w", id, dl.Subscription, bus.ErrNotFound)
	}
	s.mu.Lock()
	if s.heldLocked() >= s.queue {
		s.mu.Unlock()
		return &bus.BackpressureError{Subscription: s.name, Queue: s.queue}
	}
	s.enqueueLocked(dl.Event, 1)
	s.mu.Unlock()

	b.dlMu.Lock()
	if i, found := b.findDeadLetter(id); found {
		b.dead = slices.Delete(b.dead, i, i+1)
	}
	b.dlMu.Unlock()
	return nil
}

// findDeadLetter returns the index of the dead letter id; b.dlMu is held.
func (b *Bus) findDeadLetter(id uint64) (int, bool) {
	i := sort.Search(len(b.dead), func(i int) bool { return b.dead[i].ID >= id })
	return i, i < len(b.dead) && b.dead[i].ID == id
}

// addDeadLetter records dl, giving it the next ID.
func (b *Bus) addDeadLetter(dl bus.DeadLetter) {
	b.dlMu.Lock()
	defer b.dlMu.Unlock()
	b.dlSeq++
	dl.ID = b.dlSeq
	if len(b.dead) >= b.maxDeadLetters {
		old := b.dead[0]
		b.log.Warn("membus: dead-letter store full, dropped the oldest dead letter",
			"dead_letter", old.ID, "subscription", old.Subscription,
			"event_id", old.Event.ID, "event_type", old.Event.Type, "max", b.maxDeadLetters)
		b.dead[0] = bus.DeadLetter{}
		b.dead = b.dead[1:]
	}
	b.dead = append(b.dead, dl)
}

// Close implements bus.Bus.
func (b *Bus) Close(ctx context.Context) error {
	b.once.Do(func() {
		b.pubMu.Lock()
		b.closed.Store(true)
		for _, s := range b.subs {
			s.mu.Lock()
			s.stopConsumersLocked()
			s.mu.Unlock()
		}
		b.delayed.stop()
		b.pubMu.Unlock()
		close(b.done)
	})
	select {
	case <-b.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PauseStates reports which subscriptions are paused.
func (b *Bus) PauseStates() map[string]bool {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	m := make(map[string]bool, len(b.subs))
	for _, s := range b.subs {
		s.mu.Lock()
		m[s.name] = s.paused
		s.mu.Unlock()
	}
	return m
}

// Pending returns, for every subscription, the events it holds unsettled:
// waiting, in flight and waiting for redelivery.
func (b *Bus) Pending() map[string]int64 {
	b.pubMu.Lock()
	defer b.pubMu.Unlock()
	m := make(map[string]int64, len(b.subs))
	for _, s := range b.subs {
		s.mu.Lock()
		m[s.name] = int64(s.heldLocked())
		s.mu.Unlock()
	}
	return m
}
