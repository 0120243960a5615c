package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/rawwasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

func benchEvents(n int) []*event.Event { return benchEventsFrom("", n) }

// benchEventsFrom returns n events whose ids start with prefix.
func benchEventsFrom(prefix string, n int) []*event.Event {
	evs := make([]*event.Event, n)
	t := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = &event.Event{
			ID: fmt.Sprintf("%s%036d", prefix, i), Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
			Time: t, DataContentType: "application/json",
			Data: []byte(`{"id":42,"product_id":"sku-1","qty":2}`),
		}
	}
	return evs
}

// BenchmarkThroughput measures in-process publish -> handled with the
// memory bus and the Go byte-count plugin, with 1 and 2 workers, and the
// throughput of a raw wazero loop over as many instances of the same
// module (no bus, no pool, no limits) in the same run. The two alternate in
// throughputRounds rounds, each handling its share of the events, so that a
// drift in the machine's speed, which these VMs show within seconds, falls
// on both. Metrics: events/s of each and their ratio; and the CPU time the
// process spent per event in each (every goroutine's: the publisher's, the
// recorder's, the garbage collector's) and their ratio, evhost/raw-cpu,
// which a machine shared with other work leaves as it is: it is what
// evhost/raw comes to when both keep the cores busy.
//
// A third phase in each round runs the same events through a host whose
// plugin, trivial.wat, returns at once: the CPU it spends per event,
// floor-cpu-ns/event, is the host's own work per event (publish, dedup,
// queue, fetch and ack, the pooled call, the run record, metrics) with
// next to no guest code. evhost spends that plus the guest's own time,
// which is at least the raw loop's less the call itself (the envelope and
// the wazero call, which the floor counts too): so evhost/raw-cpu stays
// below about raw / (raw + floor - that call), however fast the guest
// runs. It is measured with the timer stopped, so that B/op and
// allocs/op stay evhost's.
func BenchmarkThroughput(b *testing.B) {
	bin := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
	trivial := wasmbuild.WATFile(b, "wasm/testdata/trivial.wat")
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			count := fmt.Sprintf(`
[plugins.count]
path = %%[1]q
events = ["order.placed"]
concurrency = %d
`, workers)
			h := startMemoryHost(b, bin, count)
			raw := newRawLoop(b, bin, workers)
			floor := startMemoryHost(b, trivial, count)
			evs := benchEvents(b.N)
			plugin, floorPlugin := h.Plugin("count"), floor.Plugin("count")

			// Both are measured warm: evhost's buffers grown to their
			// steady size (the queue's slots, both generations of the dedup
			// window, the run log's ring), the raw loop's instances called.
			warm := benchEventsFrom("warm", warmEvents)
			publishHandled(b, h, plugin, warm)
			raw.run(warm)
			publishHandled(b, floor, floorPlugin, warm)
			b.ReportAllocs()
			b.ResetTimer()
			stopProfile := profileEvhost(b)
			profiling := os.Getenv("EVHOST_BENCH_CPUPROFILE") != ""
			var evhost, rawTook, evhostCPU, rawCPU, floorCPU time.Duration
			per := (len(evs) + throughputRounds - 1) / throughputRounds
			for i := 0; i < len(evs); i += per {
				round := evs[i:min(i+per, len(evs))]
				// Each phase's garbage is collected on neither's time (and,
				// in a profile of evhost alone, not round after round).
				if !profiling || i == 0 {
					runtime.GC()
				}
				// evhost: publish the round (waiting when the queue is
				// full), then wait until every event has been handled.
				start, cpu0 := time.Now(), cpuTime()
				publishHandled(b, h, plugin, round)
				evhost += time.Since(start)
				evhostCPU += cpuTime() - cpu0
				if profiling {
					continue
				}
				runtime.GC()
				start, cpu0 = time.Now(), cpuTime()
				raw.run(round)
				rawTook += time.Since(start)
				rawCPU += cpuTime() - cpu0
				b.StopTimer()
				runtime.GC()
				cpu0 = cpuTime()
				publishHandled(b, floor, floorPlugin, round)
				floorCPU += cpuTime() - cpu0
				b.StartTimer()
			}
			stopProfile()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/evhost.Seconds(), "evhost-events/s")
			if evhostCPU > 0 {
				b.ReportMetric(float64(evhostCPU)/float64(b.N), "evhost-cpu-ns/event")
			}
			if profiling {
				return
			}
			if evhostCPU > 0 && rawCPU > 0 {
				b.ReportMetric(float64(rawCPU)/float64(b.N), "raw-cpu-ns/event")
				b.ReportMetric(float64(rawCPU)/float64(evhostCPU), "evhost/raw-cpu")
			}
			if floorCPU > 0 {
				b.ReportMetric(float64(floorCPU)/float64(b.N), "floor-cpu-ns/event")
			}
			b.ReportMetric(float64(b.N)/rawTook.Seconds(), "raw-events/s")
			b.ReportMetric(rawTook.Seconds()/evhost.Seconds(), "evhost/raw")
		})
	}
}

