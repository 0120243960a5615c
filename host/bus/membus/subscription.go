package membus

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Slot states.
const (
	slotFree     uint8 = iota
	slotReady          // in the ready ring
	slotInflight       // delivered, not settled
	slotDelayed        // Nak'ed with a delay; a timer entry will make it ready
)

// slot holds one event of a subscription until it is settled.
type slot struct {
	ev       *event.Event
	reason   string // the reason of the last failed attempt
	deadline int64  // ack-wait expiry of the current delivery, in bus time
	gen      uint32 // incremented at every delivery; part of the delivery token
	attempt  int32  // deliveries made so far
	part     int32  // partition, when the subscription is partitioned
	state    uint8
}

// token packs a slot index and a generation into a delivery token.
func token(idx int32, gen uint32) uint64 { return uint64(idx)<<32 | uint64(gen) }

// subscription is one durable subscription: a bounded queue of events,
// shared by its consumers.
type subscription struct {
	b    *Bus
	name string

	// patterns, and the batch being staged (see Bus.stageLocked), are
	// guarded by b.pubMu.
	patterns []event.Pattern
	staging  bool           // in b.staging, with room read
	room     int            // room when the batch first staged an event here
	staged   []*event.Event // events staged, not yet enqueued

	mu          sync.Mutex
	queue       int   // bound on the events held
	maxAttempts int32 // attempts before dead-lettering
	ackWait     int64
	backoff     bus.Backoff
	slots       []slot
	free        []int32 // indexes of free slots
	// ready holds the indexes of slots ready for delivery, FIFO; in a
	// partitioned subscription, the partitions whose first slot is ready.
	ready ring[int32]
	// parts, in a partitioned subscription, are each partition's slots in
	// the order published; only the first of each is ever delivered.
	parts     []ring[int32]
	orderBy   string
	orderKey  func(*event.Event) string
	inflight  int // slots in state slotInflight
	waiters   int // consumers blocked in Fetch
	notify    chan struct{}
	consumers map[*consumer]struct{}
	removed   bool  // deleted by Unsubscribe
	paused    bool  // by Pause: nothing is delivered
	sweepAt   int64 // when the scheduled ack-wait sweep is due; 0 if none
}

var _ bus.Settler = (*subscription)(nil)

func newSubscription(b *Bus, name string) *subscription {
	return &subscription{
		b:         b,
		name:      name,
		notify:    make(chan struct{}, 1),
		consumers: make(map[*consumer]struct{}),
	}
}

// configureLocked applies sub, which has its defaults; s.mu is held.
func (s *subscription) configureLocked(sub bus.Subscription) {
	s.queue = sub.Queue
	s.maxAttempts = int32(min(sub.MaxAttempts, math.MaxInt32))
	s.ackWait = int64(sub.AckWait)
	s.backoff = sub.Backoff
	if sub.Partitions > 0 && s.parts == nil {
		s.parts = make([]ring[int32], sub.Partitions)
	}
	s.orderBy, s.orderKey = sub.OrderBy, sub.OrderKey
	// A shorter ack wait may make a delivery due before the sweep.
	if at := s.b.now() + s.ackWait; s.sweepAt != 0 && at < s.sweepAt {
		s.scheduleSweepLocked(at)
	}
}

// heldLocked returns the number of events held unsettled; s.mu is held.
func (s *subscription) heldLocked() int { return len(s.slots) - len(s.free) }

// enqueueLocked adds e as ready, with attempts made so far set to
// attempt-1; s.mu is held and the caller has checked the bound.
func (s *subscription) enqueueLocked(e *event.Event, attempt int32) {
	var idx int32
	if n := len(s.free); n > 0 {
		idx = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		idx = int32(len(s.slots))
		s.slots = append(s.slots, slot{})
	}
	sl := &s.slots[idx]
	sl.ev, sl.reason, sl.attempt, sl.state = e, "", attempt-1, slotReady
	if s.parts == nil {
		s.ready.push(idx)
		s.signalLocked()
		return
	}
	p := int32(bus.Partition(s.orderKey(e), len(s.parts)))
	sl.part = p
	if s.parts[p].push(idx); s.parts[p].len() == 1 {
		s.readyLocked(idx)
	}
}

