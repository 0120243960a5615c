package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// In-process dispatch throughput: publish N events from one goroutine,
// each handled once by one subscription, and measure from the first
// publish to the last event handled. At most inflight events are
// published and not yet handled: evhost's queue bound (a full queue
// refuses the publish, and the publisher waits 50 µs and retries), a
// semaphore for Watermill's GoChannel (which has no bound: without one it
// starts two goroutines per message in flight).
const inflight = 4096

var evSeq atomic.Int64

// freshEvents returns n copies of the benchmark event, each with an id of
// its own (the memory bus and JetStream drop repeated ids), and a
// timestamp of now.
func freshEvents(n int) []*event.Event {
	prefix := fmt.Sprintf("%d-%d-", os.Getpid(), evSeq.Add(1))
	evs := make([]*event.Event, n)
	now := time.Now().UTC()
	var buf []byte
	for i := range evs {
		e := benchEvent()
		buf = strconv.AppendInt(append(buf[:0], prefix...), int64(i), 10)
		e.ID = string(buf)
		e.Time = now
		evs[i] = e
	}
	return evs
}

// watermillMessages returns the events as Watermill messages: the id as
// the UUID, the data as the payload, the other attributes as metadata
// (what Watermill's own CloudEvents marshalers do).
func watermillMessages(evs []*event.Event) []*message.Message {
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		m := message.NewMessage(e.ID, e.Data)
		m.Metadata = message.Metadata{
			"ce_source": e.Source, "ce_type": e.Type, "ce_specversion": e.SpecVersion,
			"ce_time": e.Time.Format(time.RFC3339Nano), "content-type": e.DataContentType,
		}
		msgs[i] = m
	}
	return msgs
}

// sharedCache is the compilation cache of the variants whose setup is
// not what they measure: the one of evhost's own tests and benchmarks.
func sharedCache() string { return filepath.Join(wasmbuild.CacheDir(), "wazero") }

// linkCache makes sharedCache the compilation cache of a host whose data
// directory is dir/data, as if it had run before.
func linkCache(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "data", "cache"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(sharedCache(), 0o755); err != nil {
		return err
	}
	return os.Symlink(sharedCache(), filepath.Join(dir, "data", "cache", "wazero"))
}

// newHost starts a host from the config text in dir, its data directory
// dir/data sharing sharedCache, with fn (when not nil) as a native handler
// "native" of order.placed.
func newHost(ctx context.Context, dir, toml string, fn host.NativeFunc, opts host.Options) (*host.Host, error) {
	if err := linkCache(dir); err != nil {
		return nil, err
	}
	return startHost(ctx, dir, toml, fn, opts)
}

// startHost starts a host from the config text in dir.
func startHost(ctx context.Context, dir, toml string, fn host.NativeFunc, opts host.Options) (*host.Host, error) {
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(toml))
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	h, err := host.New(ctx, cfg, opts)
	if err != nil {
		return nil, err
	}
	if fn != nil {
		if err := h.Handle("native", []string{"order.placed"}, fn); err != nil {
			h.Close(ctx)
			return nil, err
		}
	}
	if err := h.Start(ctx); err != nil {
		h.Close(ctx)
		return nil, err
	}
	return h, nil
}

// writeModule writes bin as dir/name.wasm and returns its path.
func writeModule(dir, name string, bin []byte) (string, error) {
	p := filepath.Join(dir, name+".wasm")
	return p, os.WriteFile(p, bin, 0o644)
}

// publishAll publishes evs in batches of 256 through the host's bus,
// waiting 50 µs whenever a queue is full.
func publishAll(ctx context.Context, b bus.Bus, evs []*event.Event) error {
	var acks []bus.PubAck
	for i := 0; i < len(evs); {
		var err error
		acks, err = b.PublishBatch(ctx, evs[i:min(i+256, len(evs))], acks)
		i += len(acks)
		switch {
		case err == nil:
		case errors.Is(err, bus.ErrBackpressure):
			time.Sleep(50 * time.Microsecond)
		default:
			return err
		}
	}
	return nil
}

