package bustest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

func testPublishSubscribe(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "orders", Patterns: []string{"order.placed"}})
	evs := h.publishN("order.placed", 10)
	c.expect(evs...)
	c.drained()
}

func testEventIntact(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "intact", Patterns: []string{"order.placed"}})
	e := &event.Event{
		ID:              "intact-" + runID,
		Source:          "https://example.com/shop",
		Type:            "order.placed",
		SpecVersion:     event.SpecVersion,
		Time:            time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Subject:         "order/42",
		DataContentType: "application/octet-stream",
		DataSchema:      "https://example.com/schema",
		Extensions: []event.Attr{
			{Name: event.ExtCorrelationID, Value: "c-1"},
			{Name: event.ExtDepth, Value: "2"},
		},
		Data: []byte{0, 1, 2, 0xff, '{'},
	}
	want := e.Clone()
	h.publish(e)
	got := c.nextAck()
	if !got.Time.Equal(want.Time) {
		h.t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	g := got.Clone()
	g.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(g, want) {
		h.t.Errorf("delivered event\n%+v\nwant\n%+v", g, want)
	}
}

func testEveryMatchingSubscription(h *harness) {
	subs := []*consumer{
		h.subscribe(bus.Subscription{Name: "exact", Patterns: []string{"order.placed"}}),
		h.subscribe(bus.Subscription{Name: "star", Patterns: []string{"order.*"}}),
		h.subscribe(bus.Subscription{Name: "tail", Patterns: []string{"order.>"}}),
		h.subscribe(bus.Subscription{Name: "all", Patterns: []string{">"}}),
	}
	evs := h.publishN("order.placed", 20)
	for _, c := range subs {
		c.expect(evs...)
	}
	for _, c := range subs {
		c.drained()
	}
}

func testPatterns(h *harness) {
	types := []string{"order.placed", "order.shipped", "order.placed.eu", "payment.charged", "email.sent", "order"}
	cases := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{"exact", []string{"order.placed"}, []string{"order.placed"}},
		{"star", []string{"order.*"}, []string{"order.placed", "order.shipped"}},
		{"tail", []string{"order.>"}, []string{"order.placed", "order.shipped", "order.placed.eu"}},
		{"middle", []string{"*.charged"}, []string{"payment.charged"}},
		{"several", []string{"payment.charged", "email.*"}, []string{"payment.charged", "email.sent"}},
		{"overlapping", []string{"order.*", "order.placed"}, []string{"order.placed", "order.shipped"}},
		{"one", []string{"order"}, []string{"order"}},
		{"none", []string{"nothing.here"}, nil},
	}
	subs := make([]*consumer, len(cases))
	for i, tc := range cases {
		subs[i] = h.subscribe(bus.Subscription{Name: tc.name, Patterns: tc.patterns})
	}
	published := map[string]*event.Event{}
	for _, typ := range types {
		published[typ] = newEvent(typ)
		h.publish(published[typ])
	}
	for i, tc := range cases {
		var want []*event.Event
		for _, typ := range types {
			for _, w := range tc.want {
				if typ == w {
					want = append(want, published[typ])
				}
			}
		}
		subs[i].expect(want...)
		subs[i].drained()
	}
}

func testNoCrossTalk(h *harness) {
	a := h.subscribe(bus.Subscription{Name: "a", Patterns: []string{"topic.a"}})
	b := h.subscribe(bus.Subscription{Name: "b", Patterns: []string{"topic.b"}})
	var wantA, wantB []*event.Event
	for i := 0; i < 20; i++ {
		if i%3 == 0 {
			wantA = append(wantA, newEvent("topic.a"))
			h.publish(wantA[len(wantA)-1])
		} else {
			wantB = append(wantB, newEvent("topic.b"))
			h.publish(wantB[len(wantB)-1])
		}
	}
	b.expect(wantB...)
	a.expect(wantA...)
	a.drained()
	b.drained()
}

func testNoCrossTalkBetweenBuses(h *harness) {
	other := h.open()
	c1 := h.subscribe(bus.Subscription{Name: "same", Patterns: []string{"order.placed"}})
	c2 := h.subscribeOn(other, bus.Subscription{Name: "same", Patterns: []string{"order.placed"}})
	e1 := newEvent("order.placed")
	h.publish(e1)
	e2 := newEvent("order.placed")
	h.publishOn(other, e2)
	c1.expect(e1)
	c2.expect(e2)
	c1.drained()
	c2.drained()
}

func testOnlyLaterEvents(h *harness) {
	h.publishN("order.placed", 3)
	c := h.subscribe(bus.Subscription{Name: "late", Patterns: []string{"order.placed"}})
	later := h.publishN("order.placed", 2)
	c.expect(later...)
	c.drained()
}

