package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

const waitLimit = 20 * time.Second // a failure bound only, never a synchronisation

func setup(t *testing.T) (bus.Bus, *dispatch.Dispatcher) {
	t.Helper()
	return setupObserved(t, nil)
}

// setupObserved is setup with obs as the dispatcher's Observer.
func setupObserved(t *testing.T, obs dispatch.Observer) (bus.Bus, *dispatch.Dispatcher) {
	t.Helper()
	b := membus.New(membus.Options{})
	d := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
	t.Cleanup(func() {
		d.Close(context.Background())
		b.Close(context.Background())
	})
	return b, d
}

var seq atomic.Int64

func ev(typ string) *event.Event {
	return &event.Event{ID: fmt.Sprintf("e%d", seq.Add(1)), Source: "/t", Type: typ, SpecVersion: "1.0"}
}

func publish(t *testing.T, b bus.Bus, e *event.Event) {
	t.Helper()
	if _, err := b.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// recv waits for one value or fails the test.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

func TestEveryMatchingRouteGetsEveryEvent(t *testing.T) {
	b, d := setup(t)
	got := make(chan string, 100)
	h := func(name string) dispatch.Handler {
		return dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
			got <- name + ":" + e.Type
			return dispatch.Outcome{}
		})
	}
	err := d.Apply(context.Background(), []dispatch.Route{
		{Name: "orders", Patterns: []string{"order.*"}, Handler: h("orders"), Concurrency: 4},
		{Name: "audit", Patterns: []string{">"}, Handler: h("audit"), Concurrency: 2},
		{Name: "payments", Patterns: []string{"payment.charged"}, Handler: h("payments")},
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("order.placed"))
	publish(t, b, ev("payment.charged"))
	seen := map[string]int{}
	for i := 0; i < 4; i++ {
		seen[recv(t, got)]++
	}
	for _, want := range []string{"orders:order.placed", "audit:order.placed", "audit:payment.charged", "payments:payment.charged"} {
		if seen[want] != 1 {
			t.Errorf("%s delivered %d times (%v)", want, seen[want], seen)
		}
	}
}

// Emits are published only when the handler succeeds, and a chain runs.
func TestEmitsOnlyOnSuccess(t *testing.T) {
	b, d := setup(t)
	got := make(chan *event.Event, 10)
	var calls atomic.Int32
	err := d.Apply(context.Background(), []dispatch.Route{
		{Name: "payment", Patterns: []string{"order.placed"}, MaxAttempts: 3, Backoff: bus.Backoff{Initial: time.Millisecond},
			Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, attempt int) dispatch.Outcome {
				child := &event.Event{Type: "payment.charged"}
				event.StampChild(child, e, "/payment", "payment", 0, time.Now())
				calls.Add(1)
				if attempt == 1 { // fails once, with an emit that must not be published
					return dispatch.Outcome{Status: dispatch.Retry, Reason: "card declined", Emits: []*event.Event{child}}
				}
				return dispatch.Outcome{Emits: []*event.Event{child}}
			})},
		{Name: "email", Patterns: []string{"payment.charged"},
			Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
				got <- e
				return dispatch.Outcome{}
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	root := ev("order.placed")
	publish(t, b, root)
	e := recv(t, got)
	if c, _ := e.Ext(event.ExtCausationID); c != root.ID {
		t.Fatalf("causationid %q", c)
	}
	// Nothing else arrives: the failed attempt's emit was dropped, and the
	// retry's emit (same deterministic id) was published once.
	publish(t, b, ev("order.placed"))
	recv(t, got)
	select {
	case extra := <-got:
		t.Fatalf("unexpected extra event %+v", extra)
	default:
	}
	if calls.Load() != 4 { // each event: one failed attempt, one success
		t.Fatalf("%d calls, want 4", calls.Load())
	}
}

// flakyBus fails its first PublishBatch calls, as a NATS cluster does
// while it elects a stream's leader.
type flakyBus struct {
	bus.Bus
	fails atomic.Int32
}

func (f *flakyBus) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	if f.fails.Add(-1) >= 0 {
		return nil, errors.New("flaky: no stream answered")
	}
	return f.Bus.PublishBatch(ctx, events, buf)
}

