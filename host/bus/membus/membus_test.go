package membus_test

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/bustest"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/event"
)

func TestConformance(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bus.Bus { return membus.New(membus.Options{}) })
}

func newEvent(id, typ string) *event.Event {
	return &event.Event{ID: id, Source: "/membus", Type: typ, SpecVersion: event.SpecVersion}
}

func newBus(t *testing.T, opts membus.Options) *membus.Bus {
	t.Helper()
	b := membus.New(opts)
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

func subscribe(t *testing.T, b bus.Bus, sub bus.Subscription) bus.Subscriber {
	t.Helper()
	s, err := b.Subscribe(context.Background(), sub)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

func next(t *testing.T, s bus.Subscriber) bus.Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return d
}

// A delivery whose ack wait expired is settled by the bus: its handle is
// stale, and settling it changes nothing.
func TestStaleHandleAfterAckWait(t *testing.T) {
	b := newBus(t, membus.Options{})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}, AckWait: 50 * time.Millisecond})
	if _, err := b.Publish(context.Background(), newEvent("1", "a")); err != nil {
		t.Fatal(err)
	}
	stale := next(t, s)
	fresh := next(t, s)
	if fresh.Attempt() != 2 {
		t.Fatalf("attempt %d, want 2", fresh.Attempt())
	}
	for name, err := range map[string]error{"Ack": stale.Ack(), "Nak": stale.Nak(0, "x"), "Term": stale.Term("x")} {
		if !errors.Is(err, bus.ErrSettled) {
			t.Errorf("%s of an expired delivery: %v, want ErrSettled", name, err)
		}
	}
	if err := fresh.Ack(); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// Slots are recycled: a handle of an acked delivery must not settle the
// delivery that reuses its slot.
func TestStaleHandleAfterReuse(t *testing.T) {
	b := newBus(t, membus.Options{})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}, Queue: 1})
	b.Publish(context.Background(), newEvent("1", "a"))
	d1 := next(t, s)
	if err := d1.Ack(); err != nil {
		t.Fatal(err)
	}
	b.Publish(context.Background(), newEvent("2", "a"))
	d2 := next(t, s)
	if err := d1.Ack(); !errors.Is(err, bus.ErrSettled) {
		t.Fatalf("second Ack of a recycled delivery: %v, want ErrSettled", err)
	}
	if err := d2.Ack(); err != nil {
		t.Fatalf("Ack of the delivery in the recycled slot: %v", err)
	}
}

func TestDedupWindowExpires(t *testing.T) {
	b := newBus(t, membus.Options{DedupWindow: 30 * time.Millisecond})
	ctx := context.Background()
	if ack, _ := b.Publish(ctx, newEvent("1", "a")); ack.Duplicate {
		t.Fatal("first publish is a duplicate")
	}
	if ack, _ := b.Publish(ctx, newEvent("1", "a")); !ack.Duplicate {
		t.Fatal("second publish within the window is not a duplicate")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ack, _ := b.Publish(ctx, newEvent("1", "a"))
		if !ack.Duplicate {
			break // remembered no longer
		}
		if time.Now().After(deadline) {
			t.Fatal("the dedup window never expired")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDedupMaxForgetsOldest(t *testing.T) {
	b := newBus(t, membus.Options{DedupMax: 2})
	ctx := context.Background()
	for _, id := range []string{"1", "2", "3"} {
		b.Publish(ctx, newEvent(id, "a"))
	}
	if ack, _ := b.Publish(ctx, newEvent("3", "a")); !ack.Duplicate {
		t.Error("the newest id was forgotten")
	}
	if ack, _ := b.Publish(ctx, newEvent("1", "a")); ack.Duplicate {
		t.Error("the oldest id was remembered past DedupMax")
	}
}

func TestDedupOff(t *testing.T) {
	b := newBus(t, membus.Options{DedupWindow: -1})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}})
	for range 2 {
		if ack, _ := b.Publish(context.Background(), newEvent("1", "a")); ack.Duplicate {
			t.Fatal("duplicate with deduplication off")
		}
	}
	next(t, s).Ack()
	next(t, s).Ack()
}

