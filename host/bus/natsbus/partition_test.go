package natsbus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// A partitioned subscription is a consumer per partition with one event
// in flight: Pending counts it as one subscription, Pause and Resume reach
// every partition, Unsubscribe deletes them all.
func TestPartitionConsumers(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	prefix := uniquePrefix()
	b := open(t, natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: prefix})
	defer closeBus(t, b)
	ctx := context.Background()
	s := subscribe(t, b, bus.Subscription{Name: "p", Patterns: []string{"part.a"}, Partitions: 4, OrderBy: "subject",
		OrderKey: func(e *event.Event) string { return e.Subject }})
	defer s.Close()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(ctx, prefix+"_events")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"p", "p~1", "p~2", "p~3"}
	each := func(check func(name string, info *jetstream.ConsumerInfo)) {
		t.Helper()
		for _, n := range names {
			c, err := stream.Consumer(ctx, n)
			if err != nil {
				t.Fatalf("consumer %s: %v", n, err)
			}
			check(n, c.CachedInfo())
		}
	}
	each(func(n string, info *jetstream.ConsumerInfo) {
		if info.Config.MaxAckPending != 1 {
			t.Errorf("%s: MaxAckPending %d, want 1", n, info.Config.MaxAckPending)
		}
	})
	for i := range 5 {
		e := newEvent("part.a")
		e.Subject = fmt.Sprint("k", i)
		publish(t, b, e)
	}
	waitPending(t, b, "p", 5)
	if _, ok := b.Pending()["p~1"]; ok {
		t.Error("a partition's consumer is listed as a subscription")
	}
	if err := b.Pause(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	each(func(n string, info *jetstream.ConsumerInfo) {
		if !info.Paused {
			t.Errorf("%s not paused", n)
		}
	})
	if err := b.Resume(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	each(func(n string, info *jetstream.ConsumerInfo) {
		if info.Paused {
			t.Errorf("%s still paused", n)
		}
	})
	receive(t, s, 5)
	s.Close()
	if err := b.Unsubscribe(ctx, "p"); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := stream.Consumer(ctx, n); err == nil {
			t.Errorf("consumer %s left after Unsubscribe", n)
		}
	}
}

// Join counts the processes that run a subscription: two buses on one
// server see 2; once one leaves, the other sees 1.
func TestMembers(t *testing.T) {
	srv := standalone(t, t.TempDir(), -1)
	opts := natsbus.Options{URLs: []string{srv.ClientURL()}, Prefix: uniquePrefix()}
	a, b := open(t, opts), open(t, opts)
	defer closeBus(t, a)
	defer closeBus(t, b)
	countA, leaveA := a.Join("metered")
	defer leaveA()
	countB, leaveB := b.Join("metered")
	other, leaveOther := b.Join("other")
	defer leaveOther()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("both buses to count 2", func() bool { return countA() == 2 && countB() == 2 })
	if n := other(); n != 1 {
		t.Errorf("other subscription: %d processes, want 1", n)
	}
	leaveB()
	wait("a to count 1 once b left", func() bool { return countA() == 1 })
}