// testConcurrent runs publishers and consumers at once, with some failed
// attempts, and checks that every event is acked exactly once by every
// subscription and is delivered again only after a Nak.
func testConcurrent(h *harness) {
	const (
		publishers   = 4
		perPublisher = 250
		total        = publishers * perPublisher
		consumers    = 3
	)
	names := []string{"left", "right"}
	type tally struct {
		mu         sync.Mutex
		acked      map[string]int
		deliveries map[string]int
		naks       map[string]int
		firsts     map[string]int
	}
	tallies := map[string]*tally{}
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	var wg sync.WaitGroup
	done := make(chan string, len(names))
	for _, name := range names {
		ty := &tally{acked: map[string]int{}, deliveries: map[string]int{}, naks: map[string]int{}, firsts: map[string]int{}}
		tallies[name] = ty
		var ackedTotal int
		for i := 0; i < consumers; i++ {
			c := h.subscribe(bus.Subscription{Name: name, Patterns: []string{"load.>"}, Queue: 2 * total})
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]bus.Delivery, 8)
				for {
					n, err := c.s.Fetch(ctx, buf)
					if err != nil {
						return
					}
					for _, d := range buf[:n] {
						id := d.Event().ID
						ty.mu.Lock()
						ty.deliveries[id]++
						if d.Attempt() == 1 {
							ty.firsts[id]++
						}
						nak := d.Attempt() == 1 && len(ty.deliveries)%10 == 0
						ty.mu.Unlock()
						if nak {
							ty.mu.Lock()
							ty.naks[id]++
							ty.mu.Unlock()
							if err := d.Nak(0, "every tenth fails once"); err != nil {
								h.t.Errorf("Nak: %v", err)
							}
							continue
						}
						if err := d.Ack(); err != nil {
							h.t.Errorf("Ack: %v", err)
							continue
						}
						ty.mu.Lock()
						ty.acked[id]++
						ackedTotal++
						if ackedTotal == total {
							done <- name
						}
						ty.mu.Unlock()
					}
				}
			}()
		}
	}
	var pwg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for i := 0; i < perPublisher; i++ {
				e := newEvent(fmt.Sprintf("load.p%d", p))
				if _, err := h.b.Publish(ctx, e); err != nil {
					h.t.Errorf("Publish: %v", err)
					return
				}
			}
		}()
	}
	pwg.Wait()
	for range names {
		select {
		case <-done:
		case <-ctx.Done():
			h.t.Fatal("timed out waiting for every event to be acked")
		}
	}
	cancel()
	wg.Wait()
	for _, name := range names {
		ty := tallies[name]
		if len(ty.acked) != total {
			h.t.Errorf("%s: %d distinct events acked, want %d", name, len(ty.acked), total)
		}
		for id, n := range ty.acked {
			if n != 1 {
				h.t.Errorf("%s: event %s acked %d times", name, id, n)
			}
			if ty.firsts[id] != 1 {
				h.t.Errorf("%s: event %s had %d first attempts", name, id, ty.firsts[id])
			}
			if want := 1 + ty.naks[id]; ty.deliveries[id] != want {
				h.t.Errorf("%s: event %s delivered %d times after %d naks", name, id, ty.deliveries[id], ty.naks[id])
			}
		}
	}
}

func testAck(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "acker", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	h.publish(e)
	d := c.next()
	if d.Attempt() != 1 || d.Event().ID != e.ID {
		h.t.Fatalf("got %s attempt %d, want %s attempt 1", d.Event().ID, d.Attempt(), e.ID)
	}
	if err := d.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	h.wantErr("second Ack", d.Ack(), bus.ErrSettled)
	h.wantErr("Nak after Ack", d.Nak(0, "x"), bus.ErrSettled)
	h.wantErr("Term after Ack", d.Term("x"), bus.ErrSettled)
	var zero bus.Delivery
	h.wantErr("Ack of the zero Delivery", zero.Ack(), bus.ErrSettled)
	c.drained()
	if dls := h.deadLetters(bus.DeadLetterFilter{}); len(dls) != 0 {
		h.t.Errorf("dead letters after a settled Ack: %+v", dls)
	}
}

func testNakImmediate(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "naker", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	h.publish(e)
	d := c.next()
	if err := d.Nak(0, "try again"); err != nil {
		h.t.Fatalf("Nak: %v", err)
	}
	h.wantErr("Ack after Nak", d.Ack(), bus.ErrSettled)
	d2 := c.next()
	if d2.Event().ID != e.ID || d2.Attempt() != 2 {
		h.t.Fatalf("redelivery: %s attempt %d, want %s attempt 2", d2.Event().ID, d2.Attempt(), e.ID)
	}
	if err := d2.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	c.drained()
}

func testNakDelay(h *harness) {
	const delay = 300 * time.Millisecond
	c := h.subscribe(bus.Subscription{Name: "delayed", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	h.publish(e)
	d := c.next()
	start := time.Now()
	if err := d.Nak(delay, "later"); err != nil {
		h.t.Fatalf("Nak: %v", err)
	}
	// An event published after the Nak overtakes the delayed one.
	other := newEvent("order.placed")
	h.publish(other)
	c.expect(other)
	d2 := c.next()
	if elapsed := time.Since(start); elapsed < delay {
		h.t.Errorf("redelivered after %v, want at least %v", elapsed, delay)
	}
	if d2.Event().ID != e.ID || d2.Attempt() != 2 {
		h.t.Fatalf("redelivery: %s attempt %d, want %s attempt 2", d2.Event().ID, d2.Attempt(), e.ID)
	}
	if err := d2.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	c.drained()
}

func testNakBackoff(h *harness) {
	const initial = 150 * time.Millisecond
	c := h.subscribe(bus.Subscription{
		Name:     "backoff",
		Patterns: []string{"order.placed"},
		Backoff:  bus.Backoff{Initial: initial, Max: 10 * initial},
	})
	e := newEvent("order.placed")
	h.publish(e)
	d := c.next()
	for attempt := 1; attempt <= 2; attempt++ {
		start := time.Now()
		if err := d.Nak(bus.UseBackoff, "backing off"); err != nil {
			h.t.Fatalf("Nak: %v", err)
		}
		d = c.next()
		want := initial << (attempt - 1)
		if elapsed := time.Since(start); elapsed < want {
			h.t.Errorf("attempt %d: redelivered after %v, want at least %v", attempt, elapsed, want)
		}
		if d.Attempt() != attempt+1 {
			h.t.Errorf("attempt %d, want %d", d.Attempt(), attempt+1)
		}
	}
	if err := d.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	c.drained()
}

func testTerm(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "termer", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	before := time.Now()
	h.publish(e)
	d := c.next()
	if err := d.Term("bad payload"); err != nil {
		h.t.Fatalf("Term: %v", err)
	}
	h.wantErr("Ack after Term", d.Ack(), bus.ErrSettled)
	dls := h.deadLetters(bus.DeadLetterFilter{Subscription: "termer"})
	if len(dls) != 1 {
		h.t.Fatalf("%d dead letters, want 1: %+v", len(dls), dls)
	}
	dl := dls[0]
	if dl.Event.ID != e.ID || dl.Subscription != "termer" || dl.Reason != "bad payload" ||
		dl.Attempts != 1 || !dl.Terminated || dl.ID == 0 {
		h.t.Errorf("dead letter %+v, want event %s, subscription termer, reason %q, 1 attempt, terminated, an ID",
			dl, e.ID, "bad payload")
	}
	if dl.Time.Before(before.Add(-time.Second)) || dl.Time.After(time.Now().Add(time.Second)) {
		h.t.Errorf("dead letter time %v, want about now", dl.Time)
	}
	c.drained()
}

func testMaxAttempts(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "limited", Patterns: []string{"order.placed"}, MaxAttempts: 3})
	e := newEvent("order.placed")
	h.publish(e)
	for attempt := 1; attempt <= 3; attempt++ {
		d := c.next()
		if d.Event().ID != e.ID || d.Attempt() != attempt {
			h.t.Fatalf("got %s attempt %d, want %s attempt %d", d.Event().ID, d.Attempt(), e.ID, attempt)
		}
		if attempt < 3 {
			if dls := h.deadLetters(bus.DeadLetterFilter{}); len(dls) != 0 {
				h.t.Fatalf("dead-lettered after %d attempts: %+v", attempt-1, dls)
			}
		}
		if err := d.Nak(0, fmt.Sprintf("failure %d", attempt)); err != nil {
			h.t.Fatalf("Nak: %v", err)
		}
	}
	dls := h.deadLetters(bus.DeadLetterFilter{Subscription: "limited"})
	if len(dls) != 1 {
		h.t.Fatalf("%d dead letters, want 1: %+v", len(dls), dls)
	}
	if dl := dls[0]; dl.Event.ID != e.ID || dl.Attempts != 3 || dl.Reason != "failure 3" || dl.Terminated {
		h.t.Errorf("dead letter %+v, want event %s, 3 attempts, reason %q, not terminated", dl, e.ID, "failure 3")
	}
	c.drained()
}