func TestMaxDeadLetters(t *testing.T) {
	b := newBus(t, membus.Options{MaxDeadLetters: 2})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}})
	for _, id := range []string{"1", "2", "3"} {
		b.Publish(context.Background(), newEvent(id, "a"))
		if err := next(t, s).Term("no"); err != nil {
			t.Fatal(err)
		}
	}
	dls, _ := b.DeadLetters(context.Background(), bus.DeadLetterFilter{})
	if len(dls) != 2 || dls[0].Event.ID != "2" || dls[1].Event.ID != "3" {
		t.Fatalf("dead letters %+v, want those of 2 and 3", dls)
	}
}

// Delayed redeliveries use the bus's one goroutine, not one per event.
func TestNoGoroutinePerDelayedEvent(t *testing.T) {
	b := newBus(t, membus.Options{})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}})
	before := runtime.NumGoroutine()
	const n = 200
	for i := range n {
		b.Publish(context.Background(), newEvent(strconv.Itoa(i), "a"))
	}
	for range n {
		if err := next(t, s).Nak(time.Hour, "later"); err != nil {
			t.Fatal(err)
		}
	}
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Errorf("%d goroutines with %d delayed events, %d before", after, n, before)
	}
}

// Close waits for the bus's goroutine.
func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	b := membus.New(membus.Options{})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}})
	b.Publish(context.Background(), newEvent("1", "a"))
	next(t, s).Nak(time.Hour, "later")
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after Close, %d before New", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
	}
}

// The hot path of an already-created event allocates nothing in the bus.
func TestPublishAckDoesNotAllocate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	b := newBus(t, membus.Options{DedupWindow: -1})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a.>"}})
	e := newEvent("1", "a.b")
	ctx := context.Background()
	buf := make([]bus.Delivery, 1)
	// Warm up: grow the slab and the rings.
	for range 10 {
		b.Publish(ctx, e)
		s.Fetch(ctx, buf)
		buf[0].Ack()
	}
	allocs := testing.AllocsPerRun(1000, func() {
		b.Publish(ctx, e)
		s.Fetch(ctx, buf)
		buf[0].Ack()
	})
	if allocs != 0 {
		t.Errorf("publish, fetch and ack allocate %v times, want 0", allocs)
	}
	// A batch whose receipts go into the last batch's: nothing either.
	batch := []*event.Event{e, e, e, e}
	dls := make([]bus.Delivery, len(batch))
	var acks []bus.PubAck
	allocs = testing.AllocsPerRun(1000, func() {
		acks, _ = b.PublishBatch(ctx, batch, acks)
		n, _ := s.Fetch(ctx, dls)
		for _, d := range dls[:n] {
			d.Ack()
		}
	})
	if allocs != 0 || len(acks) != len(batch) {
		t.Errorf("a batch published into the last one's receipts, fetched and acked: %d receipts, %v allocations, want %d and 0",
			len(acks), allocs, len(batch))
	}
}

// benchEvent is the template of the benchmarks' events.
var benchEvent = event.Event{ID: "x", Source: "/bench", Type: "order.placed", SpecVersion: event.SpecVersion, Data: []byte(`{"id":42}`)}

