package natsbus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/bustest"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// opened remembers the options of the buses the tests open, to reopen
// them.
var opened sync.Map // *natsbus.Bus -> natsbus.Options

// open opens a bus on opts; the test closes it.
func open(t testing.TB, opts natsbus.Options) *natsbus.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := natsbus.Open(ctx, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	opened.Store(b, opts)
	return b
}

// closeBus closes b and fails the test on error.
func closeBus(t testing.TB, b bus.Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// embedded returns the options of a bus with an embedded server on a new
// directory.
func embedded(t testing.TB) natsbus.Options {
	return natsbus.Options{Embedded: &natsbus.Embedded{StoreDir: t.TempDir()}}
}

func reopen(t *testing.T, closed bus.Bus) bus.Bus {
	opts, ok := opened.Load(closed)
	if !ok {
		t.Fatal("reopen: a bus the tests did not open")
	}
	return open(t, opts.(natsbus.Options))
}

func TestConformanceEmbedded(t *testing.T) {
	bustest.RunFeatures(t, func(t *testing.T) bus.Bus { return open(t, embedded(t)) },
		bustest.Features{Persistent: true, Reopen: reopen})
}

// standalone starts a NATS server with JetStream and a loopback listener on
// a random port, as an external cluster of one; the test stops it.
func standalone(t testing.TB, storeDir string, port int) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  storeDir,
		NoSigs:    true,
		NoLog:     true,
	})
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// uniquePrefix returns a stream prefix of its own, so that buses sharing a
// server do not see each other.
func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:])
}

func TestConformanceExternal(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	bustest.RunFeatures(t, func(t *testing.T) bus.Bus {
		return open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()})
	}, bustest.Features{Persistent: true, Reopen: reopen})
}

var seq atomic.Uint64

// newEvent returns a valid event of type typ with an id of its own.
func newEvent(typ string) *event.Event {
	return &event.Event{
		ID:          fmt.Sprintf("%s-%d", runID, seq.Add(1)),
		Source:      "/natsbus-test",
		Type:        typ,
		SpecVersion: event.SpecVersion,
		Data:        []byte(`{"order":42}`),
	}
}

var runID = uniquePrefix()

func publish(t testing.TB, b bus.Bus, e *event.Event) bus.PubAck {
	t.Helper()
	ack, err := b.Publish(context.Background(), e)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	return ack
}

func subscribe(t testing.TB, b bus.Bus, sub bus.Subscription) bus.Subscriber {
	t.Helper()
	s, err := b.Subscribe(context.Background(), sub)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", sub.Name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive acks n deliveries and returns their events' ids.
func receive(t testing.TB, s bus.Subscriber, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var ids []string
	for len(ids) < n {
		d, err := s.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d of %d: %v", len(ids), n, err)
		}
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		ids = append(ids, d.Event().ID)
	}
	return ids
}

// TestReopen publishes events for a subscription with no consumer, closes
// the bus, opens it again on the same directory: the events, the dedup
// window and the subscription's settings are all still there.
func TestReopen(t *testing.T) {
	opts := embedded(t)
	b := open(t, opts)
	sub := bus.Subscription{Name: "later", Patterns: []string{"order.*"}, Queue: 50}
	subscribe(t, b, sub).Close()
	var evs []*event.Event
	for range 20 {
		e := newEvent("order.placed")
		publish(t, b, e)
		evs = append(evs, e)
	}
	closeBus(t, b)

	b = open(t, opts)
	defer closeBus(t, b)
	if ack := publish(t, b, evs[3].Clone()); !ack.Duplicate {
		t.Error("an event published before the restart was not a duplicate after it")
	}
	s := subscribe(t, b, bus.Subscription{Name: "later", Patterns: []string{"order.*"}, Queue: 50})
	got := receive(t, s, len(evs))
	for i, e := range evs {
		if got[i] != e.ID {
			t.Fatalf("delivery %d is %s, want %s", i, got[i], e.ID)
		}
	}
}