func testAckWait(h *harness) {
	const ackWait = 300 * time.Millisecond
	c := h.subscribe(bus.Subscription{Name: "forgetful", Patterns: []string{"order.placed"}, AckWait: ackWait})
	e := newEvent("order.placed")
	h.publish(e)
	// The broker's clock starts when it hands the delivery out, which is
	// before Next returns it: measure from before the Next.
	start := time.Now()
	d := c.next()
	_ = d // never settled
	d2 := c.next()
	if elapsed := time.Since(start); elapsed < ackWait {
		h.t.Errorf("redelivered after %v, want at least the ack wait %v", elapsed, ackWait)
	}
	if d2.Event().ID != e.ID || d2.Attempt() != 2 {
		h.t.Fatalf("redelivery: %s attempt %d, want %s attempt 2", d2.Event().ID, d2.Attempt(), e.ID)
	}
	if err := d2.Ack(); err != nil {
		h.t.Fatalf("Ack of the redelivery: %v", err)
	}
	c.drained()
}

func testAckWaitMaxAttempts(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "stuck", Patterns: []string{"order.placed"}, AckWait: 200 * time.Millisecond, MaxAttempts: 2})
	e := newEvent("order.placed")
	h.publish(e)
	c.next()
	if d := c.next(); d.Attempt() != 2 {
		h.t.Fatalf("attempt %d, want 2", d.Attempt())
	}
	var dls []bus.DeadLetter
	h.eventually("the dead letter of an event whose attempts all expired", func() bool {
		dls = h.deadLetters(bus.DeadLetterFilter{Subscription: "stuck"})
		return len(dls) > 0
	})
	if dl := dls[0]; len(dls) != 1 || dl.Event.ID != e.ID || dl.Attempts != 2 || dl.Reason != bus.ReasonAckWait || dl.Terminated {
		h.t.Errorf("dead letters %+v, want one of event %s, 2 attempts, reason %q", dls, e.ID, bus.ReasonAckWait)
	}
	c.drained()
}

func testRedrive(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "redriven", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	h.publish(e)
	if err := c.next().Term("poison"); err != nil {
		h.t.Fatalf("Term: %v", err)
	}
	dls := h.deadLetters(bus.DeadLetterFilter{Subscription: "redriven"})
	if len(dls) != 1 {
		h.t.Fatalf("%d dead letters, want 1", len(dls))
	}
	if err := h.b.Redrive(h.ctx(), dls[0].ID); err != nil {
		h.t.Fatalf("Redrive: %v", err)
	}
	d := c.next()
	if d.Event().ID != e.ID || d.Attempt() != 1 {
		h.t.Fatalf("redriven delivery: %s attempt %d, want %s attempt 1", d.Event().ID, d.Attempt(), e.ID)
	}
	if err := d.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	if left := h.deadLetters(bus.DeadLetterFilter{}); len(left) != 0 {
		h.t.Errorf("dead letters after redrive: %+v", left)
	}
	h.wantErr("second Redrive", h.b.Redrive(h.ctx(), dls[0].ID), bus.ErrNotFound)
	h.wantErr("Redrive of an unknown id", h.b.Redrive(h.ctx(), dls[0].ID+1000), bus.ErrNotFound)
	c.drained()

	// A dead letter of a deleted subscription cannot be redriven, and stays.
	e2 := newEvent("order.placed")
	h.publish(e2)
	if err := c.next().Term("poison"); err != nil {
		h.t.Fatalf("Term: %v", err)
	}
	dls = h.deadLetters(bus.DeadLetterFilter{Subscription: "redriven"})
	if err := h.b.Unsubscribe(h.ctx(), "redriven"); err != nil {
		h.t.Fatalf("Unsubscribe: %v", err)
	}
	h.wantErr("Redrive to a deleted subscription", h.b.Redrive(h.ctx(), dls[0].ID), bus.ErrNotFound)
	if left := h.deadLetters(bus.DeadLetterFilter{Subscription: "redriven"}); len(left) != 1 {
		h.t.Errorf("%d dead letters after a failed redrive, want 1", len(left))
	}
}

