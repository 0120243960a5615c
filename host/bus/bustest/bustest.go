// Package bustest is the conformance suite of the bus contract (package
// bus): one set of tests that every implementation runs from its own
// tests, modelled on Watermill's universal pub/sub tests.
//
//	func TestConformance(t *testing.T) {
//		bustest.Run(t, func(t *testing.T) bus.Bus { return membus.New(membus.Options{}) })
//	}
//
// The suite never sleeps in place of synchronisation: it waits on
// deliveries, with a generous deadline that only a failing test reaches,
// and it proves that nothing else was delivered by publishing a "barrier"
// event and receiving it next (one consumer of a subscription gets its
// events in order). Tests that exercise delays (Nak, ack wait) measure them
// and take a few hundred milliseconds; subtests run in parallel.
//
// It imports host/bus, host/event and the standard library only.
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Features declares what a bus supports beyond the core contract, to run
// the tests of those features too. The zero value runs the core suite.
type Features struct {
	// Persistent means that subscriptions, the events they hold
	// (unsettled deliveries included) and dead letters survive closing the
	// bus and opening it again on the same storage with Reopen, which must
	// then be set.
	Persistent bool
	// Reopen opens a new bus on the storage of closed, a bus made by the
	// suite's newBus function that the suite has closed.
	Reopen func(t *testing.T, closed bus.Bus) bus.Bus
	// Timeout bounds each subtest's waits for what must happen; only a
	// failing test waits that long. Zero means 20 seconds.
	Timeout time.Duration
}

// Run runs the core conformance suite. newBus must return a new, empty,
// running bus with deduplication on (a window of a minute or more) and a
// default queue bound of at least 1024; the suite closes every bus it gets.
func Run(t *testing.T, newBus func(t *testing.T) bus.Bus) {
	RunFeatures(t, newBus, Features{})
}

// RunFeatures runs the core conformance suite and the tests of the
// features f declares.
func RunFeatures(t *testing.T, newBus func(t *testing.T) bus.Bus, f Features) {
	if f.Timeout <= 0 {
		f.Timeout = 20 * time.Second
	}
	if f.Persistent && f.Reopen == nil {
		t.Fatal("bustest: Features.Persistent needs Features.Reopen")
	}
	tests := []struct {
		name string
		fn   func(*harness)
		need bool
	}{
		{"PublishSubscribe", testPublishSubscribe, true},
		{"EventIntact", testEventIntact, true},
		{"EveryMatchingSubscription", testEveryMatchingSubscription, true},
		{"Patterns", testPatterns, true},
		{"NoCrossTalk", testNoCrossTalk, true},
		{"NoCrossTalkBetweenBuses", testNoCrossTalkBetweenBuses, true},
		{"OnlyLaterEvents", testOnlyLaterEvents, true},
		{"ConcurrentPublishersAndConsumers", testConcurrent, true},
		{"Ack", testAck, true},
		{"NakImmediate", testNakImmediate, true},
		{"NakDelay", testNakDelay, true},
		{"NakBackoff", testNakBackoff, true},
		{"Term", testTerm, true},
		{"MaxAttempts", testMaxAttempts, true},
		{"AckWait", testAckWait, true},
		{"AckWaitMaxAttempts", testAckWaitMaxAttempts, true},
		{"Redrive", testRedrive, true},
		{"DeadLetterFilter", testDeadLetterFilter, true},
		{"Dedup", testDedup, true},
		{"Close", testClose, true},
		{"Backpressure", testBackpressure, true},
		{"BackpressureBatch", testBackpressureBatch, true},
		{"SharedSubscription", testSharedSubscription, true},
		{"SharedSubscriptionConcurrent", testSharedConcurrent, true},
		{"SubscriberClose", testSubscriberClose, true},
		{"SubscriptionOutlivesSubscriber", testSubscriptionOutlivesSubscriber, true},
		{"Unsubscribe", testUnsubscribe, true},
		{"Pause", testPause, true},
		{"Extend", testExtend, true},
		{"UpdateSubscription", testUpdateSubscription, true},
		{"ContextCancellation", testContext, true},
		{"Fetch", testFetch, true},
		{"PublishBatch", testPublishBatch, true},
		{"InvalidEvent", testInvalidEvent, true},
		{"Delayed", testDelayed, true},
		{"InvalidSubscription", testInvalidSubscription, true},
		{"Persistent", testPersistent, f.Persistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.need {
				t.Skip("bustest: the bus does not declare this feature")
			}
			t.Parallel()
			tt.fn(newHarness(t, newBus, f))
		})
	}
}

