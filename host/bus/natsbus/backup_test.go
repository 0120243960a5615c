package natsbus_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// TestSnapshotRestore snapshots every stream of a bus whose subscription
// holds events (some delivered and acked, the rest pending), restores them
// into a new store, and opens a bus there: the subscription gets exactly
// the events it had pending, the KV space and the dead letters are back,
// and a second restore is refused, changing nothing.
//
// The first 10 events are handled and their acks seen by the server
// before the other 20 are published with no consumer running: a delivery
// in flight when the snapshot is taken (fetched ahead, or acked but not yet
// processed) is delivered again only after its ack wait, which is a
// different guarantee (README, "In-flight events are delivered again").
func TestSnapshotRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := embedded(t)
	opts.Embedded.Listen = "127.0.0.1:-1"
	b := open(t, opts)
	sub := bus.Subscription{Name: "orders", Patterns: []string{"order.*"}}
	s := subscribe(t, b, sub)
	var evs []*event.Event
	for i := range 30 {
		if i == 10 {
			receive(t, s, 10) // the first 10 are done
			s.Close()
			waitSettled(ctx, t, b.ClientURL(), "evhost_events", sub.Name, 10)
		}
		e := newEvent("order.placed")
		publish(t, b, e)
		evs = append(evs, e)
	}
	space, err := natsbus.KV(ctx, b, "counter", natsbus.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := space.Set(ctx, "n", []byte("7")); err != nil {
		t.Fatal(err)
	}

	snaps := b.Snapshots()
	names, err := snaps.Streams(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"evhost_events", "evhost_dlq", "KV_evhost_kv_counter"} {
		if !slices.Contains(names, want) {
			t.Fatalf("Streams = %v, without %s", names, want)
		}
	}
	type snap struct {
		meta []byte
		data bytes.Buffer
	}
	taken := map[string]*snap{}
	for _, n := range names {
		sn := &snap{}
		if sn.meta, err = snaps.Snapshot(ctx, n, &sn.data); err != nil {
			t.Fatalf("Snapshot(%s): %v", n, err)
		}
		if got, err := natsbus.DescribeSnapshot(sn.meta); err != nil || got.Stream != n {
			t.Fatalf("DescribeSnapshot(meta of %s) = %+v, %v", n, got, err)
		} else if n == "evhost_events" && (got.Messages != 30 || got.Consumers != 1) {
			t.Errorf("DescribeSnapshot(meta of %s) = %+v, want 30 messages, 1 consumer", n, got)
		}
		taken[n] = sn
	}
	if _, err := snaps.Snapshot(ctx, "evhost_nothing", &bytes.Buffer{}); err == nil {
		t.Error("Snapshot of a stream that does not exist: no error")
	}
	closeBus(t, b)

	fresh := embedded(t)
	rs, err := natsbus.DialSnapshots(ctx, fresh)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := rs.Restore(ctx, taken[n].meta, bytes.NewReader(taken[n].data.Bytes())); err != nil {
			t.Fatalf("Restore(%s): %v", n, err)
		}
	}
	err = rs.Restore(ctx, taken["evhost_events"].meta, bytes.NewReader(taken["evhost_events"].data.Bytes()))
	if !errors.Is(err, natsbus.ErrStreamExists) {
		t.Errorf("a second Restore of evhost_events: %v, want ErrStreamExists", err)
	}
	rs.Close()

	b2 := open(t, fresh)
	defer closeBus(t, b2)
	s2 := subscribe(t, b2, sub)
	got := receive(t, s2, 20)
	for i, id := range got {
		if want := evs[10+i].ID; id != want {
			t.Fatalf("restored delivery %d is %s, want %s", i, id, want)
		}
	}
	space2, err := natsbus.KV(ctx, b2, "counter", natsbus.KVOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := space2.Get(ctx, "n"); err != nil || string(v) != "7" {
		t.Errorf("restored KV n = %q, %v; want 7", v, err)
	}
}

// The same over the network: a stream of one external server, snapshotted
// through a client connection and restored with DialSnapshots into another
// server; its consumer there delivers what it had pending.
func TestSnapshotRestoreExternal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	src, dst := standalone(t, t.TempDir(), -1), standalone(t, t.TempDir(), -1)
	prefix := uniquePrefix()
	b := open(t, natsbus.Options{URLs: []string{src.ClientURL()}, Prefix: prefix})
	sub := bus.Subscription{Name: "orders", Patterns: []string{"order.*"}}
	subscribe(t, b, sub).Close()
	var ids []string
	for range 5 {
		e := newEvent("order.placed")
		publish(t, b, e)
		ids = append(ids, e.ID)
	}
	var data bytes.Buffer
	meta, err := b.Snapshots().Snapshot(ctx, prefix+"_events", &data)
	if err != nil {
		t.Fatal(err)
	}
	closeBus(t, b)

	rs, err := natsbus.DialSnapshots(ctx, natsbus.Options{URLs: []string{dst.ClientURL()}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Restore(ctx, meta, &data); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	b2 := open(t, natsbus.Options{URLs: []string{dst.ClientURL()}, Prefix: prefix})
	defer closeBus(t, b2)
	if got := receive(t, subscribe(t, b2, sub), 5); !slices.Equal(got, ids) {
		t.Errorf("restored deliveries %v, want %v", got, ids)
	}
}

// waitSettled waits until the server's consumer of a subscription has
// processed the acks of its first n messages and holds none in flight.
func waitSettled(ctx context.Context, t *testing.T, url, stream, consumer string, n uint64) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := js.Consumer(ctx, stream, consumer)
		if err != nil {
			t.Fatalf("consumer %s: %v", consumer, err)
		}
		info := c.CachedInfo()
		if info.AckFloor.Stream == n && info.NumAckPending == 0 {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer %s: ack floor %d, %d in flight; want %d, 0", consumer, info.AckFloor.Stream, info.NumAckPending, n)
		case <-tick.C:
		}
	}
}