func testDeadLetterFilter(h *harness) {
	a := h.subscribe(bus.Subscription{Name: "dla", Patterns: []string{"order.placed"}})
	b := h.subscribe(bus.Subscription{Name: "dlb", Patterns: []string{"order.placed"}})
	evs := h.publishN("order.placed", 3)
	for _, c := range []*consumer{a, b} {
		for range evs {
			if err := c.next().Term("no"); err != nil {
				h.t.Fatalf("Term: %v", err)
			}
		}
	}
	all := h.deadLetters(bus.DeadLetterFilter{})
	if len(all) != 6 {
		h.t.Fatalf("%d dead letters, want 6", len(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			h.t.Errorf("dead letters not oldest first: IDs %d then %d", all[i-1].ID, all[i].ID)
		}
	}
	if got := h.deadLetters(bus.DeadLetterFilter{Subscription: "dlb"}); len(got) != 3 || got[0].Subscription != "dlb" {
		h.t.Errorf("filter by subscription: %+v", got)
	}
	if got := h.deadLetters(bus.DeadLetterFilter{EventID: evs[1].ID}); len(got) != 2 || got[0].Event.ID != evs[1].ID {
		h.t.Errorf("filter by event id: %+v", got)
	}
	page1 := h.deadLetters(bus.DeadLetterFilter{Limit: 4})
	page2 := h.deadLetters(bus.DeadLetterFilter{Limit: 4, After: page1[len(page1)-1].ID})
	if len(page1) != 4 || len(page2) != 2 || page2[0].ID != all[4].ID {
		h.t.Errorf("pages of %d and %d dead letters, want 4 and 2 in order", len(page1), len(page2))
	}
	if got := h.deadLetters(bus.DeadLetterFilter{Subscription: "dla", EventID: evs[2].ID}); len(got) != 1 {
		h.t.Errorf("filter by subscription and event id: %d dead letters, want 1", len(got))
	}
}

func testDedup(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "dedup", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	first := h.publish(e)
	if first.Duplicate {
		h.t.Fatal("first publish reported as a duplicate")
	}
	again := newEvent("order.placed")
	again.ID, again.Data = e.ID, []byte(`{"other":true}`)
	dup := h.publish(again)
	if !dup.Duplicate || dup.Seq != first.Seq {
		h.t.Errorf("same source and id: %+v, want a duplicate of sequence %d", dup, first.Seq)
	}
	otherSource := newEvent("order.placed")
	otherSource.ID, otherSource.Source = e.ID, "/bustest/other"
	if ack := h.publish(otherSource); ack.Duplicate || ack.Seq <= first.Seq {
		h.t.Errorf("same id, another source: %+v, want a new event after %d", ack, first.Seq)
	}
	c.expect(e, otherSource)
	c.drained()
	// Settling does not make the event new again within the window.
	if ack := h.publish(e.Clone()); !ack.Duplicate {
		h.t.Error("a settled event published again was not a duplicate")
	}
	c.drained()
}

func testClose(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "closing", Patterns: []string{"order.placed"}})
	h.publish(newEvent("order.placed"))
	inflight := c.next()
	blocked := c.nextAsync(h.ctx())
	other := c.h.subscribe(bus.Subscription{Name: "closing2", Patterns: []string{"x.y"}})
	blocked2 := other.nextAsync(h.ctx())
	h.stillBlocked(blocked, "Next")
	h.stillBlocked(blocked2, "Next")
	h.closeBus(h.b)
	for i, ch := range []<-chan result{blocked, blocked2} {
		r := h.wait(ch, "Next to return after Close")
		if !errors.Is(r.err, bus.ErrClosed) {
			h.t.Errorf("blocked Next %d after Close: %v, want ErrClosed", i, r.err)
		}
	}
	_, err := h.b.Publish(context.Background(), newEvent("order.placed"))
	h.wantErr("Publish after Close", err, bus.ErrClosed)
	_, err = h.b.PublishBatch(context.Background(), []*event.Event{newEvent("order.placed")}, nil)
	h.wantErr("PublishBatch after Close", err, bus.ErrClosed)
	_, err = h.b.Subscribe(context.Background(), bus.Subscription{Name: "late", Patterns: []string{">"}})
	h.wantErr("Subscribe after Close", err, bus.ErrClosed)
	_, err = c.s.Next(context.Background())
	h.wantErr("Next after Close", err, bus.ErrClosed)
	h.wantErr("Ack after Close", inflight.Ack(), bus.ErrClosed)
	if err := h.b.Close(context.Background()); err != nil {
		h.t.Errorf("second Close: %v", err)
	}
}

func testBackpressure(h *harness) {
	// Subscriptions that have room on both sides of the full one, whatever
	// order the bus checks them in.
	big := h.subscribe(bus.Subscription{Name: "big", Patterns: []string{"x.>"}, Queue: 100})
	small := h.subscribe(bus.Subscription{Name: "small", Patterns: []string{"x.a"}, Queue: 2})
	big2 := h.subscribe(bus.Subscription{Name: "big2", Patterns: []string{"x.a", "x.b"}, Queue: 100})
	bigs := []*consumer{big, big2}
	accepted := h.publishN("x.a", 2)
	refused := newEvent("x.a")
	_, err := h.b.Publish(h.ctx(), refused)
	var bp *bus.BackpressureError
	if !errors.As(err, &bp) || !errors.Is(err, bus.ErrBackpressure) || bp.Subscription != "small" {
		h.t.Fatalf("Publish to a full subscription: %v, want a *BackpressureError naming small", err)
	}
	// Other subscriptions keep flowing.
	onlyBig := newEvent("x.b")
	h.publish(onlyBig)
	// The refused event went nowhere: the others get the accepted ones,
	// then onlyBig.
	for _, c := range bigs {
		c.expect(accepted[0], accepted[1], onlyBig)
		c.drained()
	}
	// An in-flight delivery still counts against the bound.
	d := small.next()
	_, err = h.b.Publish(h.ctx(), refused)
	h.wantErr("Publish with a delivery in flight", err, bus.ErrBackpressure)
	if err := d.Ack(); err != nil {
		h.t.Fatalf("Ack: %v", err)
	}
	// Room again: the same event is accepted, and it is not a duplicate.
	if ack := h.publish(refused); ack.Duplicate {
		h.t.Error("a refused event published again was taken for a duplicate")
	}
	small.expect(accepted[1], refused)
	small.drained()
	for _, c := range bigs {
		c.expect(refused)
		c.drained()
	}
}