// A bus that fails to store a handler's emits for a moment does not cost
// the event an attempt: the worker publishes the emits again, and the
// event is handled once, not dead-lettered, even with a single attempt.
func TestEmitsOutlastABriefBusFailure(t *testing.T) {
	mb := membus.New(membus.Options{})
	b := &flakyBus{Bus: mb}
	b.fails.Store(4)
	d := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		d.Close(context.Background())
		mb.Close(context.Background())
	})
	got := make(chan *event.Event, 10)
	var calls atomic.Int32
	err := d.Apply(context.Background(), []dispatch.Route{
		{Name: "payment", Patterns: []string{"order.placed"}, MaxAttempts: 1,
			Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
				calls.Add(1)
				child := &event.Event{Type: "payment.charged"}
				event.StampChild(child, e, "/payment", "payment", 0, time.Now())
				return dispatch.Outcome{Emits: []*event.Event{child}}
			})},
		{Name: "email", Patterns: []string{"payment.charged"},
			Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
				got <- e
				return dispatch.Outcome{}
			})},
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("order.placed"))
	recv(t, got)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
	if dls, err := mb.DeadLetters(context.Background(), bus.DeadLetterFilter{}); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
}

func TestRetriesThenDeadLetter(t *testing.T) {
	b, d := setup(t)
	var attempts []int
	var mu sync.Mutex
	done := make(chan struct{})
	err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "flaky", Patterns: []string{"t"}, MaxAttempts: 3, Backoff: bus.Backoff{Initial: time.Millisecond, Jitter: 0.5},
		Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, attempt int) dispatch.Outcome {
			mu.Lock()
			attempts = append(attempts, attempt)
			if attempt == 3 {
				close(done)
			}
			mu.Unlock()
			return dispatch.Outcome{Status: dispatch.Retry, Reason: fmt.Sprintf("attempt %d failed", attempt)}
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := ev("t")
	publish(t, b, e)
	recv(t, done)
	dls := waitDeadLetters(t, b, "flaky", 1)
	if dls[0].Event.ID != e.ID || dls[0].Attempts != 3 || dls[0].Reason != "attempt 3 failed" || dls[0].Terminated {
		t.Fatalf("dead letter %+v", dls[0])
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Fatalf("attempts %v", attempts)
	}
}

func TestRejectAndPanic(t *testing.T) {
	b, d := setup(t)
	err := d.Apply(context.Background(), []dispatch.Route{
		{Name: "rejecter", Patterns: []string{"bad"}, Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
			return dispatch.Outcome{Status: dispatch.Reject, Reason: "malformed order"}
		})},
		{Name: "panicker", Patterns: []string{"boom"}, MaxAttempts: 2, Backoff: bus.Backoff{Initial: time.Millisecond},
			Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome { panic("kaboom") })},
		{Name: "bad-emit", Patterns: []string{"emit"}, Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
			child := &event.Event{Type: "not a valid type"}
			event.StampChild(child, e, "/x", "bad-emit", 0, time.Now())
			return dispatch.Outcome{Emits: []*event.Event{child}}
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("bad"))
	publish(t, b, ev("boom"))
	publish(t, b, ev("emit"))
	if dl := waitDeadLetters(t, b, "rejecter", 1)[0]; !dl.Terminated || dl.Attempts != 1 || dl.Reason != "malformed order" {
		t.Fatalf("%+v", dl)
	}
	if dl := waitDeadLetters(t, b, "panicker", 1)[0]; dl.Attempts != 2 || !strings.Contains(dl.Reason, "kaboom") {
		t.Fatalf("%+v", dl)
	}
	if dl := waitDeadLetters(t, b, "bad-emit", 1)[0]; !dl.Terminated || !strings.Contains(dl.Reason, "publishing emitted events") {
		t.Fatalf("%+v", dl)
	}
}

