package host_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// BenchmarkManyPlugins loads N plugins on one daemon (memory bus), each
// its own subscription: every tenth a copy of the Go byte-count plugin,
// the others copies of the WAT one, each copy with a custom section of
// its own (its own digest, its own compiled code). They have
// min_instances = 0, idle_timeout = "30s" (longer than a round over every plugin takes, compilations included) and concurrency = 1 (one
// instance each: many small tenants), under the default compiled_cache.
// Metrics:
//
//   - start-s: host.New and Start with a warm compilation cache (a first
//     daemon, not timed, warmed it);
//   - rss-idle-MiB: the process's RSS after the start, no instance live;
//   - rss-active-MiB: the same with 50 plugins holding an instance;
//   - first-evicted-ms, first-idle-ms: publish to handled of the first
//     event to a Go plugin whose compiled module was evicted, and to one
//     whose instance was closed (module in memory), medians of 5; the
//     -wat- variants for WAT plugins;
//   - events/s: events handled per second with every plugin receiving
//     events round-robin (after a round that instantiates them all).
//
// Run it on its own (not part of CI): go test -run XXX -bench
// BenchmarkManyPlugins -benchtime 1x ./host. The first run compiles every
// copy cold (minutes for n=1000); the compilation cache is kept under
// wasmbuild's cache directory for the next ones.
func BenchmarkManyPlugins(b *testing.B) {
	goBin := wasmbuild.Go(b, "wasm/testdata/goplugins/bytecount")
	watBin := wasmbuild.WATFile(b, "wasm/testdata/bytecount.wat")
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for range b.N {
				manyPlugins(b, n, goBin, watBin)
			}
		})
	}
}

// handledSignal is an Observer that counts handled deliveries and tells
// a waiter about those of one route.
type handledSignal struct {
	count   atomic.Int64
	mu      sync.Mutex
	waiting map[string]chan struct{}
}

func (s *handledSignal) Handled(route string, _ *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	s.count.Add(1)
	s.mu.Lock()
	ch := s.waiting[route]
	delete(s.waiting, route)
	s.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

func (s *handledSignal) expect(route string) chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.waiting[route] = ch
	s.mu.Unlock()
	return ch
}

func rssMiB(b *testing.B) float64 {
	runtime.GC()
	debug.FreeOSMemory()
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS in /proc/self/status")
	return 0
}

func median(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return -1
	}
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Microseconds()) / 1000
}

