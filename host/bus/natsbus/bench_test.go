package natsbus_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/event"
)

// benchEvents returns n events of about 200 bytes as the bus stores them
// (attributes and data).
func benchEvents(n int) []*event.Event {
	data := []byte(`{"order":"ord-0000000042","customer":"cus-7","total":{"amount":12999,"currency":"EUR"},"items":3}`)
	now := time.Now().UTC()
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = &event.Event{
			ID:              fmt.Sprintf("%s-%08d", runID, seq.Add(1)),
			Source:          "/shop",
			Type:            "order.placed",
			SpecVersion:     event.SpecVersion,
			Time:            now,
			DataContentType: "application/json",
			Data:            data,
		}
	}
	return evs
}

// benchBus opens a bus with an embedded server for a benchmark.
func benchBus(b *testing.B, opts natsbus.Options) *natsbus.Bus {
	if opts.Embedded == nil {
		opts.Embedded = &natsbus.Embedded{}
	}
	opts.Embedded.StoreDir = b.TempDir()
	opts.Queue = 1 << 22
	nb := open(b, opts)
	b.Cleanup(func() { closeBus(b, nb) })
	return nb
}

// consume runs one consumer per subscription in subs, acking every
// delivery, until each has acked n events; done is closed then.
func consume(b *testing.B, nb *natsbus.Bus, subs []string, n int) (done chan struct{}, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg, finished sync.WaitGroup
	done = make(chan struct{})
	for _, name := range subs {
		s, err := nb.Subscribe(ctx, bus.Subscription{Name: name, Patterns: []string{"order.*"}})
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		finished.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			buf := make([]bus.Delivery, 256)
			acked := 0
			for {
				k, err := s.Fetch(ctx, buf)
				if err != nil {
					return
				}
				for _, d := range buf[:k] {
					if err := d.Ack(); err != nil {
						b.Error(err)
					}
				}
				if acked += k; acked >= n && acked-k < n {
					finished.Done()
				}
			}
		}()
	}
	go func() {
		finished.Wait()
		close(done)
	}()
	return done, func() {
		cancel()
		wg.Wait()
	}
}