// throughputRounds is the number of rounds in which BenchmarkThroughput
// alternates evhost and the raw loop.
const throughputRounds = 8

// startMemoryHost starts a host on the memory broker, with a queue of
// 65,536 per subscription, bin written as a plugin file, and the plugins
// of pluginsTOML, a format whose %[1]q is that file's path. The host is
// closed when b ends.
func startMemoryHost(b *testing.B, bin []byte, pluginsTOML string) *host.Host {
	dir := b.TempDir()
	path := writeWasm(b, dir, "bytecount", bin)
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte(
		"[host]\ndata_dir = \"data\"\n[broker]\nkind = \"memory\"\n[defaults]\nqueue = 65536\n"+
			fmt.Sprintf(pluginsTOML, path)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, cfg, host.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	if err := h.Start(ctx); err != nil {
		b.Fatal(err)
	}
	return h
}

// warmEvents is the number of events each side handles before it is
// measured: enough to fill the memory bus's dedup window twice (two
// generations of 2^17 ids) and the run log's ring in memory (100,000).
const warmEvents = 300_000

// publishHandled publishes evs (waiting when the queue is full), then waits
// until plugin has handled as many events.
func publishHandled(b *testing.B, h *host.Host, plugin *wasm.Plugin, evs []*event.Event) {
	publishCounted(b, h, evs, func() uint64 { return plugin.Stats().Calls })
}

// publishCounted publishes evs (waiting when the queue is full), then waits
// until calls, the calls the plugins have made, has grown by as many.
func publishCounted(b *testing.B, h *host.Host, evs []*event.Event, calls func() uint64) {
	ctx := context.Background()
	base := calls()
	var acks []bus.PubAck
	for i := 0; i < len(evs); {
		var err error
		acks, err = h.Bus().PublishBatch(ctx, evs[i:min(i+256, len(evs))], acks)
		i += len(acks) // the accepted prefix
		switch {
		case err == nil:
		case errors.Is(err, bus.ErrBackpressure):
			time.Sleep(50 * time.Microsecond) // the queue is full: let the workers drain it
		default:
			b.Fatal(err)
		}
	}
	for calls()-base < uint64(len(evs)) {
		time.Sleep(50 * time.Microsecond) // polling: the workers own the CPUs
	}
}

// profileEvhost starts a CPU profile of evhost's phase alone into the file
// EVHOST_BENCH_CPUPROFILE names, if set (-cpuprofile would mix in the setup's
// compilation and the raw loop), and returns what stops it; BenchmarkThroughput
// then leaves out the raw loop. Its host-side
// share is the profile's total less runtime._ExternalCode (the wasm code):
// compare that per unit of wasm time between builds, which the machine's
// speed changes less than the run's figures.
func profileEvhost(b *testing.B) (stop func()) {
	path := os.Getenv("EVHOST_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

type rawLoop struct {
	mods []*rawwasm.Module
}

func newRawLoop(b *testing.B, bin []byte, n int) *rawLoop {
	ctx := context.Background()
	r, err := rawwasm.New(ctx, bin, filepath.Join(wasmbuild.CacheDir(), "wazero"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close(ctx) })
	l := &rawLoop{}
	for i := 0; i < n; i++ {
		m, err := r.Instantiate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		l.mods = append(l.mods, m)
	}
	return l
}

// run calls every event once, split across the instances, one goroutine
// each, and returns how long it took.
func (l *rawLoop) run(evs []*event.Event) time.Duration {
	ctx := context.Background()
	start := time.Now()
	var wg sync.WaitGroup
	per := (len(evs) + len(l.mods) - 1) / len(l.mods)
	for i, m := range l.mods {
		part := evs[min(i*per, len(evs)):min((i+1)*per, len(evs))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, e := range part {
				m.Call(ctx, e)
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}
