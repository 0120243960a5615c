package wasm

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// pool holds the instances of one reactor plugin version. Acquire and
// release are a mutex and a slice on the fast path; a caller that finds
// every instance busy and the pool at MaxInstances waits in FIFO order.
//
// A caller that names its lane (a dispatcher's worker: see
// Plugin.CallAttemptOn) keeps the instance it released in the lane's slot,
// and takes it back from there at its next call: one atomic swap on a
// cache line of its own, no lock, and an instance whose memory is still in
// that core's cache (see RATIONALE.md). An instance in a lane is idle: it
// counts in total, any caller may take it when the idle list is empty
// (steal), and reaping and close empty the lanes first.
type pool struct {
	p *Plugin

	lanes    []lane
	recycles bool         // MaxCalls or MaxAge is set
	waiting  atomic.Int32 // len(waiters), for the lanes' lock-free release
	shut     atomic.Bool  // closed, for the lanes' lock-free release

	mu       sync.Mutex
	idle     []*instance
	total    int    // live instances, idle or busy, plus those being created
	calls    uint64 // calls completed, counted at release under mu (no extra atomic)
	waiters  []chan *instance
	closed   bool
	finished bool          // the last instance is gone; done closes soon
	done     chan struct{} // closed once the compiled module is freed
	refill   sync.WaitGroup
	// lastActive is the coarse clock when an instance was last released
	// (or the pool made): the recency by which compiled modules are
	// evicted.
	lastActive int64
}

// maxLanes bounds the lanes of a pool (each a cache line); callers of
// higher lanes share the idle list.
const maxLanes = 16

// lane is the slot of one caller's idle instance, alone in its cache line.
type lane struct {
	in    atomic.Pointer[instance]
	calls atomic.Uint64 // calls released into the lane
	_     [48]byte
}

func newPool(p *Plugin) *pool {
	return &pool{
		p: p, idle: make([]*instance, 0, p.opts.MaxInstances), done: make(chan struct{}), lastActive: p.r.coarse.Load(),
		lanes:    make([]lane, min(p.opts.MaxInstances, maxLanes)),
		recycles: p.opts.MaxCalls > 0 || p.opts.MaxAge > 0,
	}
}

// park puts in, released after a call by the caller of lane l, into its
// lane, and reports whether it did: not when in is due to retire, someone
// waits for an instance, the pool is closed or the lane is taken (the
// caller then releases it). The caller of lane l takes the instance back
// with lanes[l].in.Swap(nil), before it acquires one.
func (pl *pool) park(in *instance, l int) bool {
	if pl.retire(in, true) || pl.waiting.Load() > 0 || pl.shut.Load() {
		return false
	}
	ln := &pl.lanes[l]
	in.idleSince = pl.p.r.coarse.Load()
	if !ln.in.CompareAndSwap(nil, in) {
		return false
	}
	ln.calls.Add(1)
	// A caller may have started to wait, or the pool to close, since the
	// checks above; each looks at the lanes after it shows (waiting, shut),
	// so one of the two sees the other: take the instance back to hand it
	// on or close it.
	if pl.waiting.Load() > 0 || pl.shut.Load() {
		if back := ln.in.Swap(nil); back != nil {
			pl.put(back, false, false)
		}
	}
	return true
}

// drainLanes takes the instances out of the lanes and returns them.
func (pl *pool) drainLanes(into []*instance) []*instance {
	for i := range pl.lanes {
		if in := pl.lanes[i].in.Swap(nil); in != nil {
			into = append(into, in)
		}
	}
	return into
}

// instantiate creates an instance, compiling the module again first if it
// was evicted. The caller holds a slot (counted in total).
func (pl *pool) instantiate(ctx context.Context) (*instance, error) {
	mod, err := pl.p.module(ctx)
	if err != nil {
		return nil, err
	}
	return newInstance(ctx, pl.p, mod)
}

// prewarm creates n instances; the first failure is returned.
func (pl *pool) prewarm(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		pl.mu.Lock()
		pl.total++
		pl.mu.Unlock()
		in, err := pl.instantiate(ctx)
		if err != nil {
			pl.mu.Lock()
			pl.total--
			pl.mu.Unlock()
			return err
		}
		pl.put(in, false, false)
	}
	return nil
}

