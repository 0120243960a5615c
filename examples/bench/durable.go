package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wmjs "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/jetstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// Durable throughput: 4 publishers publish N events in batches of 100 into
// JetStream on an embedded nats-server (file storage in a temporary
// directory, flushed every 100 ms, evhost's defaults), each event is
// delivered to one durable subscription, handled and acked; measured from
// the first publish to the last event handled. At most durableWindow
// events are published and not yet handled (the publishers wait for a
// slot), as in host's BenchmarkDurable.
const (
	durableWindow     = 20_000
	durablePublishers = 4
	durableBatch      = 100
	wmDurableTopic    = "orders" // a stream name: no dots
)

// windowObserver counts the events a host handled and frees a slot of the
// publishers' window for each.
type windowObserver struct {
	handled atomic.Int64
	window  chan struct{}
}

func (o *windowObserver) Handled(_ string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if out.Status != dispatch.Done {
		return
	}
	o.handled.Add(1)
	<-o.window
}

// publishParallel splits evs into batches and publishes them from
// durablePublishers goroutines; each batch first takes a window slot per
// event.
func publishParallel(evs []*event.Event, window chan struct{}, publish func([]*event.Event) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, durablePublishers)
	for p := range durablePublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(durableBatch)) - durableBatch
				if lo >= len(evs) {
					return
				}
				part := evs[lo:min(lo+durableBatch, len(evs))]
				for range part {
					window <- struct{}{}
				}
				if err := publish(part); err != nil {
					errs[p] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func durableVariants(ctx context.Context, m *modules, n int, tmp string, cleanups *[]func()) ([]*Variant, error) {
	const group = "durable (embedded JetStream)"
	var vs []*Variant
	closeHost := func(h *host.Host) func() {
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			h.Close(ctx)
		}
	}

	// evhost, embedded JetStream, the Go byte-count plugin.
	dir, err := os.MkdirTemp(tmp, "js-wasm")
	if err != nil {
		return nil, err
	}
	path, err := writeModule(dir, "bytecount", m.bytecount)
	if err != nil {
		return nil, err
	}
	obs := &windowObserver{window: make(chan struct{}, durableWindow)}
	h, err := newHost(ctx, dir, fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "embedded"
[defaults]
queue = 1000000
[plugins.count]
path = %q
events = ["order.placed"]
`, path), nil, host.Options{Observer: obs})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, closeHost(h))
	vs = append(vs, &Variant{Group: group, Name: "evhost, Go wasm plugin (default concurrency 16)", Unit: EventsPerSec, Baseline: true,
		Run: evhostDurableRun(h, obs, n)})

	// evhost, embedded JetStream, a native handler.
	dir, err = os.MkdirTemp(tmp, "js-native")
	if err != nil {
		return nil, err
	}
	nobs := &windowObserver{window: make(chan struct{}, durableWindow)}
	hn, err := newHost(ctx, dir, `
[host]
data_dir = "data"
[broker]
kind = "embedded"
[defaults]
queue = 1000000
`, func(_ context.Context, ev *event.Event, _ func(*event.Event)) error { return concurrentByteCount(ev) },
		host.Options{Observer: nobs})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, closeHost(hn))
	vs = append(vs, &Variant{Group: group, Name: "evhost, native handler (default concurrency 16)", Unit: EventsPerSec,
		Run: evhostDurableRun(hn, nobs, n)})

	// Watermill over JetStream (watermill-nats' jetstream package) on an
	// embedded server with the same settings, connected in-process as
	// evhost's bus is.
	dir, err = os.MkdirTemp(tmp, "js-watermill")
	if err != nil {
		return nil, err
	}
	wm, err := newWatermillJetStream(ctx, dir)
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, wm.close)
	vs = append(vs, &Variant{Group: group, Name: "Watermill + watermill-nats v2.1.3 (jetstream), native handler", Unit: EventsPerSec,
		Run: func(ctx context.Context) (float64, error) {
			evs := freshEvents(n)
			msgs := watermillMessages(evs)
			index := make(map[*event.Event]int, len(evs))
			for i, e := range evs {
				index[e] = i
			}
			base := wm.handled.Load()
			start := time.Now()
			err := publishParallel(evs, wm.window, func(part []*event.Event) error {
				i := index[part[0]]
				return wm.pubsub.Publish(wmDurableTopic, msgs[i:i+len(part)]...)
			})
			if err != nil {
				return 0, err
			}
			if err := waitFor("watermill jetstream", func() bool { return wm.handled.Load()-base >= int64(n) }); err != nil {
				return 0, err
			}
			return eventsPerSec(n, time.Since(start)), nil
		}})
	return vs, nil
}

func evhostDurableRun(h *host.Host, obs *windowObserver, n int) func(context.Context) (float64, error) {
	return func(ctx context.Context) (float64, error) {
		evs := freshEvents(n)
		base := obs.handled.Load()
		start := time.Now()
		err := publishParallel(evs, obs.window, func(part []*event.Event) error {
			for len(part) > 0 {
				acks, err := h.Bus().PublishBatch(ctx, part, nil)
				part = part[len(acks):]
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		if err := waitFor("evhost durable", func() bool { return obs.handled.Load()-base >= int64(n) }); err != nil {
			return 0, err
		}
		return eventsPerSec(n, time.Since(start)), nil
	}
}

// newWatermillJetStream starts a nats-server with JetStream as evhost's
// embedded broker does (file storage under dir, the default 100 ms sync),
// and a Watermill router with the byte-count handler on a JetStream
// subscriber (acks sent without waiting for the server's reply, the
// fastest setting) of a stream with file storage.
func newWatermillJetStream(ctx context.Context, dir string) (*watermillBench, error) {
	srv, err := server.NewServer(&server.Options{
		JetStream:         true,
		StoreDir:          dir,
		SyncInterval:      natsbus.DefaultSyncInterval,
		JetStreamMaxStore: -1,
		DontListen:        true,
		NoSigs:            true,
	})
	if err != nil {
		return nil, err
	}
	srv.Start()
	w := &watermillBench{window: make(chan struct{}, durableWindow)}
	w.closers = append(w.closers, func() error { srv.Shutdown(); srv.WaitForShutdown(); return nil })
	if !srv.ReadyForConnections(30 * time.Second) {
		w.close()
		return nil, errors.New("nats-server not ready after 30 s")
	}
	connect := func() (*nats.Conn, error) { return nats.Connect("", nats.InProcessServer(srv)) }
	pc, err := connect()
	if err != nil {
		w.close()
		return nil, err
	}
	w.closers = append([]func() error{func() error { pc.Close(); return nil }}, w.closers...)
	pub, err := wmjs.NewPublisher(wmjs.PublisherConfig{Conn: pc, Logger: watermill.NopLogger{}})
	if err != nil {
		w.close()
		return nil, err
	}
	w.pubsub = pub
	sc, err := connect()
	if err != nil {
		w.close()
		return nil, err
	}
	w.closers = append([]func() error{func() error { sc.Close(); return nil }}, w.closers...)
	sub, err := wmjs.NewSubscriber(wmjs.SubscriberConfig{Conn: sc, Logger: watermill.NopLogger{}, AckAsync: true})
	if err != nil {
		w.close()
		return nil, err
	}
	if err := sub.SubscribeInitialize(wmDurableTopic); err != nil {
		w.close()
		return nil, err
	}
	if err := w.startTopic(ctx, sub, wmDurableTopic); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

var _ message.Subscriber = (*wmjs.Subscriber)(nil)
