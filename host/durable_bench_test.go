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
// 1,000 shows the latency of a loaded system without a deep queue.
//
//	go test -run XXX -bench BenchmarkDurable -benchtime 200000x ./host
func BenchmarkDurable(b *testing.B) {
	bin := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
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
							acks, err := h.Bus().PublishBatch(context.Background(), part)
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