// harness is one subtest's bus and helpers.
type harness struct {
	t      *testing.T
	b      bus.Bus
	newBus func(t *testing.T) bus.Bus
	f      Features
	c      context.Context // ends Features.Timeout after the subtest starts
}

func newHarness(t *testing.T, newBus func(t *testing.T) bus.Bus, f Features) *harness {
	ctx, cancel := context.WithTimeout(context.Background(), f.Timeout)
	t.Cleanup(cancel)
	h := &harness{t: t, newBus: newBus, f: f, c: ctx}
	h.b = h.open()
	return h
}

// open returns a new bus that is closed when the test ends.
func (h *harness) open() bus.Bus {
	b := h.newBus(h.t)
	h.t.Cleanup(func() { h.closeBus(b) })
	return b
}

func (h *harness) closeBus(b bus.Bus) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.f.Timeout)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		h.t.Errorf("Close: %v", err)
	}
}

// ctx returns the subtest's context, which ends Features.Timeout after
// the subtest started: a deadline that only a failing test reaches.
func (h *harness) ctx() context.Context { return h.c }

// runID keeps the event ids of one test process apart from another's, for
// buses whose storage outlives a run.
var runID = func() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

var eventSeq atomic.Uint64

// newEvent returns a valid event of type typ with a unique id.
func newEvent(typ string) *event.Event {
	n := eventSeq.Add(1)
	return &event.Event{
		ID:              fmt.Sprintf("%s-%d", runID, n),
		Source:          "/bustest",
		Type:            typ,
		SpecVersion:     event.SpecVersion,
		DataContentType: "application/json",
		Data:            []byte(fmt.Sprintf(`{"n":%d}`, n)),
	}
}

// publish publishes e on h's bus and fails the test on error.
func (h *harness) publish(e *event.Event) bus.PubAck {
	h.t.Helper()
	return h.publishOn(h.b, e)
}

func (h *harness) publishOn(b bus.Bus, e *event.Event) bus.PubAck {
	h.t.Helper()
	ack, err := b.Publish(h.ctx(), e)
	if err != nil {
		h.t.Fatalf("Publish(%s %s): %v", e.Type, e.ID, err)
	}
	return ack
}

// publishN publishes n new events of type typ and returns them.
func (h *harness) publishN(typ string, n int) []*event.Event {
	h.t.Helper()
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent(typ)
		h.publish(evs[i])
	}
	return evs
}

// consumer is a Subscriber of the subscription name, with helpers.
type consumer struct {
	h    *harness
	b    bus.Bus
	name string
	s    bus.Subscriber
}

// barrierType is the event type that only the subscription name receives,
// to prove that nothing is queued before it.
func barrierType(name string) string { return "bustest-barrier." + name }

// subscribe subscribes to sub on h's bus, adding the subscription's
// barrier type to its patterns.
func (h *harness) subscribe(sub bus.Subscription) *consumer {
	h.t.Helper()
	return h.subscribeOn(h.b, sub)
}

func (h *harness) subscribeOn(b bus.Bus, sub bus.Subscription) *consumer {
	h.t.Helper()
	sub.Patterns = append(append([]string(nil), sub.Patterns...), barrierType(sub.Name))
	s, err := b.Subscribe(h.ctx(), sub)
	if err != nil {
		h.t.Fatalf("Subscribe(%s): %v", sub.Name, err)
	}
	c := &consumer{h: h, b: b, name: sub.Name, s: s}
	h.t.Cleanup(func() { _ = s.Close() })
	return c
}

// isBarrier reports whether e is a barrier event.
func isBarrier(e *event.Event) bool { return strings.HasPrefix(e.Type, "bustest-barrier.") }