// publishAll publishes evs from workers goroutines with Publish, or with
// PublishBatch in batches of batch when batch > 0.
func publishAll(b *testing.B, nb *natsbus.Bus, evs []*event.Event, workers, batch int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			step := int64(max(batch, 1))
			for {
				i := next.Add(step) - step
				if i >= int64(len(evs)) {
					return
				}
				var err error
				if batch > 0 {
					_, err = nb.PublishBatch(ctx, evs[i:min(i+step, int64(len(evs)))], nil)
				} else {
					_, err = nb.Publish(ctx, evs[i])
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkEndToEnd measures durable throughput, from publish to ack, with
// one and two subscriptions, each drained by one consumer that acks every
// event: the bus alone, without handlers.
func BenchmarkEndToEnd(b *testing.B) {
	for _, mode := range []struct {
		name           string
		workers, batch int
	}{
		{"publish-x8", 8, 0},
		{"batch256-x2", 2, 256},
	} {
		for _, nsubs := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/subs=%d", mode.name, nsubs), func(b *testing.B) {
				nb := benchBus(b, natsbus.Options{})
				var subs []string
				for i := range nsubs {
					subs = append(subs, fmt.Sprint("sub", i))
				}
				evs := benchEvents(b.N)
				done, stop := consume(b, nb, subs, b.N)
				defer stop()
				b.ReportAllocs()
				b.ResetTimer()
				publishAll(b, nb, evs, mode.workers, mode.batch)
				<-done
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkPublish measures publishing alone: Publish from 1 and 8
// goroutines, and PublishBatch.
func BenchmarkPublish(b *testing.B) {
	for _, mode := range []struct {
		name           string
		workers, batch int
	}{
		{"publish-x1", 1, 0},
		{"publish-x8", 8, 0},
		{"batch256-x1", 1, 256},
		{"batch1024-x2", 2, 1024},
	} {
		b.Run(mode.name, func(b *testing.B) {
			nb := benchBus(b, natsbus.Options{})
			// One subscription, not consumed: publishing counts it.
			if _, err := nb.Subscribe(context.Background(), bus.Subscription{Name: "idle", Patterns: []string{"order.*"}}); err != nil {
				b.Fatal(err)
			}
			evs := benchEvents(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			publishAll(b, nb, evs, mode.workers, mode.batch)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkSync compares the embedded server's sync policies, publishing
// alone (in batches) and end to end with two subscriptions. Run it with
// -bench Sync and a -benchtime of a few seconds' worth of events; its
// figures are in RATIONALE.md.
func BenchmarkSync(b *testing.B) {
	for _, p := range []struct {
		name     string
		interval time.Duration
		always   bool
	}{
		{"interval=2m", 2 * time.Minute, false},
		{"interval=1s", time.Second, false},
		{"interval=100ms", 100 * time.Millisecond, false},
		{"interval=10ms", 10 * time.Millisecond, false},
		{"always", 0, true},
	} {
		for _, e2e := range []bool{false, true} {
			name := p.name + "/publish"
			if e2e {
				name = p.name + "/e2e-subs=2"
			}
			b.Run(name, func(b *testing.B) {
				nb := benchBus(b, natsbus.Options{Embedded: &natsbus.Embedded{SyncInterval: p.interval, SyncAlways: p.always}})
				evs := benchEvents(b.N)
				done := make(chan struct{})
				close(done)
				if e2e {
					var stop func()
					done, stop = consume(b, nb, []string{"a", "b"}, b.N)
					defer stop()
				}
				b.ResetTimer()
				publishAll(b, nb, evs, 2, 256)
				<-done
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkDrain measures consuming alone: b.N events are published first,
// then one consumer per subscription acks them all.
func BenchmarkDrain(b *testing.B) {
	for _, nsubs := range []int{1, 2} {
		b.Run(fmt.Sprintf("subs=%d", nsubs), func(b *testing.B) {
			nb := benchBus(b, natsbus.Options{})
			var subs []string
			for i := range nsubs {
				subs = append(subs, fmt.Sprint("sub", i))
				s, err := nb.Subscribe(context.Background(), bus.Subscription{Name: subs[i], Patterns: []string{"order.*"}})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
			publishAll(b, nb, benchEvents(b.N), 2, 256)
			b.ReportAllocs()
			b.ResetTimer()
			done, stop := consume(b, nb, subs, b.N)
			<-done
			b.StopTimer()
			stop()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPartitioned measures the delivery of events of many keys
// through a subscription with 1 partition (no order), and 4 and 16
// partitions: each partition's consumer reads every event and hands out
// its own, so the cost per event grows with the partitions.
func BenchmarkPartitioned(b *testing.B) {
	for _, parts := range []int{0, 4, 16} {
		b.Run(fmt.Sprint("partitions=", parts), func(b *testing.B) {
			nb := benchBus(b, natsbus.Options{})
			ctx := context.Background()
			sub := bus.Subscription{Name: "p", Patterns: []string{"order.*"}, Queue: 1 << 20}
			if parts > 0 {
				sub.Partitions, sub.OrderBy, sub.OrderKey = parts, "subject", func(e *event.Event) string { return e.Subject }
			}
			s, err := nb.Subscribe(ctx, sub)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			evs := benchEvents(b.N)
			for i, e := range evs {
				e.Subject = fmt.Sprint("k", i%200)
			}
			var got atomic.Int64
			done := make(chan struct{})
			for range 16 {
				go func() {
					for {
						d, err := s.Next(ctx)
						if err != nil {
							return
						}
						d.Ack()
						if got.Add(1) == int64(b.N) {
							close(done)
						}
					}
				}()
			}
			b.ResetTimer()
			if _, err := nb.PublishBatch(ctx, evs, nil); err != nil {
				b.Fatal(err)
			}
			<-done
		})
	}
}