// A handler stuck on every one of its slots does not stop another route
// from completing its events.
func TestStuckHandlerDoesNotStopOthers(t *testing.T) {
	b, d := setup(t)
	release := make(chan struct{})
	stuck := make(chan struct{}, 10)
	var fast atomic.Int32
	fastDone := make(chan struct{})
	err := d.Apply(context.Background(), []dispatch.Route{
		{Name: "stuck", Patterns: []string{"t"}, Concurrency: 2, Handler: dispatch.HandlerFunc(func(ctx context.Context, _ *event.Event, _ int) dispatch.Outcome {
			select {
			case stuck <- struct{}{}:
			default: // after the release, later calls need not report
			}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return dispatch.Outcome{}
		})},
		{Name: "fast", Patterns: []string{"t"}, Concurrency: 1, Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
			if fast.Add(1) == 100 {
				close(fastDone)
			}
			return dispatch.Outcome{}
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		publish(t, b, ev("t"))
	}
	recv(t, stuck)
	recv(t, stuck) // both slots of "stuck" are held
	recv(t, fastDone)
	close(release)
}

// Apply adds and removes routes while events flow: an added route gets the
// events published after it, a removed route stops cleanly.
func TestApplyAddsAndRemovesRoutes(t *testing.T) {
	b, d := setup(t)
	counts := map[string]*atomic.Int32{"a": {}, "b": {}}
	h := func(name string) dispatch.Handler {
		return dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
			counts[name].Add(1)
			return dispatch.Outcome{}
		})
	}
	a := dispatch.Route{Name: "a", Patterns: []string{"t"}, Handler: h("a"), Concurrency: 2}
	bb := dispatch.Route{Name: "b", Patterns: []string{"t"}, Handler: h("b"), Concurrency: 2}
	if err := d.Apply(context.Background(), []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		publish(t, b, ev("t"))
	}
	if err := d.Apply(context.Background(), []dispatch.Route{a, bb}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		publish(t, b, ev("t"))
	}
	waitFor(t, func() bool { return counts["a"].Load() == 100 && counts["b"].Load() == 50 })
	if err := d.Apply(context.Background(), []dispatch.Route{bb}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		publish(t, b, ev("t"))
	}
	waitFor(t, func() bool { return counts["b"].Load() == 100 })
	if n := counts["a"].Load(); n != 100 {
		t.Fatalf("removed route handled %d events, want 100", n)
	}
	if got := d.Routes(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("routes %v", got)
	}
}

// A removed route's subscription keeps queueing: given again, the route
// handles what was published while it was gone. Delete drops it, and the
// route given again after that starts afresh.
func TestRemovedRouteKeepsItsEvents(t *testing.T) {
	b, d := setup(t)
	var mu sync.Mutex
	handled := map[string]bool{}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(handled) }
	a := dispatch.Route{Name: "a", Patterns: []string{"t"}, Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
		mu.Lock()
		handled[e.ID] = true
		mu.Unlock()
		return dispatch.Outcome{}
	})}
	ctx := context.Background()
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		publish(t, b, ev("t"))
	}
	if got := count(); got != 0 {
		t.Fatalf("a removed route handled %d events", got)
	}
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return count() == 5 })

	if err := d.Delete(ctx, "a"); !errors.Is(err, dispatch.ErrRunning) {
		t.Fatalf("Delete of a running route: %v", err)
	}
	if err := d.Apply(ctx, nil); err != nil {
		t.Fatal(err)
	}
	dropped := ev("t")
	publish(t, b, dropped)
	if err := d.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "a"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Delete of a deleted subscription: %v", err)
	}
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	last := ev("t")
	publish(t, b, last)
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return handled[last.ID] })
	mu.Lock()
	defer mu.Unlock()
	if handled[dropped.ID] {
		t.Fatal("an event of the deleted subscription was handled")
	}
}