func testBackpressureBatch(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "batch", Patterns: []string{"x.a"}, Queue: 3})
	evs := []*event.Event{newEvent("x.a"), newEvent("x.a"), newEvent("x.a"), newEvent("x.a"), newEvent("x.a")}
	acks, err := h.b.PublishBatch(h.ctx(), evs, nil)
	if len(acks) != 3 || !errors.Is(err, bus.ErrBackpressure) {
		h.t.Fatalf("PublishBatch of 5 into a queue of 3: %d accepted, %v; want 3 and ErrBackpressure", len(acks), err)
	}
	c.expect(evs[:len(acks)]...)
	rest, err := h.b.PublishBatch(h.ctx(), evs[len(acks):], nil)
	if err != nil || len(rest) != len(evs)-len(acks) {
		h.t.Fatalf("PublishBatch of the rest: %d accepted, %v", len(rest), err)
	}
	for _, a := range rest {
		if a.Duplicate {
			h.t.Error("an event refused in a batch was taken for a duplicate")
		}
	}
	c.expect(evs[len(acks):]...)
	c.drained()
}

func testSharedSubscription(h *harness) {
	sub := bus.Subscription{Name: "shared", Patterns: []string{"order.placed"}}
	a := h.subscribe(sub)
	b := h.subscribe(sub)
	e1, e2 := newEvent("order.placed"), newEvent("order.placed")
	h.publish(e1)
	h.publish(e2)
	// a holds its delivery unsettled, so the other must go to b.
	d1 := a.next()
	d2 := b.next()
	if d1.Event().ID == d2.Event().ID {
		h.t.Fatalf("both consumers got %s", d1.Event().ID)
	}
	for _, d := range []bus.Delivery{d1, d2} {
		if err := d.Ack(); err != nil {
			h.t.Fatalf("Ack: %v", err)
		}
	}
	a.drained()

	// Two consumers waiting, two events published at once: each consumer
	// gets one, neither settling its delivery before the other gets its own.
	ra, rb := a.nextAsync(h.ctx()), b.nextAsync(h.ctx())
	h.stillBlocked(ra, "Next")
	h.stillBlocked(rb, "Next")
	e3, e4 := newEvent("order.placed"), newEvent("order.placed")
	if _, err := h.b.PublishBatch(h.ctx(), []*event.Event{e3, e4}, nil); err != nil {
		h.t.Fatalf("PublishBatch: %v", err)
	}
	da, db := h.wait(ra, "the first consumer's delivery"), h.wait(rb, "the second consumer's delivery")
	if da.err != nil || db.err != nil {
		h.t.Fatalf("Next: %v, %v", da.err, db.err)
	}
	if da.d.Event().ID == db.d.Event().ID {
		h.t.Fatalf("both consumers got %s", da.d.Event().ID)
	}
	da.d.Ack()
	db.d.Ack()
	b.drained()
}

func testSharedConcurrent(h *harness) {
	const n = 300
	sub := bus.Subscription{Name: "pool", Patterns: []string{"work.item"}, Queue: n}
	cs := []*consumer{h.subscribe(sub), h.subscribe(sub), h.subscribe(sub)}
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := c.s.Next(ctx)
				if err != nil {
					return
				}
				if err := d.Ack(); err != nil {
					h.t.Errorf("Ack: %v", err)
				}
				mu.Lock()
				seen[d.Event().ID]++
				if len(seen) == n {
					close(all)
				}
				mu.Unlock()
			}
		}()
	}
	evs := h.publishN("work.item", n)
	select {
	case <-all:
	case <-ctx.Done():
		h.t.Fatal("timed out before every event was handled")
	}
	cancel()
	wg.Wait()
	for _, e := range evs {
		if seen[e.ID] != 1 {
			h.t.Errorf("event %s handled %d times, want 1", e.ID, seen[e.ID])
		}
	}
}

func testSubscriberClose(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "closer", Patterns: []string{"order.placed"}})
	h.publish(newEvent("order.placed"))
	d := c.next()
	blocked := c.nextAsync(h.ctx())
	h.stillBlocked(blocked, "Next")
	if err := c.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	if r := h.wait(blocked, "Next to return after the Subscriber's Close"); !errors.Is(r.err, bus.ErrClosed) {
		h.t.Errorf("blocked Next after Close: %v, want ErrClosed", r.err)
	}
	_, err := c.s.Next(h.ctx())
	h.wantErr("Next after Close", err, bus.ErrClosed)
	if err := c.s.Close(); err != nil {
		h.t.Errorf("second Close: %v", err)
	}
	// Deliveries received before Close can still be settled.
	if err := d.Ack(); err != nil {
		h.t.Errorf("Ack after the Subscriber's Close: %v", err)
	}
	// The bus and other subscriptions carry on.
	other := h.subscribe(bus.Subscription{Name: "closer2", Patterns: []string{"order.placed"}})
	e := newEvent("order.placed")
	h.publish(e)
	other.expect(e)
}

func testSubscriptionOutlivesSubscriber(h *harness) {
	sub := bus.Subscription{Name: "durable", Patterns: []string{"order.placed"}}
	c := h.subscribe(sub)
	first := h.publishN("order.placed", 2)
	inflight := c.next() // never settled: redelivered after the ack wait, or to the next consumer
	_ = inflight
	if err := c.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	later := h.publishN("order.placed", 2)
	c2 := h.subscribe(sub)
	c2.expect(append(first[1:], later...)...)
}

