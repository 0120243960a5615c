package wasm

import (
	"context"
	"sync"
	"testing"
	"time"
)

// callOn makes one call on lane l and fails the test unless it is Done.
func callOn(t testing.TB, p *Plugin, l int) {
	t.Helper()
	if res := p.CallAttemptOn(context.Background(), idleEvent(), 1, l); res.Status != Done {
		t.Fatalf("call on lane %d: %+v", l, res)
	}
}

// A caller's lane keeps the instance of its last call for its next one;
// two lanes keep two. Stats count the lanes' instances as idle and their
// calls as calls.
func TestLaneKeepsItsInstance(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	p := loadInternal(t, r, watModule(t, "trivial.wat"), PluginOptions{Name: "lanes", MaxInstances: 4, IdleTimeout: -1})
	callOn(t, p, 0)
	first := p.pool.lanes[0].in.Load()
	if first == nil {
		t.Fatal("lane 0 is empty after its call")
	}
	for range 10 {
		callOn(t, p, 0)
		if got := p.pool.lanes[0].in.Load(); got != first {
			t.Fatalf("lane 0 ran on %p, then %p", first, got)
		}
	}
	// Lane 1 finds its lane and the idle list empty: it takes the instance
	// idle in lane 0 rather than make one.
	callOn(t, p, 1)
	if s := p.Stats(); s.Instances != 1 || s.Idle != 1 || s.Calls != 12 {
		t.Fatalf("after one call on lane 1: %+v, want lane 0's idle instance reused", s)
	}
	if p.pool.lanes[1].in.Load() != first || p.pool.lanes[0].in.Load() != nil {
		t.Fatal("lane 1 did not take the instance idle in lane 0")
	}
}

// A caller without a lane, or one that finds the pool at MaxInstances,
// takes an instance idle in a lane instead of waiting for ever.
func TestLaneInstanceServesOthers(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	p := loadInternal(t, r, watModule(t, "trivial.wat"), PluginOptions{Name: "one", MaxInstances: 1, IdleTimeout: -1})
	callOn(t, p, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res := p.CallAttemptOn(ctx, idleEvent(), 1, 1); res.Status != Done {
		t.Fatalf("lane 1 with the only instance idle in lane 0: %+v", res)
	}
	if res := p.Call(ctx, idleEvent()); res.Status != Done {
		t.Fatalf("no lane, the only instance idle in lane 1: %+v", res)
	}
	if s := p.Stats(); s.Instances != 1 || s.Instantiations != 2 {
		t.Fatalf("%+v: want the one instance (and the load's check) only", s)
	}
}

// Callers on many lanes and without one, with fewer instances than
// callers, all finish (a waiter is never left while an instance idles in a
// lane), and closing the plugin closes every instance, those in lanes too.
func TestLanesUnderContentionThenClose(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	p, err := r.Load(context.Background(), watModule(t, "trivial.wat"), PluginOptions{Name: "busy", MaxInstances: 2, IdleTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for l := -1; l < 6; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				if res := p.CallAttemptOn(ctx, idleEvent(), 1, l); res.Status != Done {
					t.Errorf("lane %d: %+v", l, res)
					return
				}
			}
		}()
	}
	wg.Wait()
	if s := p.Stats(); s.Calls != 7*300 || s.Instances > 2 || s.Idle != s.Instances {
		t.Fatalf("after the calls: %+v", s)
	}
	p.Close()
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed: an instance in a lane was never closed")
	}
	for i := range p.pool.lanes {
		if p.pool.lanes[i].in.Load() != nil {
			t.Fatalf("lane %d still holds an instance after close", i)
		}
	}
	if res := p.CallAttemptOn(context.Background(), idleEvent(), 1, 0); res.Err == nil {
		t.Fatal("a call on a lane after Close succeeded")
	}
}

// The reaper closes an instance idle in a lane like one in the idle list.
func TestReaperClosesLaneInstances(t *testing.T) {
	r := manualRuntime(t, sharedCache(), 0)
	const idle = time.Second
	p := loadInternal(t, r, watModule(t, "trivial.wat"), PluginOptions{Name: "reap", MinInstances: 0, MaxInstances: 2, IdleTimeout: idle})
	base := r.coarse.Load()
	callOn(t, p, 0)
	if p.pool.lanes[0].in.Load() == nil {
		t.Fatal("lane 0 is empty after its call")
	}
	r.reap(base + int64(idle) + int64(idle)/4)
	if s := p.Stats(); s.Instances != 0 || s.IdleCloses != 1 {
		t.Fatalf("the lane's instance was not reaped: %+v", s)
	}
	callOn(t, p, 0)
}