// A route applied paused pauses its subscription before any delivery, and
// applied not paused again resumes it; a pause made with Pause outlasts an
// Apply that does not change the route's Paused.
func TestPausedRoute(t *testing.T) {
	b, d := setup(t)
	ctx := context.Background()
	var n atomic.Int32
	a := dispatch.Route{Name: "a", Patterns: []string{"t"}, Paused: true, Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
		n.Add(1)
		return dispatch.Outcome{}
	})}
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Paused(ctx, "a"); err != nil || !p {
		t.Fatalf("Paused = %v, %v", p, err)
	}
	for range 3 {
		publish(t, b, ev("t"))
	}
	a.Paused = false
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return n.Load() == 3 })

	if err := d.Pause(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(ctx, []dispatch.Route{a}); err != nil {
		t.Fatal(err)
	}
	if p, err := b.Paused(ctx, "a"); err != nil || !p {
		t.Fatalf("an Apply that did not change Paused lifted a pause: %v, %v", p, err)
	}
	if err := d.Resume(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Pause(ctx, "nosuch"); !errors.Is(err, bus.ErrNotFound) {
		t.Fatalf("Pause of no subscription: %v", err)
	}
}

// A handler whose emits find a subscription downstream full waits, using
// up no attempt, for as long as it stays full (here three times the ack
// wait, with one attempt allowed): no event is dead-lettered for
// backpressure alone, and every emit is published once there is room.
// Before, the emit's refusal was a retry: the event was dead-lettered.
func TestBackpressureDownstreamUsesNoAttempt(t *testing.T) {
	b, d := setup(t)
	ctx := context.Background()
	const ackWait = 300 * time.Millisecond
	var mu sync.Mutex
	done := map[string]bool{}
	up := dispatch.Route{Name: "up", Patterns: []string{"up"}, MaxAttempts: 1, AckWait: ackWait,
		Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
			return dispatch.Outcome{Emits: []*event.Event{{ID: "child-" + e.ID, Source: "/t", Type: "down", SpecVersion: "1.0"}}}
		})}
	var downN atomic.Int32
	down := dispatch.Route{Name: "down", Patterns: []string{"down"}, Queue: 1, Paused: true,
		Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
			downN.Add(1)
			return dispatch.Outcome{}
		})}
	d2 := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler), Observer: observerFunc(func(route string, e *event.Event, _ int, out dispatch.Outcome) {
		if route == "up" && out.Status == dispatch.Done {
			mu.Lock()
			done[e.ID] = true
			mu.Unlock()
		}
	})})
	t.Cleanup(func() { d2.Close(context.Background()) })
	if err := d.Apply(ctx, []dispatch.Route{down}); err != nil {
		t.Fatal(err)
	}
	if err := d2.Apply(ctx, []dispatch.Route{up}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		e := ev("up")
		publish(t, b, e)
		ids = append(ids, e.ID)
	}
	// The downstream subscription stays full for three ack waits: the
	// scenario's length, not a synchronisation.
	time.Sleep(3 * ackWait)
	if err := d.Resume(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return downN.Load() == 3 })
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if !done[id] {
				return false
			}
		}
		return true
	})
	dls, err := b.DeadLetters(ctx, bus.DeadLetterFilter{Subscription: "up"})
	if err != nil || len(dls) != 0 {
		t.Fatalf("dead letters of up: %+v, %v", dls, err)
	}
}

// A route's filter is asked before its handler: an event it refuses (or
// cannot judge) is acknowledged without a call, and a FilterObserver is
// told why.
func TestFilter(t *testing.T) {
	b := membus.New(membus.Options{})
	t.Cleanup(func() { b.Close(context.Background()) })
	var mu sync.Mutex
	var called, filtered []string
	var filterErrs int
	obs := &filterObs{fn: func(e *event.Event, err error) {
		mu.Lock()
		defer mu.Unlock()
		filtered = append(filtered, e.Type)
		if err != nil {
			filterErrs++
		}
	}}
	d := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
	t.Cleanup(func() { d.Close(context.Background()) })
	r := dispatch.Route{Name: "f", Patterns: []string{"t.>"},
		Filter: func(e *event.Event) (bool, error) {
			if e.Type == "t.bad" {
				return false, errors.New("cannot judge")
			}
			return e.Type == "t.yes", nil
		},
		Handler: dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
			mu.Lock()
			called = append(called, e.Type)
			mu.Unlock()
			return dispatch.Outcome{}
		})}
	if err := d.Apply(context.Background(), []dispatch.Route{r}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"t.no", "t.yes", "t.bad", "t.yes"} {
		publish(t, b, ev(typ))
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(called)+len(filtered) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(called, ",") != "t.yes,t.yes" || strings.Join(filtered, ",") != "t.no,t.bad" || filterErrs != 1 {
		t.Fatalf("called %v, filtered %v (%d errors)", called, filtered, filterErrs)
	}
	if n := b.Pending()["f"]; n != 0 {
		t.Fatalf("%d events left unsettled", n)
	}
}

type filterObs struct {
	fn func(*event.Event, error)
}

func (o *filterObs) Handled(string, *event.Event, int, dispatch.Outcome, time.Duration) {}
func (o *filterObs) Filtered(_ string, e *event.Event, err error)                       { o.fn(e, err) }