// next returns the next delivery, acking and skipping the barriers of other
// subscriptions (which a "everything" pattern receives), and fails the test
// if none comes in time.
func (c *consumer) next() bus.Delivery {
	c.h.t.Helper()
	for {
		d, err := c.s.Next(c.h.ctx())
		if err != nil {
			c.h.t.Fatalf("%s: Next: %v", c.name, err)
		}
		if isBarrier(d.Event()) && d.Event().Type != barrierType(c.name) {
			_ = d.Ack()
			continue
		}
		return d
	}
}

// nextAck returns the event of the next delivery, which it acks.
func (c *consumer) nextAck() *event.Event {
	c.h.t.Helper()
	d := c.next()
	if err := d.Ack(); err != nil {
		c.h.t.Fatalf("%s: Ack: %v", c.name, err)
	}
	return d.Event()
}

// expect receives len(want) deliveries, checks that they are want's events
// in order on their first attempt, and acks them.
func (c *consumer) expect(want ...*event.Event) {
	c.h.t.Helper()
	for i, w := range want {
		d := c.next()
		if got := d.Event(); got.ID != w.ID {
			c.h.t.Fatalf("%s: delivery %d is %s %s, want %s %s", c.name, i, got.Type, got.ID, w.Type, w.ID)
		}
		if d.Attempt() != 1 {
			c.h.t.Errorf("%s: delivery %d: attempt %d, want 1", c.name, i, d.Attempt())
		}
		if err := d.Ack(); err != nil {
			c.h.t.Fatalf("%s: Ack: %v", c.name, err)
		}
	}
}

// drained proves that the subscription holds nothing ready: it publishes
// the subscription's barrier and expects it as the next delivery.
func (c *consumer) drained() {
	c.h.t.Helper()
	barrier := newEvent(barrierType(c.name))
	c.h.publishOn(c.b, barrier)
	d := c.next()
	if d.Event().ID != barrier.ID {
		c.h.t.Fatalf("%s: got %s %s (attempt %d), want nothing before the barrier",
			c.name, d.Event().Type, d.Event().ID, d.Attempt())
	}
	if err := d.Ack(); err != nil {
		c.h.t.Fatalf("%s: Ack barrier: %v", c.name, err)
	}
}

// deadLetters lists the dead letters of f and fails the test on error.
func (h *harness) deadLetters(f bus.DeadLetterFilter) []bus.DeadLetter {
	h.t.Helper()
	dls, err := h.b.DeadLetters(h.ctx(), f)
	if err != nil {
		h.t.Fatalf("DeadLetters: %v", err)
	}
	return dls
}

// eventually polls cond until it holds or the suite's timeout passes. It is
// for outcomes the contract does not synchronise with a call (a dead letter
// made by an ack-wait expiry).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(h.f.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func (h *harness) wantErr(what string, err, target error) {
	h.t.Helper()
	if !errors.Is(err, target) {
		h.t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// result is the outcome of a call made on another goroutine.
type result struct {
	d   bus.Delivery
	err error
}

// nextAsync calls Next on another goroutine and returns its outcome's
// channel.
func (c *consumer) nextAsync(ctx context.Context) <-chan result {
	ch := make(chan result, 1)
	go func() {
		d, err := c.s.Next(ctx)
		ch <- result{d, err}
	}()
	return ch
}

// blockedFor is how long stillBlocked watches a call that must not return.
const blockedFor = 50 * time.Millisecond

// stillBlocked checks that the call behind ch does not return for a while:
// a Next with nothing to deliver keeps waiting. It also lets the call reach
// its wait, so that what the test does next wakes a blocked call (if the
// call were slower to start, the test would still be correct, only
// weaker).
func (h *harness) stillBlocked(ch <-chan result, what string) {
	h.t.Helper()
	select {
	case r := <-ch:
		h.t.Fatalf("%s returned with nothing to deliver: %v", what, r.err)
	case <-time.After(blockedFor):
	}
}

// wait returns the outcome on ch, failing the test if it takes too long.
func (h *harness) wait(ch <-chan result, what string) result {
	h.t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(h.f.Timeout):
		h.t.Fatalf("timed out waiting for %s", what)
		return result{}
	}
}
