package natsbus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// TestAskAhead: a consumer whose caller takes deliveries quickly gets a
// backlog in a few pull requests that ask ahead (no_wait: what is stored
// now), not in a request per delivery; and a request that asked ahead
// never waits for events published later, which go to the consumer that
// asks for them.
func TestAskAhead(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	b := open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()})
	defer closeBus(t, b)

	var requests, ahead atomic.Int64
	spy := spyPulls(t, srv.ClientURL(), func(m *nats.Msg) {
		requests.Add(1)
		if bytes.Contains(m.Data, []byte(`"no_wait":true`)) {
			ahead.Add(1)
		}
	})

	sub := bus.Subscription{Name: "ahead", Patterns: []string{"order.placed"}, Queue: 10_000}
	a := subscribe(t, b, sub)
	const n = 2000
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent("order.placed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for part := evs; len(part) > 0; {
		acks, err := b.PublishBatch(ctx, part, nil)
		if err != nil {
			t.Fatalf("PublishBatch: %v", err)
		}
		part = part[len(acks):]
	}
	got := receive(t, a, n)
	for i, id := range got {
		if id != evs[i].ID {
			t.Fatalf("delivery %d is %s, want %s: out of stream order", i, id, evs[i].ID)
		}
	}
	// Every request that brought a message reached the server before the
	// message did, and the spy's flush returns after what the server sent
	// it before.
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if r, ah := requests.Load(), ahead.Load(); r > n/4 || ah == 0 {
		t.Errorf("%d deliveries took %d pull requests, %d of them asking ahead; want at most %d, some ahead", n, r, ah, n/4)
	}

	// The busy consumer asks again, ahead, while e1 is the one event
	// stored: it takes e1, and its request ends there. e2, published
	// after, goes to b, which asks for it, while a holds e1.
	e1 := newEvent("order.placed")
	publish(t, b, e1)
	d1, err := a.Next(ctx)
	if err != nil || d1.Event().ID != e1.ID {
		t.Fatalf("a.Next: %v, %v; want %s", d1.Event(), err, e1.ID)
	}
	other := subscribe(t, b, sub)
	e2 := newEvent("order.placed")
	publish(t, b, e2)
	nctx, ncancel := context.WithTimeout(ctx, 10*time.Second)
	defer ncancel()
	d2, err := other.Next(nctx)
	if err != nil {
		t.Fatalf("the other consumer's Next while a holds e1: %v (a's request kept e2)", err)
	}
	if d2.Event().ID != e2.ID {
		t.Fatalf("the other consumer got %s, want %s", d2.Event().ID, e2.ID)
	}
	for _, d := range []bus.Delivery{d1, d2} {
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	}
}

// TestAskAheadBurstIsNotARate: callers that were all waiting take a burst
// of deliveries at once (a fresh consumer's workers); the next request, a
// moment later, asks ahead for at most twice what they took, not at the
// burst's pace. Measured between those two requests, the burst made a
// rate of thousands a second and the consumer pulled up to maxPull
// messages that its callers would take seconds to reach, and that another
// process sharing the subscription waited for (TestRateLimitTwoDaemons in
// cmd/evhost failed so). TestAskBoundsABurst checks the arithmetic on a
// clock of its own.
func TestAskAheadBurstIsNotARate(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	b := open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()})
	defer closeBus(t, b)
	var most atomic.Int64 // the largest batch a pull request asked for
	spy := spyPulls(t, srv.ClientURL(), func(m *nats.Msg) {
		var req struct{ Batch int64 }
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("pull request %q: %v", m.Data, err)
		}
		for cur := most.Load(); req.Batch > cur && !most.CompareAndSwap(cur, req.Batch); cur = most.Load() {
		}
	})

	sub := bus.Subscription{Name: "burst", Patterns: []string{"order.placed"}, Queue: 10_000}
	a := subscribe(t, b, sub)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs := make([]*event.Event, 1000)
	for i := range evs {
		evs[i] = newEvent("order.placed")
	}
	if _, err := b.PublishBatch(ctx, evs, nil); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	// 16 callers wait together: one request serves them all.
	const callers = 16
	var started, wg sync.WaitGroup
	started.Add(callers)
	for range callers {
		wg.Go(func() {
			started.Done()
			d, err := a.Next(ctx)
			if err != nil {
				t.Errorf("Next: %v", err)
				return
			}
			if err := d.Ack(); err != nil {
				t.Errorf("Ack: %v", err)
			}
		})
	}
	started.Wait()
	wg.Wait()
	// One of them comes back for its next delivery.
	d, err := a.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := most.Load(); m > 2*callers {
		t.Errorf("a pull request asked for %d messages after %d callers took one each; want at most %d", m, callers, 2*callers)
	}
}

// spyPulls connects to url and calls f with every pull request any
// consumer sends, from the time it returns; it returns the connection,
// whose Flush returns after the server sent it what came before.
func spyPulls(t *testing.T, url string, f nats.MsgHandler) *nats.Conn {
	t.Helper()
	spy, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(spy.Close)
	if _, err := spy.Subscribe("$JS.API.CONSUMER.MSG.NEXT.>", f); err != nil {
		t.Fatal(err)
	}
	if err := spy.Flush(); err != nil {
		t.Fatal(err)
	}
	return spy
}