func testUnsubscribe(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "gone", Patterns: []string{"order.placed"}, Queue: 1})
	witness := h.subscribe(bus.Subscription{Name: "witness", Patterns: []string{"order.placed"}})
	h.publish(newEvent("order.placed"))
	witness.nextAck()
	d := c.next()
	blocked := c.nextAsync(h.ctx())
	h.stillBlocked(blocked, "Next")
	if err := h.b.Unsubscribe(h.ctx(), "gone"); err != nil {
		h.t.Fatalf("Unsubscribe: %v", err)
	}
	if r := h.wait(blocked, "Next to return after Unsubscribe"); !errors.Is(r.err, bus.ErrClosed) {
		h.t.Errorf("blocked Next after Unsubscribe: %v, want ErrClosed", r.err)
	}
	// Settling a delivery of a deleted subscription has no effect; a bus
	// may or may not be able to say so.
	if err := d.Ack(); err != nil && !errors.Is(err, bus.ErrClosed) {
		h.t.Errorf("Ack of a delivery of a deleted subscription: %v, want nil or ErrClosed", err)
	}
	// The deleted subscription, full when it was deleted, neither receives
	// nor holds back events any more.
	e, e2 := newEvent("order.placed"), newEvent("order.placed")
	h.publish(e)
	h.publish(e2)
	witness.expect(e, e2)
	h.wantErr("second Unsubscribe", h.b.Unsubscribe(h.ctx(), "gone"), bus.ErrNotFound)
	h.wantErr("Unsubscribe of an unknown name", h.b.Unsubscribe(h.ctx(), "never"), bus.ErrNotFound)
	// The name can be used again, for a new subscription with nothing queued.
	again := h.subscribe(bus.Subscription{Name: "gone", Patterns: []string{"order.placed"}})
	again.drained()
}

func testUpdateSubscription(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "changing", Patterns: []string{"old.type"}})
	queued := newEvent("old.type")
	h.publish(queued)
	c2 := h.subscribe(bus.Subscription{Name: "changing", Patterns: []string{"new.type"}})
	h.publish(newEvent("old.type")) // no longer selected
	e := newEvent("new.type")
	h.publish(e)
	// Events already queued stay queued; both consumers share the one queue.
	c.expect(queued)
	c2.expect(e)
	c2.drained()
}

func testContext(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "ctx", Patterns: []string{"order.placed"}})
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.s.Next(canceled); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Next with a canceled context: %v, want context.Canceled", err)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c.s.Next(short); !errors.Is(err, context.DeadlineExceeded) {
		h.t.Errorf("Next past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if _, err := h.b.Publish(canceled, newEvent("order.placed")); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Publish with a canceled context: %v, want context.Canceled", err)
	}
	if _, err := h.b.Subscribe(canceled, bus.Subscription{Name: "ctx2", Patterns: []string{">"}}); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Subscribe with a canceled context: %v, want context.Canceled", err)
	}
	// A Next canceled while it waits loses nothing.
	waiting, cancel3 := context.WithCancel(context.Background())
	blocked := c.nextAsync(waiting)
	h.stillBlocked(blocked, "Next")
	cancel3()
	if r := h.wait(blocked, "Next to return after its context was canceled"); !errors.Is(r.err, context.Canceled) {
		h.t.Errorf("canceled Next: %v, want context.Canceled", r.err)
	}
	e := newEvent("order.placed")
	h.publish(e)
	c.expect(e)
	c.drained()
}

func testFetch(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "fetcher", Patterns: []string{"order.placed"}})
	if n, err := c.s.Fetch(h.ctx(), nil); n != 0 || err != nil {
		h.t.Errorf("Fetch into an empty buffer: %d, %v; want 0, nil", n, err)
	}
	evs := h.publishN("order.placed", 10)
	buf := make([]bus.Delivery, 4)
	var got []*event.Event
	for len(got) < len(evs) {
		n, err := c.s.Fetch(h.ctx(), buf)
		if err != nil {
			h.t.Fatalf("Fetch: %v", err)
		}
		if n < 1 || n > len(buf) {
			h.t.Fatalf("Fetch returned %d deliveries into a buffer of %d", n, len(buf))
		}
		for _, d := range buf[:n] {
			got = append(got, d.Event())
			if err := d.Ack(); err != nil {
				h.t.Fatalf("Ack: %v", err)
			}
		}
	}
	for i := range evs {
		if got[i].ID != evs[i].ID {
			h.t.Fatalf("fetched event %d is %s, want %s", i, got[i].ID, evs[i].ID)
		}
	}
	c.drained()
}

func testPublishBatch(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "batcher", Patterns: []string{"order.placed"}})
	evs := []*event.Event{newEvent("order.placed"), newEvent("order.placed"), newEvent("order.placed")}
	acks, err := h.b.PublishBatch(h.ctx(), evs, nil)
	if err != nil || len(acks) != 3 {
		h.t.Fatalf("PublishBatch: %d acks, %v", len(acks), err)
	}
	for i := 1; i < len(acks); i++ {
		if acks[i].Seq <= acks[i-1].Seq || acks[i].Duplicate {
			h.t.Errorf("acks %+v: want increasing sequences and no duplicates", acks)
		}
	}
	bad := newEvent("order.placed")
	bad.ID = ""
	more := []*event.Event{newEvent("order.placed"), evs[0].Clone(), bad, newEvent("order.placed")}
	// The receipts of the first batch given back as the buffer: the
	// second's are written over them, from the start, in their array.
	buf := acks
	acks, err = h.b.PublishBatch(h.ctx(), more, buf)
	if len(acks) != 2 || !errors.Is(err, bus.ErrInvalidEvent) {
		h.t.Fatalf("PublishBatch with an invalid third event: %d acks, %v; want 2 and ErrInvalidEvent", len(acks), err)
	}
	if acks[0].Duplicate || !acks[1].Duplicate {
		h.t.Errorf("acks %+v: want the second one only to be a duplicate", acks)
	}
	if &acks[0] != &buf[0] || buf[1] != acks[1] {
		h.t.Errorf("PublishBatch with a buffer of room %d did not write the receipts into it", cap(buf))
	}
	if acks, err := h.b.PublishBatch(h.ctx(), nil, nil); len(acks) != 0 || err != nil {
		h.t.Errorf("empty PublishBatch: %v, %v", acks, err)
	}
	c.expect(evs[0], evs[1], evs[2], more[0])
	c.drained()
}

