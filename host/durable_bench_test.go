package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// latencies is a dispatch.Observer that records, for each handled event,
// the time from its publication (its time attribute) to the end of its
// handling, and releases a slot of the publishers' window.
type latencies struct {
	ns     []int64
	n      atomic.Int64
	window chan struct{}
	done   chan struct{}
}

func (l *latencies) Handled(_ string, ev *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if out.Status != dispatch.Done {
		return
	}
	i := l.n.Add(1) - 1
	if int(i) < len(l.ns) {
		l.ns[i] = time.Since(ev.Time).Nanoseconds()
	}
	<-l.window
	if int(i) == len(l.ns)-1 {
		close(l.done)
	}
}

// percentile returns the p-th percentile of sorted, in milliseconds.
func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(float64(len(sorted)-1)*p)]) / 1e6
}

// BenchmarkDurable measures durable end-to-end throughput and latency:
// events published with the Go API in batches of 100 by 4 publishers, each
// journaled by JetStream (file storage, the default 100 ms sync), delivered
// to the durable consumer of a subscription, handled by the Go byte-count
// plugin and acked. With 2 daemons, the second host connects to the first
// one's embedded server over loopback TCP and both share the
// subscription's work (and the publishing). At most window events are in
// flight (published, not yet handled): 20,000 keeps the daemons saturated
// (throughput; latency is then mostly queueing, about window/throughput),
// 1,000 shows the latency of a loaded system without a deep queue. The
// sub-benchmark evhost-vs-bus reports evhost/bus (see durableVsBus).
//
//	go test -run XXX -bench BenchmarkDurable -benchtime 200000x ./host
func BenchmarkDurable(b *testing.B) {
	bin := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
	b.Run("evhost-vs-bus", func(b *testing.B) { durableVsBus(b, bin) })
	for _, c := range []struct{ daemons, window int }{{1, 20_000}, {2, 20_000}, {1, 1000}, {2, 1000}} {
		b.Run(fmt.Sprintf("daemons=%d/window=%d", c.daemons, c.window), func(b *testing.B) {
			daemons := c.daemons
			lat := &latencies{ns: make([]int64, b.N), window: make(chan struct{}, c.window), done: make(chan struct{})}
			hosts := durableHosts(b, daemons, bin, lat)
			evs := benchEvents(b.N)
			run := time.Now().UnixNano()
			for i, e := range evs {
				e.ID = fmt.Sprintf("%d-%d", run, i)
			}
			const publishers, batch = 4, 100
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for p := range publishers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					h := hosts[p%len(hosts)]
					for {
						lo := int(next.Add(batch)) - batch
						if lo >= len(evs) {
							return
						}
						part := evs[lo:min(lo+batch, len(evs))]
						now := time.Now()
						for _, e := range part {
							lat.window <- struct{}{}
							e.Time = now
						}
						for len(part) > 0 {
							acks, err := h.Bus().PublishBatch(context.Background(), part, nil)
							part = part[len(acks):]
							if err != nil {
								b.Errorf("publish: %v", err)
								return
							}
						}
					}
				}()
			}
			wg.Wait()
			select {
			case <-lat.done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("handled %d of %d events", lat.n.Load(), b.N)
			}
			took := time.Since(start)
			b.StopTimer()
			slices.Sort(lat.ns)
			b.ReportMetric(float64(b.N)/took.Seconds(), "events/s")
			b.ReportMetric(percentile(lat.ns, 0.5), "p50_ms")
			b.ReportMetric(percentile(lat.ns, 0.99), "p99_ms")
		})
	}
}

// rounds counts handled events and signals when the count reaches the
// target of the round in progress.
type rounds struct {
	n, target atomic.Int64
	done      chan struct{}
}

func newRounds() *rounds { return &rounds{done: make(chan struct{}, 1)} }

func (r *rounds) add(k int) {
	if n := r.n.Add(int64(k)); n >= r.target.Load() && n-int64(k) < r.target.Load() {
		r.done <- struct{}{}
	}
}

func (r *rounds) Handled(_ string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	if out.Status == dispatch.Done {
		r.add(1)
	}
}