// TestBrokerRestart stops the external server in the middle of a run and
// starts it again on the same port and storage: the bus reconnects, and
// every event it accepted is delivered.
func TestBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	srv := standalone(t, dir, -1)
	port := srv.Addr().(*net.TCPAddr).Port
	b := open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()})
	defer closeBus(t, b)
	s := subscribe(t, b, bus.Subscription{Name: "survivor", Patterns: []string{"load.>"}, AckWait: time.Second, Queue: 100_000})

	const total = 600
	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		received = map[string]bool{}
		allIn    = make(chan struct{})
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the consumer
		defer wg.Done()
		buf := make([]bus.Delivery, 32)
		for {
			n, err := s.Fetch(ctx, buf)
			if err != nil {
				if ctx.Err() == nil {
					t.Errorf("Fetch: %v", err)
				}
				return
			}
			for _, d := range buf[:n] {
				_ = d.Ack() // an ack lost in the restart means a redelivery
				mu.Lock()
				received[d.Event().ID] = true
				if len(received) == total {
					close(allIn)
				}
				mu.Unlock()
			}
		}
	}()
	restarted := make(chan struct{})
	restart := func() { // a third of the way in
		srv.Shutdown()
		srv.WaitForShutdown()
		go func() {
			time.Sleep(1500 * time.Millisecond) // longer than a publish's timeout
			standalone(t, dir, port)
			close(restarted)
		}()
	}
	failures := 0
	for i := 0; i < total; i++ { // the producer: each event until accepted
		if i == total/3 {
			restart()
		}
		e := newEvent(fmt.Sprintf("load.p%d", i%3))
		for {
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			_, err := b.Publish(pctx, e)
			pcancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("event %d never accepted: %v", i, err)
			}
			failures++
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		accepted[e.ID] = true
		mu.Unlock()
	}
	<-restarted
	select {
	case <-allIn:
	case <-ctx.Done():
		mu.Lock()
		t.Fatalf("%d of %d accepted events received", len(received), total)
	}
	cancel()
	wg.Wait()
	t.Logf("%d publishes failed while the server was down", failures)
}

// TestSharedAcrossBuses shares one subscription between consumers of two
// buses, as two daemons on one cluster would: each event is handled once,
// and both get work.
func TestSharedAcrossBuses(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	opts := natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()}
	b1, b2 := open(t, opts), open(t, opts)
	defer closeBus(t, b2)
	defer closeBus(t, b1)
	sub := bus.Subscription{Name: "pool", Patterns: []string{"work.*"}, Queue: 10_000}
	consumers := []bus.Subscriber{subscribe(t, b1, sub), subscribe(t, b2, sub), subscribe(t, b2, sub)}

	const n = 300
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	per := make([]int, len(consumers))
	all := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := s.Next(ctx)
				if err != nil {
					return
				}
				time.Sleep(100 * time.Microsecond) // some work
				_ = d.Ack()
				mu.Lock()
				seen[d.Event().ID]++
				per[i]++
				if len(seen) == n {
					close(all)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		publish(t, []bus.Bus{b1, b2}[i%2], newEvent("work.item"))
	}
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("%d of %d events handled", len(seen), n)
	}
	cancel()
	wg.Wait()
	for id, k := range seen {
		if k != 1 {
			t.Errorf("event %s handled %d times", id, k)
		}
	}
	for i, k := range per {
		if k == 0 {
			t.Errorf("consumer %d got no work (%v)", i, per)
		}
	}
}