func testInvalidEvent(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "valid", Patterns: []string{">"}})
	for name, mutate := range map[string]func(*event.Event){
		"no id":           func(e *event.Event) { e.ID = "" },
		"no source":       func(e *event.Event) { e.Source = "" },
		"no type":         func(e *event.Event) { e.Type = "" },
		"bad specversion": func(e *event.Event) { e.SpecVersion = "0.3" },
		"space in type":   func(e *event.Event) { e.Type = "order placed" },
		"wildcard type":   func(e *event.Event) { e.Type = "order.*" },
		"empty token":     func(e *event.Event) { e.Type = "order..placed" },
	} {
		e := newEvent("order.placed")
		mutate(e)
		_, err := h.b.Publish(h.ctx(), e)
		h.wantErr("Publish of an event with "+name, err, bus.ErrInvalidEvent)
	}
	_, err := h.b.Publish(h.ctx(), nil)
	h.wantErr("Publish(nil)", err, bus.ErrInvalidEvent)
	c.drained()
}

func testInvalidSubscription(h *harness) {
	for name, sub := range map[string]bus.Subscription{
		"empty name":       {Patterns: []string{">"}},
		"dot in name":      {Name: "a.b", Patterns: []string{">"}},
		"no patterns":      {Name: "x"},
		"empty pattern":    {Name: "x", Patterns: []string{""}},
		"bad pattern":      {Name: "x", Patterns: []string{"order.>.x"}},
		"negative queue":   {Name: "x", Patterns: []string{">"}, Queue: -1},
		"negative ackwait": {Name: "x", Patterns: []string{">"}, AckWait: -time.Second},
		"bad jitter":       {Name: "x", Patterns: []string{">"}, Backoff: bus.Backoff{Jitter: 2}},
	} {
		_, err := h.b.Subscribe(h.ctx(), sub)
		h.wantErr("Subscribe with "+name, err, bus.ErrInvalidSubscription)
	}
}

func testPersistent(h *harness) {
	sub := bus.Subscription{Name: "kept", Patterns: []string{"order.placed"}}
	c := h.subscribe(sub)
	evs := h.publishN("order.placed", 4)
	if err := c.next().Term("kept dead"); err != nil {
		h.t.Fatalf("Term: %v", err)
	}
	c.next() // in flight when the bus closes
	h.closeBus(h.b)
	h.b = h.f.Reopen(h.t, h.b)
	h.t.Cleanup(func() { h.closeBus(h.b) })
	if dls := h.deadLetters(bus.DeadLetterFilter{Subscription: "kept"}); len(dls) != 1 || dls[0].Event.ID != evs[0].ID {
		h.t.Errorf("dead letters after reopening: %+v, want the one of %s", dls, evs[0].ID)
	}
	c = h.subscribe(sub)
	got := map[string]bool{}
	for range 3 {
		got[c.nextAck().ID] = true
	}
	for _, e := range evs[1:] {
		if !got[e.ID] {
			h.t.Errorf("event %s lost across the reopening", e.ID)
		}
	}
}

func testPause(h *harness) {
	c := h.subscribe(bus.Subscription{Name: "paused", Patterns: []string{"order.placed"}})
	if err := h.b.Pause(h.ctx(), "paused"); err != nil {
		h.t.Fatalf("Pause: %v", err)
	}
	if err := h.b.Pause(h.ctx(), "paused"); err != nil {
		h.t.Fatalf("Pause of a paused subscription: %v", err)
	}
	if p, err := h.b.Paused(h.ctx(), "paused"); err != nil || !p {
		h.t.Fatalf("Paused = %v, %v; want true", p, err)
	}
	// A consumer that subscribes with other settings (a daemon that
	// restarts with a changed config) does not lift the pause.
	other := h.subscribe(bus.Subscription{Name: "paused", Patterns: []string{"order.placed"}, Queue: 500})
	other.s.Close()
	if p, err := h.b.Paused(h.ctx(), "paused"); err != nil || !p {
		h.t.Fatalf("Paused after another Subscribe = %v, %v; want true", p, err)
	}
	e1, e2 := newEvent("order.placed"), newEvent("order.placed")
	h.publish(e1)
	blocked := c.nextAsync(h.ctx())
	h.publish(e2)
	h.stillBlocked(blocked, "Next on a paused subscription")
	if err := h.b.Resume(h.ctx(), "paused"); err != nil {
		h.t.Fatalf("Resume: %v", err)
	}
	r := h.wait(blocked, "Next after Resume")
	if r.err != nil {
		h.t.Fatalf("Next after Resume: %v", r.err)
	}
	if r.d.Event().ID != e1.ID {
		h.t.Fatalf("first after Resume: %s, want %s (in order)", r.d.Event().ID, e1.ID)
	}
	r.d.Ack()
	c.expect(e2)
	if p, err := h.b.Paused(h.ctx(), "paused"); err != nil || p {
		h.t.Fatalf("Paused after Resume = %v, %v; want false", p, err)
	}
	for _, f := range []func(context.Context, string) error{h.b.Pause, h.b.Resume} {
		if err := f(h.ctx(), "nosuch"); !errors.Is(err, bus.ErrNotFound) {
			h.t.Errorf("Pause or Resume of no subscription: %v, want ErrNotFound", err)
		}
	}
	if _, err := h.b.Paused(h.ctx(), "nosuch"); !errors.Is(err, bus.ErrNotFound) {
		h.t.Errorf("Paused of no subscription: %v, want ErrNotFound", err)
	}
}