// round publishes evs on pb with 4 publishers in batches of 100 and
// returns once r has counted them all handled, and how long it took.
func (r *rounds) round(b *testing.B, pb bus.Bus, evs []*event.Event) time.Duration {
	const publishers, batch = 4, 100
	r.target.Add(int64(len(evs)))
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= len(evs) {
					return
				}
				part := evs[lo:min(lo+batch, len(evs))]
				for len(part) > 0 {
					acks, err := pb.PublishBatch(context.Background(), part, nil)
					part = part[len(acks):]
					if err != nil {
						b.Errorf("publish: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-r.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("handled %d of %d events", r.n.Load(), r.target.Load())
	}
	return time.Since(start)
}

// durableVsBus measures evhost on the durable bus (one daemon,
// the embedded server, the Go byte-count plugin, run records and metrics
// on) against the bus alone (an embedded server of its own: publish,
// store, deliver and ack, no handler), in alternate rounds of 5,000
// events so that the machine's noise hits both, and reports evhost/bus,
// the ratio of their events/s.
//
//	go test -run XXX -bench BenchmarkDurable/evhost-vs-bus -benchtime 40000x -count 3 ./host
func durableVsBus(b *testing.B, bin []byte) {
	hr := newRounds()
	h := durableHosts(b, 1, bin, hr)[0]
	nb, err := natsbus.Open(context.Background(), natsbus.Options{
		Embedded: &natsbus.Embedded{StoreDir: b.TempDir()},
		Queue:    1 << 22,
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nb.Close(context.Background()) })
	br := newRounds()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := nb.Subscribe(ctx, bus.Subscription{Name: "count", Patterns: []string{"order.placed"}})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	go func() {
		buf := make([]bus.Delivery, 256)
		for {
			k, err := sub.Fetch(ctx, buf)
			if err != nil {
				return
			}
			for _, d := range buf[:k] {
				if err := d.Ack(); err != nil {
					b.Error(err)
				}
			}
			br.add(k)
		}
	}()
	const roundSize = 5000
	run := time.Now().UnixNano()
	var tookHost, tookBus time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += roundSize {
		evs := benchEvents(min(roundSize, b.N-done))
		for i, e := range evs {
			e.ID = fmt.Sprintf("%d-h%d", run, done+i)
		}
		tookHost += hr.round(b, h.Bus(), evs)
		evs = benchEvents(len(evs))
		for i, e := range evs {
			e.ID = fmt.Sprintf("%d-b%d", run, done+i)
		}
		tookBus += br.round(b, nb, evs)
	}
	b.StopTimer()
	host, alone := float64(b.N)/tookHost.Seconds(), float64(b.N)/tookBus.Seconds()
	b.ReportMetric(host, "events/s")
	b.ReportMetric(alone, "bus-events/s")
	b.ReportMetric(host/alone, "evhost/bus")
}

// durableHosts starts n hosts sharing one subscription "count" on a
// durable bus: the first runs the embedded server (listening on loopback
// when n > 1), the others connect to it.
func durableHosts(b *testing.B, n int, bin []byte, obs dispatch.Observer) []*host.Host {
	b.Helper()
	listen := ""
	if n > 1 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		listen = ln.Addr().String()
		ln.Close()
	}
	var hosts []*host.Host
	for i := range n {
		dir := b.TempDir()
		broker := fmt.Sprintf("[broker]\nkind = \"embedded\"\nlisten = %q\n", listen)
		if i > 0 {
			broker = fmt.Sprintf("[broker]\nkind = \"nats\"\nurl = \"nats://%s\"\n", listen)
		}
		cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(fmt.Sprintf(`
[host]
data_dir = "data"
%s
[defaults]
queue = 1000000
[plugins.count]
path = %q
events = ["order.placed"]
`, broker, writeWasm(b, dir, "bytecount", bin))))
		if err != nil {
			b.Fatal(err)
		}
		h, err := host.New(context.Background(), cfg, host.Options{Logger: slog.New(slog.DiscardHandler), Observer: obs})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			h.Close(ctx)
		})
		if err := h.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		hosts = append(hosts, h)
	}
	return hosts
}