// readyLocked makes the ready slot idx deliverable: the slot itself, or
// in a partitioned subscription its partition, whose first slot it is;
// s.mu is held.
func (s *subscription) readyLocked(idx int32) {
	if s.parts == nil {
		s.ready.push(idx)
	} else {
		s.ready.push(s.slots[idx].part)
	}
	s.signalLocked()
}

// signalLocked wakes one blocked consumer, if any; s.mu is held.
func (s *subscription) signalLocked() {
	if s.waiters > 0 {
		select {
		case s.notify <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// releaseLocked frees the slot idx; in a partitioned subscription, the
// next slot of its partition becomes deliverable. s.mu is held.
func (s *subscription) releaseLocked(idx int32) {
	p := s.slots[idx].part
	s.slots[idx] = slot{gen: s.slots[idx].gen}
	s.free = append(s.free, idx)
	if s.parts != nil && s.parts[p].len() > 0 && s.parts[p].peek() == idx {
		s.parts[p].pop()
		if s.parts[p].len() > 0 {
			s.readyLocked(s.parts[p].peek())
		}
	}
}

// takeLocked delivers up to len(buf) ready events into buf, or only one
// unless at least len(buf) are ready for each of share callers; s.mu is
// held.
func (s *subscription) takeLocked(buf []bus.Delivery, share int) int {
	if s.ready.len() == 0 || s.paused {
		return 0
	}
	deadline := s.b.now() + s.ackWait
	n, limit := 0, len(buf)
	if share > 1 && s.ready.len() < limit*share {
		limit = 1
	}
	for n < limit && s.ready.len() > 0 {
		idx := s.ready.pop()
		if s.parts != nil {
			idx = s.parts[idx].peek()
		}
		sl := &s.slots[idx]
		sl.gen++
		sl.attempt++
		sl.state = slotInflight
		sl.deadline = deadline
		buf[n] = bus.NewDelivery(sl.ev, int(sl.attempt), s, token(idx, sl.gen))
		n++
	}
	s.inflight += n
	if s.sweepAt == 0 || deadline < s.sweepAt {
		s.scheduleSweepLocked(deadline)
	}
	return n
}

// scheduleSweepLocked makes the ack-wait sweep due at at; s.mu is held.
// Earlier entries become stale: sweep ignores an entry that is not s.sweepAt.
func (s *subscription) scheduleSweepLocked(at int64) {
	s.sweepAt = at
	s.b.schedule(timerEntry{at: at, s: s, sweep: true})
}

// sweep is the timer entry due at at: it expires the deliveries whose ack
// wait is over and schedules the next sweep.
func (s *subscription) sweep(at int64) {
	var dead []bus.DeadLetter
	s.mu.Lock()
	if s.removed || at != s.sweepAt {
		s.mu.Unlock()
		return
	}
	s.sweepAt = 0
	now := s.b.now()
	next := int64(math.MaxInt64)
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.state != slotInflight {
			continue
		}
		if sl.deadline > now {
			next = min(next, sl.deadline)
			continue
		}
		s.inflight--
		if dl, ok := s.failLocked(int32(i), bus.ReasonAckWait, 0); ok {
			dead = append(dead, dl)
		}
	}
	if s.inflight > 0 {
		// Sweep at the earliest deadline, but not too often.
		s.scheduleSweepLocked(max(next, now+s.ackWait/16))
	}
	s.mu.Unlock()
	for _, dl := range dead {
		s.b.addDeadLetter(dl)
	}
}

// failLocked records a failed attempt of the slot idx, which is no longer
// in flight: it makes the slot ready again, or delayed, or returns the dead
// letter to record once s.mu is released; s.mu is held.
func (s *subscription) failLocked(idx int32, reason string, delay time.Duration) (bus.DeadLetter, bool) {
	sl := &s.slots[idx]
	if sl.attempt >= s.maxAttempts {
		dl := bus.DeadLetter{
			Event:        sl.ev,
			Subscription: s.name,
			Reason:       reason,
			Attempts:     int(sl.attempt),
			Time:         time.Now(),
		}
		s.releaseLocked(idx)
		return dl, true
	}
	sl.reason = reason
	if delay <= 0 {
		sl.state = slotReady
		s.readyLocked(idx)
		return bus.DeadLetter{}, false
	}
	sl.state = slotDelayed
	s.b.schedule(timerEntry{at: s.b.now() + int64(delay), s: s, idx: idx, gen: sl.gen})
	return bus.DeadLetter{}, false
}

// wake is the timer entry that ends the Nak delay of the slot idx.
func (s *subscription) wake(idx int32, gen uint32) {
	s.mu.Lock()
	if !s.removed && int(idx) < len(s.slots) {
		if sl := &s.slots[idx]; sl.state == slotDelayed && sl.gen == gen {
			sl.state = slotReady
			s.readyLocked(idx)
		}
	}
	s.mu.Unlock()
}

// settleLocked checks the delivery token t and returns its slot index;
// s.mu is held.
func (s *subscription) settleLocked(t uint64) (int32, error) {
	if s.b.closed.Load() {
		return 0, bus.ErrClosed
	}
	if s.removed {
		return 0, fmt.Errorf("membus: subscription %q deleted: %w", s.name, bus.ErrClosed)
	}
	idx, gen := int32(t>>32), uint32(t)
	if int(idx) >= len(s.slots) || s.slots[idx].state != slotInflight || s.slots[idx].gen != gen {
		return 0, bus.ErrSettled
	}
	s.inflight--
	return idx, nil
}

// Extend implements bus.Settler: the delivery's ack wait starts again.
func (s *subscription) Extend(t uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.closed.Load() {
		return bus.ErrClosed
	}
	if s.removed {
		return fmt.Errorf("membus: subscription %q deleted: %w", s.name, bus.ErrClosed)
	}
	idx, gen := int32(t>>32), uint32(t)
	if int(idx) >= len(s.slots) || s.slots[idx].state != slotInflight || s.slots[idx].gen != gen {
		return bus.ErrSettled
	}
	s.slots[idx].deadline = s.b.now() + s.ackWait
	return nil
}

// Ack implements bus.Settler.
func (s *subscription) Ack(t uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ackLocked(t)
}

// ackLocked acks the delivery of token t; s.mu is held.
func (s *subscription) ackLocked(t uint64) error {
	idx, err := s.settleLocked(t)
	if err == nil {
		s.releaseLocked(idx)
	}
	return err
}

// Nak implements bus.Settler.
func (s *subscription) Nak(t uint64, delay time.Duration, reason string) error {
	s.mu.Lock()
	idx, err := s.settleLocked(t)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if delay < 0 {
		delay = s.backoff.Delay(int(s.slots[idx].attempt))
	}
	dl, dead := s.failLocked(idx, reason, delay)
	s.mu.Unlock()
	if dead {
		s.b.addDeadLetter(dl)
	}
	return nil
}

// Term implements bus.Settler.
func (s *subscription) Term(t uint64, reason string) error {
	s.mu.Lock()
	idx, err := s.settleLocked(t)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	sl := &s.slots[idx]
	dl := bus.DeadLetter{
		Event:        sl.ev,
		Subscription: s.name,
		Reason:       reason,
		Attempts:     int(sl.attempt),
		Terminated:   true,
		Time:         time.Now(),
	}
	s.releaseLocked(idx)
	s.mu.Unlock()
	s.b.addDeadLetter(dl)
	return nil
}

// stopConsumersLocked wakes every consumer for good; s.mu is held.
func (s *subscription) stopConsumersLocked() {
	for c := range s.consumers {
		c.stopLocked()
	}
	clear(s.consumers)
}

// removeLocked deletes the subscription's state; s.mu is held.
func (s *subscription) removeLocked() {
	s.removed = true
	s.stopConsumersLocked()
	s.slots, s.free, s.inflight, s.sweepAt, s.parts = nil, nil, 0, 0, nil
	s.ready.reset()
}

// consumer is one bus.Subscriber of a subscription.
type consumer struct {
	s       *subscription
	stop    chan struct{} // closed when the consumer must stop waiting
	stopped bool          // stop is closed; guarded by s.mu
	closed  bool          // Close was called; guarded by s.mu
}

var _ bus.Subscriber = (*consumer)(nil)

// stopLocked closes c.stop once; c.s.mu is held.
func (c *consumer) stopLocked() {
	if !c.stopped {
		c.stopped = true
		close(c.stop)
	}
}

// errLocked returns why c cannot receive deliveries, or nil; c.s.mu is held.
func (c *consumer) errLocked() error {
	switch {
	case c.closed:
		return fmt.Errorf("membus: subscriber of %q closed: %w", c.s.name, bus.ErrClosed)
	case c.s.removed:
		return fmt.Errorf("membus: subscription %q deleted: %w", c.s.name, bus.ErrClosed)
	case c.s.b.closed.Load():
		return bus.ErrClosed
	}
	return nil
}

// Next implements bus.Subscriber.
func (c *consumer) Next(ctx context.Context) (bus.Delivery, error) {
	var buf [1]bus.Delivery
	_, err := c.Fetch(ctx, buf[:])
	return buf[0], err
}

// Fetch implements bus.Subscriber.
func (c *consumer) Fetch(ctx context.Context, buf []bus.Delivery) (int, error) {
	return c.AckFetch(ctx, nil, nil, buf, 1)
}

// AckFetch implements bus.FairFetcher.
func (c *consumer) AckFetch(ctx context.Context, done []bus.Delivery, errs []error, buf []bus.Delivery, share int) (int, error) {
	s := c.s
	lockSpinning(&s.mu)
	defer s.mu.Unlock()
	for i, d := range done {
		st, t := d.Token()
		if st != bus.Settler(s) {
			errs[i] = fmt.Errorf("membus: a delivery of another subscription than %q: %w", s.name, bus.ErrSettled)
			continue
		}
		errs[i] = s.ackLocked(t)
	}
	if len(buf) == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return c.fetchLocked(ctx, buf, share)
}

// fetchLocked is Fetch for one of share callers; s.mu is held, and
// released while it waits.
func (c *consumer) fetchLocked(ctx context.Context, buf []bus.Delivery, share int) (int, error) {
	s := c.s
	for {
		if err := c.errLocked(); err != nil {
			s.passWakeLocked()
			return 0, err
		}
		if n := s.takeLocked(buf, share); n > 0 {
			s.passWakeLocked()
			return n, nil
		}
		s.waiters++
		s.mu.Unlock()
		var err error
		select {
		case <-s.notify:
		case <-c.stop:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiters--
		if err != nil {
			s.passWakeLocked()
			return 0, err
		}
	}
}

// passWakeLocked wakes another blocked consumer when events are left for
// it, so that a wake-up consumed by a consumer that is leaving, or that
// took only part of the ready events, is not lost; s.mu is held.
func (s *subscription) passWakeLocked() {
	if s.ready.len() > 0 && !s.paused {
		s.signalLocked()
	}
}

// Close implements bus.Subscriber.
func (c *consumer) Close() error {
	s := c.s
	s.mu.Lock()
	c.closed = true
	c.stopLocked()
	delete(s.consumers, c)
	s.mu.Unlock()
	return nil
}