// acquire returns an idle instance, creates one while the pool is below
// MaxInstances, or waits for one to be released.
func (pl *pool) acquire(ctx context.Context) (*instance, error) {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(pl.idle); n > 0 {
		in := pl.idle[n-1]
		pl.idle = pl.idle[:n-1]
		pl.mu.Unlock()
		return in, nil
	}
	// An instance idle in another caller's lane serves before a new one
	// is made.
	for i := range pl.lanes {
		if in := pl.lanes[i].in.Swap(nil); in != nil {
			pl.mu.Unlock()
			return in, nil
		}
	}
	if pl.total < pl.p.opts.MaxInstances {
		pl.total++
		pl.mu.Unlock()
		return pl.create(ctx)
	}
	ch := make(chan *instance, 1)
	pl.waiters = append(pl.waiters, ch)
	pl.waiting.Store(int32(len(pl.waiters)))
	pl.mu.Unlock()
	// Instances idle in the lanes go to the waiters, first come first
	// served (this one or an earlier one).
	for _, in := range pl.drainLanes(nil) {
		pl.put(in, false, false)
	}

	select {
	case in := <-ch:
		return pl.handed(ctx, in)
	case <-ctx.Done():
		pl.mu.Lock()
		for i, w := range pl.waiters {
			if w == ch {
				pl.waiters = append(pl.waiters[:i], pl.waiters[i+1:]...)
				pl.waiting.Store(int32(len(pl.waiters)))
				pl.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		pl.mu.Unlock()
		// A release handed us something meanwhile: pass it on.
		in, err := pl.handed(ctx, <-ch)
		if err == nil {
			pl.put(in, false, false)
		}
		return nil, ctx.Err()
	}
}

// handed turns what a waiter received into an instance: nil means a slot
// was freed and the waiter creates the instance itself.
func (pl *pool) handed(ctx context.Context, in *instance) (*instance, error) {
	if in != nil {
		return in, nil
	}
	pl.mu.Lock()
	closed := pl.closed
	pl.mu.Unlock()
	if closed {
		pl.mu.Lock()
		pl.total--
		pl.finishIfDoneLocked()
		pl.mu.Unlock()
		return nil, ErrClosed
	}
	return pl.create(ctx)
}

// create instantiates an instance for a slot already counted in total.
func (pl *pool) create(ctx context.Context) (*instance, error) {
	in, err := pl.instantiate(ctx)
	if err != nil {
		pl.mu.Lock()
		pl.total--
		pl.wakeLocked()
		pl.finishIfDoneLocked()
		pl.mu.Unlock()
		return nil, err
	}
	return in, nil
}

// ageCheckEvery is how often (in calls) an instance's age is checked
// against MaxAge: reading the clock on every call would cost more than
// the call itself for a small handler.
const ageCheckEvery = 32

// release returns an instance after a call. A failed instance, one past
// MaxCalls or MaxAge, or any instance of a closed pool is closed instead.
func (pl *pool) release(in *instance, failed bool) { pl.put(in, failed, true) }

// put returns an instance to the pool: after a call (counted), or a new
// one (prewarm, refill, a hand-off that was not used). Only a call retires
// an instance for its calls or its age: a new one put back with a
// MaxAge shorter than its instantiation would otherwise be closed and
// refilled again and again.
func (pl *pool) put(in *instance, failed, counted bool) {
	retire := failed || pl.retire(in, counted)
	pl.mu.Lock()
	if counted {
		pl.calls++
	}
	if pl.closed || retire {
		pl.total--
		if !pl.closed {
			pl.wakeLocked()
			if failed {
				pl.p.discards.Add(1)
			} else {
				pl.p.recycles.Add(1)
			}
			pl.refillLocked()
		}
		pl.finishIfDoneLocked()
		pl.mu.Unlock()
		in.close()
		return
	}
	if len(pl.waiters) > 0 {
		w := pl.waiters[0]
		pl.waiters = pl.waiters[1:]
		pl.waiting.Store(int32(len(pl.waiters)))
		pl.mu.Unlock()
		w <- in
		return
	}
	in.idleSince = pl.p.r.coarse.Load()
	pl.lastActive = in.idleSince
	pl.idle = append(pl.idle, in)
	pl.mu.Unlock()
}

// retire reports whether in, put back after a call if counted, is past
// MaxCalls or MaxAge (zero or less means never). It is small enough to be
// inlined where instances are put back: the usual pool never retires.
func (pl *pool) retire(in *instance, counted bool) bool {
	return counted && pl.recycles && pl.expired(in)
}

// expired is retire for a pool with MaxCalls or MaxAge.
func (pl *pool) expired(in *instance) bool {
	o := &pl.p.opts
	return o.MaxCalls > 0 && in.calls >= o.MaxCalls ||
		o.MaxAge > 0 && in.calls%ageCheckEvery == 0 && time.Since(in.born) >= o.MaxAge
}

// reap closes the instances idle since before now - IdleTimeout*5/4 (the
// coarse clock they recorded lags by at most a tick, a quarter of
// IdleTimeout: each was idle for at least IdleTimeout), keeping
// MinInstances, and returns how many it closed.
func (pl *pool) reap(now int64) int {
	idle := int64(pl.p.opts.IdleTimeout)
	return pl.trim(now-idle-idle/4, pl.p.opts.MinInstances, true)
}

// trim closes the idle instances that went idle at or before cutoff
// while more than keep instances are live, and returns how many.
func (pl *pool) trim(cutoff int64, keep int, count bool) int {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return 0
	}
	// The lanes' instances join the idle list, which stays oldest first;
	// a caller then finds its lane empty and takes one from the list.
	listed := len(pl.idle)
	if pl.idle = pl.drainLanes(pl.idle); len(pl.idle) > listed {
		for _, in := range pl.idle[listed:] {
			pl.lastActive = max(pl.lastActive, in.idleSince)
		}
		slices.SortStableFunc(pl.idle, func(a, b *instance) int { return cmp.Compare(a.idleSince, b.idleSince) })
	}
	if len(pl.idle) == 0 {
		pl.mu.Unlock()
		return 0
	}
	var victims []*instance
	kept := pl.idle[:0]
	for _, in := range pl.idle { // oldest first: released instances are appended
		if pl.total > keep && in.idleSince <= cutoff {
			victims = append(victims, in)
			pl.total--
		} else {
			kept = append(kept, in)
		}
	}
	clear(pl.idle[len(kept):])
	pl.idle = kept
	pl.mu.Unlock()
	for _, in := range victims {
		in.close()
	}
	if n := uint64(len(victims)); count && n > 0 {
		pl.p.idleCloses.Add(n)
		pl.p.r.idleCloses.Add(n)
	}
	return len(victims)
}

// vacant reports whether the pool has no instance, live or being made,
// and since when it was last active: whether its module may be evicted.
func (pl *pool) vacant() (lastActive int64, ok bool) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.lastActive, !pl.closed && pl.total == 0
}