// InFlight counts the deliveries a route's workers are handling.
func TestInFlight(t *testing.T) {
	b, d := setup(t)
	release := make(chan struct{})
	r := dispatch.Route{Name: "slow", Patterns: []string{"t"}, Concurrency: 3, Handler: dispatch.HandlerFunc(func(context.Context, *event.Event, int) dispatch.Outcome {
		<-release
		return dispatch.Outcome{}
	})}
	if err := d.Apply(context.Background(), []dispatch.Route{r}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		publish(t, b, ev("t"))
	}
	waitFor(t, func() bool { return d.InFlight()["slow"] == 2 })
	close(release)
	waitFor(t, func() bool { return d.InFlight()["slow"] == 0 })
}

// observerFunc adapts a function to a dispatch.Observer.
type observerFunc func(route string, e *event.Event, attempt int, out dispatch.Outcome)

func (f observerFunc) Handled(route string, e *event.Event, attempt int, out dispatch.Outcome, _ time.Duration) {
	f(route, e, attempt, out)
}

// Close lets in-flight calls finish.
func TestCloseDrains(t *testing.T) {
	b, d := setup(t)
	started := make(chan struct{})
	finished := make(chan struct{})
	if err := d.Apply(context.Background(), []dispatch.Route{{Name: "slow", Patterns: []string{"t"}, Handler: dispatch.HandlerFunc(
		func(context.Context, *event.Event, int) dispatch.Outcome {
			close(started)
			time.Sleep(50 * time.Millisecond) // work in progress when Close is called
			close(finished)
			return dispatch.Outcome{}
		})}}); err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("t"))
	recv(t, started)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-finished:
	default:
		t.Fatal("Close returned before the in-flight call finished")
	}
}

func waitDeadLetters(t *testing.T, b bus.Bus, sub string, n int) []bus.DeadLetter {
	t.Helper()
	var dls []bus.DeadLetter
	waitFor(t, func() bool {
		var err error
		dls, err = b.DeadLetters(context.Background(), bus.DeadLetterFilter{Subscription: sub})
		return err == nil && len(dls) >= n
	})
	return dls
}

// waitFor polls a condition that the system under test will make true.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

// A slow call does not hold back deliveries that another worker of the
// same route is free to run (no prefetch hoarding when concurrency > 1).
func TestSlowCallDoesNotHoldOthersOfItsRoute(t *testing.T) {
	b, d := setup(t)
	release := make(chan struct{})
	second := make(chan struct{})
	var n atomic.Int32
	err := d.Apply(context.Background(), []dispatch.Route{{Name: "r", Patterns: []string{"t"}, Concurrency: 2,
		Handler: dispatch.HandlerFunc(func(ctx context.Context, _ *event.Event, _ int) dispatch.Outcome {
			if n.Add(1) == 1 {
				select { // the first call is slow
				case <-release:
				case <-ctx.Done():
				}
			} else {
				close(second)
			}
			return dispatch.Outcome{}
		})}})
	if err != nil {
		t.Fatal(err)
	}
	// Both are ready at once, so a worker could take both in one fetch.
	if _, err := b.PublishBatch(context.Background(), []*event.Event{ev("t"), ev("t")}, nil); err != nil {
		t.Fatal(err)
	}
	recv(t, second) // handled while the first call still runs
	close(release)
}