func manyPlugins(b *testing.B, n int, goBin, watBin []byte) {
	ctx := context.Background()
	dir := b.TempDir()
	isGo := func(i int) bool { return i%10 == 0 }
	name := func(i int) string { return fmt.Sprintf("p%04d", i) }
	var cfgText bytes.Buffer
	// The data directory (the compilation cache) outlives the run: the
	// copies compile cold only once.
	fmt.Fprintf(&cfgText, "[host]\ndata_dir = %q\n[broker]\nkind = \"memory\"\n[defaults]\nmin_instances = 0\nidle_timeout = \"30s\"\nconcurrency = 1\n",
		filepath.Join(wasmbuild.CacheDir(), "bench-manyplugins"))
	for i := range n {
		bin := watBin
		if isGo(i) {
			bin = goBin
		}
		path := writeWasm(b, dir, name(i), withCustomSection(bin, uint64(i)))
		fmt.Fprintf(&cfgText, "[plugins.%s]\npath = %q\nevents = [\"bench.%s\"]\n", name(i), path, name(i))
	}
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), cfgText.Bytes())
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	warm, err := host.New(ctx, cfg, host.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	warm.Close(ctx)

	sig := &handledSignal{waiting: map[string]chan struct{}{}}
	b.ResetTimer()
	t0 := time.Now()
	h, err := host.New(ctx, cfg, host.Options{Logger: quiet, Observer: sig})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	if err := h.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(time.Since(t0).Seconds(), "start-s")
	b.ReportMetric(rssMiB(b), "rss-idle-MiB")

	evSeq := 0
	newEvent := func(i int) *event.Event {
		evSeq++
		return &event.Event{ID: fmt.Sprintf("ev-%d", evSeq), Source: "/bench", Type: "bench." + name(i), SpecVersion: "1.0",
			Time: time.Now().UTC(), Data: []byte(`{"id":42,"product_id":"sku-1","qty":2}`)}
	}
	// first publishes one event to plugin i and returns the time to its
	// handling.
	first := func(i int) time.Duration {
		done := sig.expect(name(i))
		start := time.Now()
		if _, err := h.Bus().Publish(ctx, newEvent(i)); err != nil {
			b.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(time.Minute):
			b.Fatalf("%s: no event handled in a minute", name(i))
		}
		return time.Since(start)
	}
	// pick returns up to 5 plugins of the kind whose state matches.
	pick := func(goKind bool, match func(i int) bool) []int {
		var out []int
		for i := 0; i < n && len(out) < 5; i++ {
			if isGo(i) == goKind && match(i) {
				out = append(out, i)
			}
		}
		return out
	}
	evicted := func(i int) bool { s := h.Plugin(name(i)).Stats(); return !s.Compiled && s.Instances == 0 }
	for _, goKind := range []bool{true, false} {
		var ds []time.Duration
		for _, i := range pick(goKind, evicted) {
			ds = append(ds, first(i))
		}
		b.ReportMetric(median(ds), map[bool]string{true: "first-evicted-ms", false: "first-evicted-wat-ms"}[goKind])
	}

	// 50 plugins active, Go ones among them: the RSS while they hold an
	// instance (idle_timeout is 30s: the reading is taken well before).
	for i := range 50 {
		first(i)
	}
	b.ReportMetric(rssMiB(b), "rss-active-MiB")

	// Idle plugins: instance closed, module in memory. The 50 just used
	// are the most recently active: the budget evicts others first.
	deadline := time.Now().Add(time.Minute)
	idleOK := func(i int) bool { s := h.Plugin(name(i)).Stats(); return s.Compiled && s.Instances == 0 }
	for i := 0; i < 50; i++ {
		for s := h.Plugin(name(i)).Stats(); s.Instances != 0; s = h.Plugin(name(i)).Stats() {
			if time.Now().After(deadline) {
				b.Fatalf("%s: instance not closed after its idle timeout: %+v", name(i), s)
			}
			time.Sleep(100 * time.Millisecond) // the reaper ticks every 1s
		}
	}
	for _, goKind := range []bool{true, false} {
		var ds []time.Duration
		for _, i := range pick(goKind, func(i int) bool { return i < 50 && idleOK(i) }) {
			ds = append(ds, first(i))
		}
		b.ReportMetric(median(ds), map[bool]string{true: "first-idle-ms", false: "first-idle-wat-ms"}[goKind])
	}

	// Throughput, round-robin over every plugin: one round to instantiate
	// them all, then rounds timed.
	publishRounds := func(rounds int) {
		evs := make([]*event.Event, 0, rounds*n)
		for range rounds {
			for i := range n {
				evs = append(evs, newEvent(i))
			}
		}
		want := sig.count.Load() + int64(len(evs))
		for i := 0; i < len(evs); {
			acks, err := h.Bus().PublishBatch(ctx, evs[i:min(i+256, len(evs))], nil)
			i += len(acks)
			switch {
			case err == nil:
			case errors.Is(err, bus.ErrBackpressure):
				time.Sleep(50 * time.Microsecond)
			default:
				b.Fatal(err)
			}
		}
		for sig.count.Load() < want {
			time.Sleep(100 * time.Microsecond)
		}
	}
	publishRounds(1)
	const rounds = 20
	t1 := time.Now()
	publishRounds(rounds)
	b.ReportMetric(float64(rounds*n)/time.Since(t1).Seconds(), "events/s")
	ws := h.Plugin(name(0)).Stats()
	b.Logf("n=%d: plugin %s %+v", n, name(0), ws)
}
