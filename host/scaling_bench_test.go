package host_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// BenchmarkThroughputScaling asks what a second worker buys: the events of
// BenchmarkThroughput (memory bus, Go byte-count plugin, run records and
// metrics on), alternating between the types order.a and order.b, through
// one route with 1, 2 and 8 workers, and through two routes of one worker
// each (one per type: nothing per event is shared between them but the
// publisher, the run log and the metrics registry). Metrics: events/s, the
// process's CPU time per event, and the cores it kept busy (CPU time over
// wall time). The sub-benchmarks run one after the other, so compare them
// within one run, with -count to see the spread.
func BenchmarkThroughputScaling(b *testing.B) {
	bin := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
	for _, tc := range []struct{ name, plugins string }{
		{"route=1/workers=1", "[plugins.a]\npath = %[1]q\nevents = [\"order.*\"]\nconcurrency = 1\n"},
		{"route=1/workers=2", "[plugins.a]\npath = %[1]q\nevents = [\"order.*\"]\nconcurrency = 2\n"},
		{"route=1/workers=8", "[plugins.a]\npath = %[1]q\nevents = [\"order.*\"]\nconcurrency = 8\n"},
		{"routes=2/workers=1", "[plugins.a]\npath = %[1]q\nevents = [\"order.a\"]\nconcurrency = 1\n" +
			"[plugins.b]\npath = %[1]q\nevents = [\"order.b\"]\nconcurrency = 1\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := startMemoryHost(b, bin, tc.plugins)
			plugins := []*wasm.Plugin{h.Plugin("a")}
			if p := h.Plugin("b"); p != nil {
				plugins = append(plugins, p)
			}
			calls := func() (n uint64) {
				for _, p := range plugins {
					n += p.Stats().Calls
				}
				return n
			}
			typed := func(evs []*event.Event) []*event.Event {
				for i, e := range evs {
					e.Type = [...]string{"order.a", "order.b"}[i%2]
				}
				return evs
			}
			publishCounted(b, h, typed(benchEventsFrom("warm", warmEvents)), calls)
			evs := typed(benchEvents(b.N))
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			publishCounted(b, h, evs, calls)
			wall, cpu := time.Since(start), cpuTime()-cpu0
			b.StopTimer()
			b.ReportMetric(float64(b.N)/wall.Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/event")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
			if want := 1 + strings.Count(tc.plugins, "[plugins.b]"); len(plugins) != want {
				b.Fatalf("%d plugins loaded, want %d", len(plugins), want)
			}
		})
	}
}