// evict frees the compiled module if the pool is still vacant; a caller
// that wants an instance afterwards compiles it again.
func (pl *pool) evict() bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.closed || pl.total != 0 {
		return false
	}
	return pl.p.freeModule()
}

// wakeLocked gives a freed slot to the first waiter, if any.
func (pl *pool) wakeLocked() {
	if len(pl.waiters) > 0 && pl.total < pl.p.opts.MaxInstances {
		w := pl.waiters[0]
		pl.waiters = pl.waiters[1:]
		pl.waiting.Store(int32(len(pl.waiters)))
		pl.total++
		w <- nil
	}
}

// refillLocked keeps MinInstances warm in the background after a retire.
func (pl *pool) refillLocked() {
	if pl.total >= pl.p.opts.MinInstances {
		return
	}
	pl.total++
	pl.refill.Add(1)
	go func() {
		defer pl.refill.Done()
		in, err := pl.instantiate(context.Background())
		if err != nil {
			pl.p.opts.Logger.Warn("refilling instance pool", "err", err)
			pl.mu.Lock()
			pl.total--
			pl.finishIfDoneLocked()
			pl.mu.Unlock()
			return
		}
		pl.put(in, false, false)
	}()
}

// close retires the pool: idle instances are closed now, busy ones when
// released.
func (pl *pool) close() {
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return
	}
	pl.closed = true
	pl.shut.Store(true)
	idle := pl.drainLanes(pl.idle)
	pl.idle = nil
	pl.total -= len(idle)
	for _, w := range pl.waiters {
		pl.total++ // the waiter gets nil, sees closed, and gives it back
		close(w)
	}
	pl.waiters = nil
	pl.waiting.Store(0)
	pl.finishIfDoneLocked()
	pl.mu.Unlock()
	for _, in := range idle {
		in.close()
	}
}

// finishIfDoneLocked frees the compiled module once a closed pool has no
// instances left.
func (pl *pool) finishIfDoneLocked() {
	if !pl.closed || pl.total != 0 || pl.finished {
		return
	}
	pl.finished = true
	go func() {
		pl.refill.Wait()
		pl.p.freeModule()
		pl.p.r.untrack(pl.p)
		close(pl.done)
	}()
}

// wait blocks until the pool is done or ctx ends.
func (pl *pool) wait(ctx context.Context) {
	select {
	case <-pl.done:
	case <-ctx.Done():
	}
}

func (pl *pool) counts() (total, idle int, calls uint64) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	idle, calls = len(pl.idle), pl.calls
	for i := range pl.lanes {
		if pl.lanes[i].in.Load() != nil {
			idle++
		}
		calls += pl.lanes[i].calls.Load()
	}
	return pl.total, idle, calls
}