func testExtend(h *harness) {
	const ackWait = 300 * time.Millisecond
	// One attempt: an expired ack wait would dead-letter it.
	c := h.subscribe(bus.Subscription{Name: "extended", Patterns: []string{"order.placed"}, AckWait: ackWait, MaxAttempts: 1})
	e := newEvent("order.placed")
	h.publish(e)
	d := c.next()
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	blocked := c.nextAsync(ctx)
	// The consumer works on it for three ack waits, extending it as it
	// goes: the scenario's length, not a synchronisation.
	for end := time.Now().Add(3 * ackWait); time.Now().Before(end); {
		if err := d.Extend(); err != nil {
			h.t.Fatalf("Extend: %v", err)
		}
		select {
		case r := <-blocked:
			h.t.Fatalf("redelivered while extended: %+v", r)
		case <-time.After(ackWait / 3):
		}
	}
	if err := d.Ack(); err != nil {
		h.t.Fatalf("Ack after extending past the ack wait: %v", err)
	}
	if err := d.Extend(); !errors.Is(err, bus.ErrSettled) {
		h.t.Errorf("Extend of a settled delivery: %v, want ErrSettled", err)
	}
	if dls := h.deadLetters(bus.DeadLetterFilter{Subscription: "extended"}); len(dls) != 0 {
		h.t.Errorf("dead letters of an extended delivery: %+v", dls)
	}
}

// testOrderPerKey: a partitioned subscription hands out one event of a
// partition at a time, in order, a failed attempt first and a dead letter
// releasing the next; other partitions' events meanwhile; and so across
// consumers sharing the subscription.
func testOrderPerKey(h *harness) {
	const parts = 8
	sub := bus.Subscription{Name: "ordered", Patterns: []string{"acct.op"}, Partitions: parts, OrderBy: "subject",
		OrderKey: func(e *event.Event) string { return e.Subject }}
	a := h.subscribe(sub)
	ka, kb := "a", ""
	for i := 0; kb == ""; i++ {
		if k := fmt.Sprint("b", i); bus.Partition(k, parts) != bus.Partition(ka, parts) && bus.Partition(k, parts) != bus.Partition("", parts) {
			kb = k
		}
	}
	ev := func(k string) *event.Event { e := newEvent("acct.op"); e.Subject = k; return e }
	a1, a2, b1 := ev(ka), ev(ka), ev(kb)
	h.publish(a1)
	h.publish(a2)
	h.publish(b1)
	// a1 and b1 come, in either order; a2 waits behind a1.
	d, e := a.next(), a.next()
	if d.Event().ID != a1.ID {
		d, e = e, d
	}
	if d.Event().ID != a1.ID || e.Event().ID != b1.ID {
		h.t.Fatalf("got %s and %s, want %s (key a) and %s (key %s)", d.Event().Subject, e.Event().Subject, a1.ID, b1.ID, kb)
	}
	r := a.nextAsync(h.ctx())
	h.stillBlocked(r, "Next while the partition's event is in flight")
	if err := d.Nak(0, "again"); err != nil {
		h.t.Fatalf("Nak: %v", err)
	}
	got := h.wait(r, "the retry")
	if got.err != nil || got.d.Event().ID != a1.ID || got.d.Attempt() != 2 {
		h.t.Fatalf("after a Nak, got %v (err %v), want %s again, attempt 2", got.d.Event(), got.err, a1.ID)
	}
	if err := got.d.Term("give up"); err != nil {
		h.t.Fatalf("Term: %v", err)
	}
	if d := a.next(); d.Event().ID != a2.ID {
		h.t.Fatalf("after the dead letter, got %s, want %s", d.Event().ID, a2.ID)
	} else {
		d.Ack()
	}
	e.Ack()
	a.drained()

	// Its partitioning cannot change.
	other := sub
	other.Partitions = parts / 2
	other.Patterns = append(other.Patterns, barrierType(sub.Name))
	if s, err := h.b.Subscribe(h.ctx(), other); err == nil {
		s.Close()
		h.t.Fatal("Subscribe changed the partitions of a subscription")
	} else {
		h.wantErr("Subscribe with other partitions", err, bus.ErrInvalidSubscription)
	}

	// Shared by two consumers with workers each, some attempts failing:
	// every key's events are handled one at a time, in order.
	const keys, per = 12, 15
	c := h.subscribe(sub)
	var mu sync.Mutex
	busy := map[string]bool{}
	done := map[string][]string{}
	left := keys * per
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(h.ctx())
	defer cancel()
	var wg sync.WaitGroup
	for _, cons := range []*consumer{a, c, a, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := cons.s.Next(ctx)
				if err != nil {
					return
				}
				e := d.Event()
				if isBarrier(e) {
					d.Ack()
					continue
				}
				mu.Lock()
				if busy[e.Subject] {
					h.t.Errorf("key %s: two events in flight at once", e.Subject)
				}
				busy[e.Subject] = true
				mu.Unlock()
				time.Sleep(time.Millisecond) // a handler's work
				mu.Lock()
				busy[e.Subject] = false
				fail := d.Attempt() == 1 && len(done[e.Subject])%4 == 1
				if !fail {
					done[e.Subject] = append(done[e.Subject], e.ID)
					if left--; left == 0 {
						close(all)
					}
				}
				mu.Unlock()
				if fail {
					d.Nak(0, "first attempts of some fail")
				} else if err := d.Ack(); err != nil {
					h.t.Errorf("Ack: %v", err)
				}
			}
		}()
	}
	want := map[string][]string{}
	for i := range keys * per {
		k := fmt.Sprint("k", i%keys)
		e := ev(k)
		want[k] = append(want[k], e.ID)
		h.publish(e)
	}
	select {
	case <-all:
	case <-ctx.Done():
		h.t.Fatal("timed out before every event was handled")
	}
	cancel()
	wg.Wait()
	if !reflect.DeepEqual(done, want) {
		h.t.Errorf("events handled per key, in order:\n%v\nwant\n%v", done, want)
	}
}
