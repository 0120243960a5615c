package wasm

import (
	"context"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// These tests drive the reaper by hand (RuntimeOptions.manualReap): each
// tick is a call to reap with the clock reading the test chooses.

func manualRuntime(t *testing.T, cacheDir string, budget int64) *Runtime {
	t.Helper()
	r, err := NewRuntime(context.Background(), RuntimeOptions{
		CacheDir: cacheDir, CompiledCache: budget, manualReap: true, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func sharedCache() string { return filepath.Join(wasmbuild.CacheDir(), "wazero") }

func watModule(t *testing.T, name string) []byte {
	return wasmbuild.WATFile(t, filepath.Join("testdata", name))
}

func loadInternal(t *testing.T, r *Runtime, bin []byte, opts PluginOptions) *Plugin {
	t.Helper()
	p, err := r.Load(context.Background(), bin, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func idleEvent() *event.Event {
	return &event.Event{ID: "e1", Source: "/t", Type: "t", SpecVersion: "1.0", Data: []byte("abc")}
}

func mustCall(t testing.TB, p *Plugin) {
	t.Helper()
	if res := p.Call(context.Background(), idleEvent()); res.Status != Done {
		t.Fatalf("call: %+v", res)
	}
}

// An instance idle past IdleTimeout is closed (not before), and the next
// call instantiates one again.
func TestIdleInstanceIsClosedAndNextCallWorks(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	const idle = time.Second
	p := loadInternal(t, r, watModule(t, "trivial.wat"), PluginOptions{Name: "idle", MinInstances: 0, MaxInstances: 2, IdleTimeout: idle})
	if s := p.Stats(); s.Instances != 0 || s.Instantiations != 1 {
		t.Fatalf("after load with min_instances 0: %+v, want the checking instance closed", s)
	}
	base := r.coarse.Load()
	mustCall(t, p)
	if s := p.Stats(); s.Instances != 1 || s.Instantiations != 2 {
		t.Fatalf("after the first call: %+v", s)
	}
	// The coarse clock lags by up to a tick (a quarter of the timeout):
	// at base+idle the instance may have been idle for less than idle.
	r.reap(int64(base) + int64(idle))
	if s := p.Stats(); s.Instances != 1 || s.IdleCloses != 0 {
		t.Fatalf("closed too early: %+v", s)
	}
	r.reap(base + int64(idle) + int64(idle)/4)
	if s := p.Stats(); s.Instances != 0 || s.IdleCloses != 1 {
		t.Fatalf("not closed after the idle timeout: %+v", s)
	}
	if s := r.Stats(); s.IdleCloses != 1 || s.CompiledModules != 1 {
		t.Fatalf("runtime stats %+v", s)
	}
	mustCall(t, p)
	if s := p.Stats(); s.Instances != 1 || s.Instantiations != 3 || s.Calls != 2 {
		t.Fatalf("after the call past the close: %+v", s)
	}
}

// The reaper keeps MinInstances, closing the oldest idle instances above
// it; a negative IdleTimeout never closes any.
func TestIdleKeepsMinInstances(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	bin := watModule(t, "trivial.wat")
	p := loadInternal(t, r, bin, PluginOptions{Name: "min", MinInstances: 2, MaxInstances: 4, IdleTimeout: time.Second})
	never := loadInternal(t, r, bin, PluginOptions{Name: "never", MinInstances: 0, MaxInstances: 4, IdleTimeout: -1})
	for _, q := range []*Plugin{p, never} {
		var ins []*instance
		for range 4 {
			in, err := q.pool.acquire(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			ins = append(ins, in)
		}
		for _, in := range ins {
			q.pool.release(in, false)
		}
	}
	r.reap(r.coarse.Load() + int64(time.Hour))
	if s := p.Stats(); s.Instances != 2 || s.Idle != 2 || s.IdleCloses != 2 {
		t.Fatalf("min_instances 2: %+v", s)
	}
	if s := never.Stats(); s.Instances != 4 || s.IdleCloses != 0 {
		t.Fatalf("idle timeout never: %+v", s)
	}
	mustCall(t, p)
}

// Under a budget too small for any module, a plugin with no instance
// loses its compiled module; its next call compiles it again (from the
// on-disk cache, or from the module kept in memory without one), and it
// is evicted again once its instance is closed.
func TestEvictionUnderTinyBudgetAndRecompile(t *testing.T) {
	for _, tc := range []struct{ name, dir string }{{"disk", t.TempDir()}, {"memory", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			r := manualRuntime(t, tc.dir, 1)
			opts := PluginOptions{MinInstances: 0, MaxInstances: 1, IdleTimeout: time.Second}
			opts.Name = "a"
			a := loadInternal(t, r, watModule(t, "trivial.wat"), opts)
			opts.Name = "b"
			b := loadInternal(t, r, watModule(t, "bytecount.wat"), opts)
			opts.Name, opts.MinInstances = "warm", 1
			warm := loadInternal(t, r, watModule(t, "echo.wat"), opts)
			for _, p := range []*Plugin{a, b} {
				if s := p.Stats(); s.Compiled || s.Evictions != 1 {
					t.Fatalf("%s after load: %+v, want evicted", p.Name(), s)
				}
			}
			if s := warm.Stats(); !s.Compiled || s.Evictions != 0 {
				t.Fatalf("a plugin with a live instance was evicted: %+v", s)
			}
			if s := r.Stats(); s.CompiledModules != 1 || s.Evictions != 2 || s.CompiledBytes <= 0 {
				t.Fatalf("runtime after loads: %+v", s)
			}
			base := r.coarse.Load()
			mustCall(t, a)
			if s := a.Stats(); !s.Compiled || s.Instances != 1 {
				t.Fatalf("a after its call: %+v", s)
			}
			if s := r.Stats(); s.Recompiles != 1 || s.CompiledModules != 2 {
				t.Fatalf("runtime after a's call: %+v", s)
			}
			r.reap(base + 2*int64(time.Second))
			if s := a.Stats(); s.Compiled || s.Instances != 0 || s.Evictions != 2 {
				t.Fatalf("a after its instance closed: %+v", s)
			}
			mustCall(t, a)
			mustCall(t, b)
			if s := r.Stats(); s.Recompiles != 3 {
				t.Fatalf("runtime stats %+v", s)
			}
		})
	}
}

// Calls racing the reaper and evictions: every call is done, none fails,
// none is lost.
func TestCallsRaceTheReaper(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 1)
	opts := PluginOptions{MinInstances: 0, MaxInstances: 3, IdleTimeout: time.Second}
	var ps []*Plugin
	for _, name := range []string{"trivial.wat", "bytecount.wat"} {
		opts.Name = name
		ps = append(ps, loadInternal(t, r, watModule(t, name), opts))
	}
	const workers, calls = 6, 150
	var wg sync.WaitGroup
	stop := make(chan struct{})
	reaped := make(chan int64)
	var ticks atomic.Int64
	go func() {
		now := r.coarse.Load()
		for {
			select {
			case <-stop:
				reaped <- now
				return
			default:
			}
			now += 2 * int64(time.Second) // everything idle is past its timeout
			r.reap(now)
			ticks.Add(1)
		}
	}()
	failures := make(chan Result, workers*calls)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ps[w%len(ps)]
			for range calls {
				if res := p.Call(context.Background(), idleEvent()); res.Status != Done {
					failures <- res
				}
				// Let the reaper tick at least once, finding the instance
				// idle, while the other workers call.
				for seen := ticks.Load(); ticks.Load() < seen+2; {
					runtime.Gosched()
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-reaped
	close(failures)
	for res := range failures {
		t.Errorf("call failed: %+v", res)
	}
	var total uint64
	for _, p := range ps {
		total += p.Stats().Calls
	}
	if total != workers*calls {
		t.Fatalf("%d calls counted, want %d", total, workers*calls)
	}
	// Each call waited for two ticks with its instance idle: most of them
	// found it closed, and the module evicted, by then.
	if s := r.Stats(); s.IdleCloses < calls || s.Evictions == 0 || s.Recompiles == 0 {
		t.Fatalf("runtime stats %+v: the reaper did not race the calls", s)
	}
}