// waitFor polls done every 200 µs until it returns true, for at most a
// minute.
func waitFor(what string, done func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !done() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not done after a minute", what)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

func eventsPerSec(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// dispatchVariants returns the in-process dispatch variants, each
// publishing n events per round. Cleanups are appended to *cleanups.
func dispatchVariants(ctx context.Context, m *modules, n, workers int, tmp string, cleanups *[]func()) ([]*Variant, error) {
	const group = "in-process dispatch"
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	var vs []*Variant

	// evhost, memory bus, the Go byte-count plugin.
	dir, err := os.MkdirTemp(tmp, "membus-wasm")
	if err != nil {
		return nil, err
	}
	path, err := writeModule(dir, "bytecount", m.bytecount)
	if err != nil {
		return nil, err
	}
	h, err := newHost(ctx, dir, fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "memory"
[defaults]
queue = %d
concurrency = %d
[plugins.count]
path = %q
events = ["order.placed"]
`, inflight, workers, path), nil, host.Options{})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, func() { h.Close(context.Background()) })
	plugin := h.Plugin("count")
	vs = append(vs, &Variant{Group: group, Name: fmt.Sprintf("evhost, memory bus, Go wasm plugin (concurrency %d)", workers),
		Unit: EventsPerSec, Baseline: true,
		Run: func(ctx context.Context) (float64, error) {
			evs := freshEvents(n)
			base := plugin.Stats().Calls
			start := time.Now()
			if err := publishAll(ctx, h.Bus(), evs); err != nil {
				return 0, err
			}
			if err := waitFor("evhost", func() bool { return plugin.Stats().Calls-base >= uint64(n) }); err != nil {
				return 0, err
			}
			return eventsPerSec(n, time.Since(start)), nil
		}})

	// evhost, memory bus, a native Go handler (host.Handle).
	dir, err = os.MkdirTemp(tmp, "membus-native")
	if err != nil {
		return nil, err
	}
	var handled atomic.Int64
	hn, err := newHost(ctx, dir, fmt.Sprintf(`
[host]
data_dir = "data"
[broker]
kind = "memory"
[defaults]
queue = %d
concurrency = %d
`, inflight, workers), func(_ context.Context, ev *event.Event, _ func(*event.Event)) error {
		if err := concurrentByteCount(ev); err != nil {
			return err
		}
		handled.Add(1)
		return nil
	}, host.Options{})
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, func() { hn.Close(context.Background()) })
	vs = append(vs, &Variant{Group: group, Name: fmt.Sprintf("evhost, memory bus, native handler (concurrency %d)", workers),
		Unit: EventsPerSec,
		Run: func(ctx context.Context) (float64, error) {
			evs := freshEvents(n)
			base := handled.Load()
			start := time.Now()
			if err := publishAll(ctx, hn.Bus(), evs); err != nil {
				return 0, err
			}
			if err := waitFor("evhost native", func() bool { return handled.Load()-base >= int64(n) }); err != nil {
				return 0, err
			}
			return eventsPerSec(n, time.Since(start)), nil
		}})

	// Watermill: GoChannel and a router with a native handler.
	wm, err := newWatermillGoChannel(ctx)
	if err != nil {
		return nil, err
	}
	*cleanups = append(*cleanups, wm.close)
	vs = append(vs, &Variant{Group: group, Name: "Watermill v1.5.1 GoChannel + router, native handler", Unit: EventsPerSec,
		Run: func(ctx context.Context) (float64, error) {
			msgs := watermillMessages(freshEvents(n))
			base := wm.handled.Load()
			start := time.Now()
			for _, msg := range msgs {
				wm.window <- struct{}{}
				if err := wm.pubsub.Publish(wmTopic, msg); err != nil {
					return 0, err
				}
			}
			if err := waitFor("watermill", func() bool { return wm.handled.Load()-base >= int64(n) }); err != nil {
				return 0, err
			}
			return eventsPerSec(n, time.Since(start)), nil
		}})
	return vs, nil
}

const wmTopic = "order.placed"

// watermillBench is a Watermill router with one handler that counts the
// bytes of each message's payload and frees a slot of window.
type watermillBench struct {
	pubsub  message.Publisher
	router  *message.Router
	handled atomic.Int64
	window  chan struct{}
	closers []func() error
}

// handler is the native handler of the Watermill variants: the byte
// count, as in every other variant.
func (w *watermillBench) handler(msg *message.Message) error {
	sharedSink.Add(int64(byteCount(msg.Payload)))
	w.handled.Add(1)
	<-w.window
	return nil
}

func (w *watermillBench) close() {
	if w.router != nil {
		w.router.Close()
	}
	for _, c := range w.closers {
		c()
	}
}

// startTopic adds the handler of topic to a router over sub and runs it.
func (w *watermillBench) startTopic(ctx context.Context, sub message.Subscriber, topic string) error {
	r, err := message.NewRouter(message.RouterConfig{}, watermill.NopLogger{})
	if err != nil {
		return err
	}
	r.AddNoPublisherHandler("count", topic, sub, w.handler)
	w.router = r
	go r.Run(context.WithoutCancel(ctx))
	select {
	case <-r.Running():
		return nil
	case <-time.After(30 * time.Second):
		return errors.New("watermill router not running after 30 s")
	}
}

func newWatermillGoChannel(ctx context.Context) (*watermillBench, error) {
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: inflight}, watermill.NopLogger{})
	w := &watermillBench{pubsub: ps, window: make(chan struct{}, inflight), closers: []func() error{ps.Close}}
	if err := w.startTopic(ctx, ps, wmTopic); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}