// A Retry with a Delay is redelivered after that delay, not after the
// subscription's (much shorter) backoff.
func TestRetryDelayOverridesBackoff(t *testing.T) {
	b, d := setup(t)
	const delay = 300 * time.Millisecond
	var failedAt time.Time
	second := make(chan time.Time, 1)
	err := d.Apply(context.Background(), []dispatch.Route{{
		Name: "later", Patterns: []string{"t"}, MaxAttempts: 2, Backoff: bus.Backoff{Initial: time.Millisecond},
		Handler: dispatch.HandlerFunc(func(_ context.Context, _ *event.Event, attempt int) dispatch.Outcome {
			if attempt == 1 {
				failedAt = time.Now()
				return dispatch.Outcome{Status: dispatch.Retry, Reason: "busy", Delay: delay}
			}
			second <- time.Now()
			return dispatch.Outcome{}
		}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, b, ev("t"))
	// The bus promises a redelivery no earlier than the delay: a lower
	// bound, measured, not a sleep.
	if got := recv(t, second).Sub(failedAt); got < delay {
		t.Fatalf("redelivered after %v, want at least %v", got, delay)
	}
}

// routeObserver is a dispatch.RouteObserver that counts the RunObservers
// it makes per route and passes on every run.
type routeObserver struct {
	mu     sync.Mutex
	routes map[string]int
	runs   chan observedRun
}

type observedRun struct {
	route       string
	id          string
	out         dispatch.Outcome
	start, seen time.Time
	took        time.Duration
}

func (o *routeObserver) Handled(route string, e *event.Event, _ int, out dispatch.Outcome, took time.Duration) {
	panic("Handled called on a RouteObserver")
}

func (o *routeObserver) Route(name string) dispatch.RunObserver {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.routes[name]++
	return runObserverFunc(func(e *event.Event, _ int, out dispatch.Outcome, start time.Time, took time.Duration) {
		o.runs <- observedRun{route: name, id: e.ID, out: out, start: start, seen: time.Now(), took: took}
	})
}

type runObserverFunc func(e *event.Event, attempt int, out dispatch.Outcome, start time.Time, took time.Duration)

func (f runObserverFunc) Ran(e *event.Event, attempt int, out dispatch.Outcome, start time.Time, took time.Duration) {
	f(e, attempt, out, start, took)
}

// A RouteObserver is asked for a route's RunObserver once when the route
// starts (again when it restarts), and that one is told about every run,
// with when it started and how long it took.
func TestRouteObserverGetsEveryRunWithItsStart(t *testing.T) {
	obs := &routeObserver{routes: map[string]int{}, runs: make(chan observedRun, 10)}
	b, d := setupObserved(t, obs)
	var called atomic.Int64 // Unix nanoseconds of the last call's start
	h := dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
		called.Store(time.Now().UnixNano())
		time.Sleep(2 * time.Millisecond) // a call that lasts, for took
		if e.Type == "bad" {
			return dispatch.Outcome{Status: dispatch.Reject, Reason: "bad"}
		}
		return dispatch.Outcome{}
	})
	routes := []dispatch.Route{{Name: "a", Patterns: []string{"t", "bad"}, Handler: h, Concurrency: 2}}
	if err := d.Apply(context.Background(), routes); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"t", "bad"} {
		before := time.Now()
		e := ev(typ)
		publish(t, b, e)
		r := recv(t, obs.runs)
		if r.route != "a" || r.id != e.ID {
			t.Fatalf("run of %s/%s, want a/%s", r.route, r.id, e.ID)
		}
		if want := map[string]dispatch.Status{"t": dispatch.Done, "bad": dispatch.Reject}[typ]; r.out.Status != want {
			t.Fatalf("%s: status %v, want %v", typ, r.out.Status, want)
		}
		if r.start.Before(before.Add(-time.Millisecond)) || r.start.UnixNano() > called.Load()+int64(time.Millisecond) {
			t.Fatalf("%s: start %v, not between the publication (%v) and the call (%v)", typ, r.start, before, time.Unix(0, called.Load()))
		}
		if r.took < 2*time.Millisecond || r.start.Add(r.took).After(r.seen) {
			t.Fatalf("%s: took %v (the call slept 2ms), ended %v, after the observer saw it (%v)", typ, r.took, r.start.Add(r.took), r.seen)
		}
	}
	routes[0].Concurrency = 3 // a restart
	if err := d.Apply(context.Background(), routes); err != nil {
		t.Fatal(err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.routes["a"] != 2 || len(obs.routes) != 1 {
		t.Fatalf("RunObservers made: %v, want a: 2 (a start and a restart)", obs.routes)
	}
}

// A worker that takes a batch from the memory bus reports each run to the
// observer in the order handled, a failed one at once and the done ones
// before their acks; each run of a batch starts when the one before it
// ended (one clock reading between them).
func TestBatchRunsReportedBeforeTheirAcks(t *testing.T) {
	b := membus.New(membus.Options{})
	runs := make(chan observedRun, 10)
	pendingAtRun := make(chan int64, 10)
	obs := &routeObserver{routes: map[string]int{}, runs: runs}
	evs := []*event.Event{ev("t"), ev("bad"), ev("t")}
	runBatch(t, b, runTap{obs, func() { pendingAtRun <- b.Pending()["a"] }}, evs)
	var got []observedRun
	for range evs {
		got = append(got, recv(t, runs))
	}
	for i, r := range got {
		if r.id != evs[i].ID {
			t.Fatalf("run %d reported for %s, want %s (the order handled)", i, r.id, evs[i].ID)
		}
		if i > 0 && !r.start.Equal(got[i-1].start.Add(got[i-1].took)) {
			t.Errorf("run %d started %v, not when run %d ended (%v)", i, r.start, i-1, got[i-1].start.Add(got[i-1].took))
		}
	}
	// The first is reported when the second has failed (dead-lettered: 2
	// held), then the second, and the third at the batch's end, before the
	// two done are acked (still 2 held: one at a time, 0).
	for i, want := range []int64{2, 2, 2} {
		if p := recv(t, pendingAtRun); p != want {
			t.Errorf("run %d reported with %d events held, want %d", i, p, want)
		}
	}
	waitFor(t, func() bool { return b.Pending()["a"] == 0 })
}

// runTap is a RouteObserver that calls tap before passing each run on.
type runTap struct {
	*routeObserver
	tap func()
}

func (o runTap) Route(name string) dispatch.RunObserver {
	next := o.routeObserver.Route(name)
	return runObserverFunc(func(e *event.Event, attempt int, out dispatch.Outcome, start time.Time, took time.Duration) {
		o.tap()
		next.Ran(e, attempt, out, start, took)
	})
}

// batchObserver is a RouteObserver whose RunObservers are RunsObservers:
// it logs each call, "all:" with the ids given together, "one:" for Ran.
type batchObserver struct {
	mu    sync.Mutex
	calls []string
	got   chan struct{}
}

func (o *batchObserver) Handled(string, *event.Event, int, dispatch.Outcome, time.Duration) {
	panic("Handled called on a RouteObserver")
}
func (o *batchObserver) Route(string) dispatch.RunObserver { return o }
func (o *batchObserver) Ran(e *event.Event, _ int, _ dispatch.Outcome, _ time.Time, _ time.Duration) {
	o.log("one:" + e.ID)
}
func (o *batchObserver) RanAll(runs []dispatch.Run) {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.Event.ID
	}
	o.log("all:" + strings.Join(ids, ","))
}
func (o *batchObserver) log(s string) {
	o.mu.Lock()
	o.calls = append(o.calls, s)
	o.mu.Unlock()
	o.got <- struct{}{}
}

// A RunsObserver is told about a batch's runs done together (RanAll), in
// order; a failed run alone (Ran), after the runs before it.
func TestRunsObserverGetsABatchTogether(t *testing.T) {
	obs := &batchObserver{got: make(chan struct{}, 10)}
	evs := []*event.Event{ev("t"), ev("t"), ev("bad"), ev("t")}
	runBatch(t, membus.New(membus.Options{}), obs, evs)
	for range 3 {
		recv(t, obs.got)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	want := []string{"all:" + evs[0].ID + "," + evs[1].ID, "one:" + evs[2].ID, "all:" + evs[3].ID}
	if strings.Join(obs.calls, " ") != strings.Join(want, " ") {
		t.Fatalf("observer calls %q, want %q", obs.calls, want)
	}
}

// runBatch starts a dispatcher over b that tells obs, with the route "a"
// of one worker (types t and bad; a bad event is rejected) applied paused,
// publishes evs and resumes the route: its worker takes them in one batch.
func runBatch(t *testing.T, b *membus.Bus, obs dispatch.Observer, evs []*event.Event) {
	t.Helper()
	d := dispatch.New(b, dispatch.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
	t.Cleanup(func() {
		d.Close(context.Background())
		b.Close(context.Background())
	})
	h := dispatch.HandlerFunc(func(_ context.Context, e *event.Event, _ int) dispatch.Outcome {
		if e.Type == "bad" {
			return dispatch.Outcome{Status: dispatch.Reject, Reason: "bad"}
		}
		return dispatch.Outcome{}
	})
	route := dispatch.Route{Name: "a", Patterns: []string{"t", "bad"}, Handler: h, Concurrency: 1, Paused: true}
	if err := d.Apply(context.Background(), []dispatch.Route{route}); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		publish(t, b, e)
	}
	if err := d.Resume(context.Background(), "a"); err != nil {
		t.Fatal(err)
	}
}