// TestDedupWindow checks that an id is remembered for the window, and only
// for the window.
func TestDedupWindow(t *testing.T) {
	opts := embedded(t)
	opts.DedupWindow = 300 * time.Millisecond
	b := open(t, opts)
	defer closeBus(t, b)
	e := newEvent("order.placed")
	first := publish(t, b, e)
	if ack := publish(t, b, e.Clone()); !ack.Duplicate || ack.Seq != first.Seq {
		t.Fatalf("within the window: %+v, want a duplicate of %d", ack, first.Seq)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		time.Sleep(100 * time.Millisecond)
		ack := publish(t, b, e.Clone())
		if !ack.Duplicate {
			if ack.Seq <= first.Seq {
				t.Errorf("after the window: sequence %d, want more than %d", ack.Seq, first.Seq)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still a duplicate long after the window")
		}
	}
}

// TestPastLastAttempt lowers MaxAttempts of a subscription below the
// attempts an event has had: its next delivery is past the last attempt,
// as after the death of the process that held the last attempt, and the
// bus dead-letters it instead of handing it out.
func TestPastLastAttempt(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	ctx := context.Background()
	sub := bus.Subscription{Name: "lowered", Patterns: []string{"order.placed"}, MaxAttempts: 5}
	s := subscribe(t, b, sub)
	e := newEvent("order.placed")
	publish(t, b, e)
	for range 2 {
		d, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Nak(0, "not yet"); err != nil {
			t.Fatal(err)
		}
	}
	sub.MaxAttempts = 2
	s2 := subscribe(t, b, sub)
	s.Close()
	after := newEvent("order.placed")
	publish(t, b, after)
	if got := receive(t, s2, 1); got[0] != after.ID {
		t.Fatalf("got %s, want only %s", got[0], after.ID)
	}
	dls, err := b.DeadLetters(ctx, bus.DeadLetterFilter{Subscription: "lowered"})
	if err != nil || len(dls) != 1 {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if dl := dls[0]; dl.Event.ID != e.ID || dl.Attempts != 2 || dl.Reason != bus.ReasonAckWait || dl.Terminated {
		t.Errorf("dead letter %+v", dl)
	}
}

// TestOverlappingPatterns subscribes with patterns that a JetStream
// consumer cannot take as filters as they are.
func TestOverlappingPatterns(t *testing.T) {
	b := open(t, embedded(t))
	defer closeBus(t, b)
	s := subscribe(t, b, bus.Subscription{Name: "overlap", Patterns: []string{"order.*", "*.placed"}})
	var want []string
	for _, typ := range []string{"order.placed", "payment.charged", "order.shipped", "order.a.b", "cart.placed", "x"} {
		e := newEvent(typ)
		publish(t, b, e)
		if typ == "order.placed" || typ == "order.shipped" || typ == "cart.placed" {
			want = append(want, e.ID)
		}
	}
	last := newEvent("order.last")
	publish(t, b, last)
	want = append(want, last.ID)
	if got := receive(t, s, len(want)); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]natsbus.Options{
		"nothing":       {},
		"both":          {Embedded: &natsbus.Embedded{StoreDir: "x"}, URLs: []string{"nats://x"}},
		"no store":      {Embedded: &natsbus.Embedded{}},
		"creds embed":   {Embedded: &natsbus.Embedded{StoreDir: "x"}, Token: "t"},
		"two auths":     {URLs: []string{"nats://x"}, Token: "t", User: "u"},
		"password only": {URLs: []string{"nats://x"}, Password: "p"},
		"half a cert":   {URLs: []string{"nats://x"}, TLS: natsbus.TLS{CertFile: "c"}},
		"bad prefix":    {URLs: []string{"nats://x"}, Prefix: "a.b"},
		"replicas":      {URLs: []string{"nats://x"}, Replicas: 7},
		"dedup > age":   {URLs: []string{"nats://x"}, MaxAge: time.Minute, DedupWindow: time.Hour},
	} {
		if err := o.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, o)
		}
	}
	if _, err := natsbus.Open(context.Background(), natsbus.Options{URLs: []string{"nats://127.0.0.1:1"}}); err == nil {
		t.Error("Open connected to nothing")
	}
}