// benchPublishAck measures events published and acked, end to end, with
// consumers goroutines pulling batches of 64 and acking each delivery.
func benchPublishAck(b *testing.B, consumers, batch int, fresh, dedup bool) {
	opts := membus.Options{Queue: 1 << 14}
	if !dedup {
		opts.DedupWindow = -1
	}
	mb := membus.New(opts)
	defer mb.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := bus.Subscription{Name: "bench", Patterns: []string{"order.>"}}
	// Fresh events are new ones, each with its own id (two allocations per
	// event, counted), as a producer makes them; otherwise one event is
	// published again and again (deduplication must be off), and the
	// bus's own allocations show.
	batchBuf := make([]*event.Event, 0, max(batch, 1))
	newEvents := func(from, n int) []*event.Event {
		batchBuf = batchBuf[:0]
		for i := from; i < from+n; i++ {
			if !fresh {
				batchBuf = append(batchBuf, &benchEvent)
				continue
			}
			e := new(event.Event)
			*e = benchEvent
			e.ID = strconv.Itoa(i)
			batchBuf = append(batchBuf, e)
		}
		return batchBuf
	}

	var acked sync.WaitGroup
	acked.Add(b.N)
	var wg sync.WaitGroup
	for range consumers {
		s, err := mb.Subscribe(ctx, sub)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]bus.Delivery, 64)
			for {
				n, err := s.Fetch(ctx, buf)
				if err != nil {
					return
				}
				for _, d := range buf[:n] {
					if d.Ack() != nil {
						panic("ack failed")
					}
				}
				acked.Add(-n)
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	var pending []*event.Event
	for i := 0; i < b.N; {
		if len(pending) == 0 {
			pending = newEvents(i, min(max(batch, 1), b.N-i))
		}
		var err error
		if batch <= 1 {
			_, err = mb.Publish(ctx, pending[0])
			if err == nil {
				pending, i = pending[1:], i+1
			}
		} else {
			var acks []bus.PubAck
			acks, err = mb.PublishBatch(ctx, pending, nil)
			pending, i = pending[len(acks):], i+len(acks)
		}
		if err != nil {
			if !errors.Is(err, bus.ErrBackpressure) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	acked.Wait()
	b.StopTimer()
	cancel()
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkPublishAck(b *testing.B) {
	for _, bc := range []struct {
		name         string
		consumers    int
		batch        int
		fresh, dedup bool
	}{
		{"consumers=1", 1, 1, true, true},
		{"consumers=2", 2, 1, true, true},
		{"consumers=1/batch=64", 1, 64, true, true},
		{"consumers=2/batch=64", 2, 64, true, true},
		{"consumers=1/nodedup", 1, 1, true, false},
		{"consumers=2/nodedup", 2, 1, true, false},
		{"consumers=1/nodedup/reused", 1, 1, false, false},
		{"consumers=2/nodedup/reused", 2, 1, false, false},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPublishAck(b, bc.consumers, bc.batch, bc.fresh, bc.dedup) })
	}
}

// BenchmarkPublishAckSerial is publish, fetch and ack on one goroutine:
// the bus's own cost per event, without any handoff between cores.
func BenchmarkPublishAckSerial(b *testing.B) {
	mb := membus.New(membus.Options{DedupWindow: -1})
	defer mb.Close(context.Background())
	ctx := context.Background()
	s, _ := mb.Subscribe(ctx, bus.Subscription{Name: "bench", Patterns: []string{"order.>"}})
	e := &benchEvent
	buf := make([]bus.Delivery, 1)
	b.ReportAllocs()
	for b.Loop() {
		mb.Publish(ctx, e)
		s.Fetch(ctx, buf)
		buf[0].Ack()
	}
}

// Pending counts what each subscription holds unsettled.
func TestPending(t *testing.T) {
	b := newBus(t, membus.Options{})
	s := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"a"}})
	subscribe(t, b, bus.Subscription{Name: "other", Patterns: []string{"b"}})
	for i, typ := range []string{"a", "a", "a", "b"} {
		if _, err := b.Publish(context.Background(), newEvent(strconv.Itoa(i), typ)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Pending(); got["s"] != 3 || got["other"] != 1 {
		t.Fatalf("Pending = %v, want s:3 other:1", got)
	}
	if err := next(t, s).Ack(); err != nil {
		t.Fatal(err)
	}
	if got := b.Pending()["s"]; got != 2 {
		t.Fatalf("Pending[s] after an ack = %d, want 2", got)
	}
}

// A batch is staged, then enqueued with one lock of each subscription: an
// event goes to all its subscriptions or to none, even when one of them
// fills in the middle of the batch and another has room, and a duplicate
// within the batch is one event.
func TestPublishBatchAllOrNothing(t *testing.T) {
	b := newBus(t, membus.Options{})
	small := subscribe(t, b, bus.Subscription{Name: "small", Patterns: []string{"x.a"}, Queue: 2})
	big := subscribe(t, b, bus.Subscription{Name: "big", Patterns: []string{"x.*"}, Queue: 10})
	evs := []*event.Event{newEvent("1", "x.a"), newEvent("2", "x.b"), newEvent("1", "x.a"), newEvent("3", "x.a"), newEvent("4", "x.a"), newEvent("5", "x.b")}
	acks, err := b.PublishBatch(context.Background(), evs, nil)
	var bp *bus.BackpressureError
	if len(acks) != 4 || !errors.As(err, &bp) || bp.Subscription != "small" {
		t.Fatalf("PublishBatch: %d accepted, %v; want 4 (the third a duplicate), then small full", len(acks), err)
	}
	if !acks[2].Duplicate || acks[3].Duplicate {
		t.Errorf("acks %+v: want the third one alone a duplicate", acks)
	}
	if p := b.Pending(); p["small"] != 2 || p["big"] != 3 {
		t.Errorf("pending %v, want small 2 and big 3", p)
	}
	for _, c := range []struct {
		s    bus.Subscriber
		want []string
	}{{small, []string{"1", "3"}}, {big, []string{"1", "2", "3"}}} {
		for _, id := range c.want {
			if d := next(t, c.s); d.Event().ID != id {
				t.Fatalf("got %s, want %s", d.Event().ID, id)
			}
		}
	}
}

// AckFetch takes a batch only while one is ready for each of the callers
// sharing the consumer, else one delivery; it acks the deliveries given
// first, in the same take of the lock, and reports one settled already.
func TestAckFetch(t *testing.T) {
	b := newBus(t, membus.Options{})
	sub := subscribe(t, b, bus.Subscription{Name: "s", Patterns: []string{"x"}, Queue: 100})
	fair, ok := sub.(bus.FairFetcher)
	if !ok {
		t.Fatal("the memory bus's subscriber is not a bus.FairFetcher")
	}
	seq := 0
	publishN := func(n int) {
		for range n {
			seq++
			if _, err := b.Publish(context.Background(), newEvent(strconv.Itoa(seq), "x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx := context.Background()
	errs := make([]error, 4)
	first := make([]bus.Delivery, 4)
	publishN(7) // fewer than 4 for each of 2 callers
	if n, err := fair.AckFetch(ctx, nil, errs, first, 2); n != 1 || err != nil {
		t.Fatalf("7 ready, 2 callers: took %d (%v), want 1", n, err)
	}
	if n, err := fair.AckFetch(ctx, nil, errs, first[1:], 1); n != 3 || err != nil {
		t.Fatalf("6 ready, 1 caller: took %d (%v), want 3", n, err)
	}
	if err := first[0].Ack(); err != nil {
		t.Fatal(err)
	}
	publishN(5) // 8 ready: 4 for each of 2
	second := make([]bus.Delivery, 4)
	if n, err := fair.AckFetch(ctx, first, errs, second, 2); n != 4 || err != nil {
		t.Fatalf("8 ready, 2 callers: took %d (%v), want 4", n, err)
	}
	if !errors.Is(errs[0], bus.ErrSettled) || errs[1] != nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("ack errors %v, want ErrSettled for the one acked already, then nil", errs)
	}
	if p := b.Pending()["s"]; p != 8 {
		t.Fatalf("pending %d after acking the first 4 of 12, want 8", p)
	}
	// Acks only (no buffer), then a delivery of another subscription.
	if n, err := fair.AckFetch(ctx, second, errs, nil, 2); n != 0 || err != nil || errors.Join(errs...) != nil {
		t.Fatalf("acks only: %d, %v, %v", n, err, errs)
	}
	if p := b.Pending()["s"]; p != 4 {
		t.Fatalf("pending %d, want the 4 never fetched", p)
	}
	other := subscribe(t, b, bus.Subscription{Name: "o", Patterns: []string{"x"}, Queue: 100})
	publishN(1)
	dl, err := other.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fair.AckFetch(ctx, []bus.Delivery{dl}, errs, nil, 1)
	if !errors.Is(errs[0], bus.ErrSettled) {
		t.Fatalf("a delivery of another subscription: %v, want ErrSettled", errs[0])
	}
	if err := dl.Ack(); err != nil {
		t.Fatalf("the other subscription's delivery was settled: %v", err)
	}
}
