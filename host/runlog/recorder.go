package runlog

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/event"
)

// Defaults of RecorderOptions' zero fields.
const (
	DefaultRecorderBuffer = 8192
	DefaultRecorderBatch  = 256
	// DefaultAppendTimeout bounds one Store.Append of the Recorder.
	DefaultAppendTimeout = 10 * time.Second
)

// logEvery is how often, at most, a Recorder logs that it dropped or lost
// records.
const logEvery = 10 * time.Second

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// Buffer is the number of records that may wait to be appended,
	// those being appended included; past it, records are dropped. Zero
	// means DefaultRecorderBuffer.
	Buffer int
	// Batch is the largest number of records given to one Store.Append.
	// Zero means DefaultRecorderBatch.
	Batch int
	// AppendTimeout bounds each Store.Append. Zero means
	// DefaultAppendTimeout.
	AppendTimeout time.Duration
	// Linger, if positive, is how long the Recorder waits, once a record
	// is waiting, for more to fill a batch (Batch records) before it
	// appends what it has; a Flush or Close appends at once. For a store
	// whose Append costs per call (natsbus.Runs: one message per call):
	// fuller batches, records readable up to Linger later without a
	// Flush. Zero appends as soon as the previous Append has returned.
	Linger time.Duration
	// Describe, if set, names the plugin and version serving a route, for
	// the records Handled makes. It is called on the caller's goroutine
	// and must be quick (an atomic load).
	Describe func(route string) (plugin, version string)
	// Logger receives the warnings about dropped and lost records, at most
	// one every ten seconds; nil discards them.
	Logger *slog.Logger
}

// Recorder takes run records from the dispatcher's workers and appends
// them to a Store in batches, from one goroutine of its own. Create it
// with NewRecorder and stop it with Close. It is safe for concurrent use.
//
// Recording never delays handling: Handled and Add copy what they need,
// put the record in a bounded buffer and return (yielding the processor
// to the Recorder's goroutine first when a backlog of two batches has
// built up, so that callers that never block do not starve it), and when
// the buffer is full (the store is slower than the handlers, or
// unreachable) the record is dropped and counted (Dropped). Blocking
// instead would make the run log, which is a record of what happened,
// throttle what happens: a slow or unavailable store would stall every
// subscription's handling and hold its deliveries past their ack wait.
// The guarantees of evhost are about events, which the bus keeps; a
// missing run record costs a gap in a trace. See RATIONALE.md, "Why does
// the Recorder drop records?".
//
// The dispatcher's Observer reports a dispatch.Outcome, which this
// package cannot name (it must not import dispatch); the daemon adapts
// it:
//
//	func (o observer) Handled(route string, ev *event.Event, attempt int, out dispatch.Outcome, took time.Duration) {
//		o.rec.Handled(route, ev, attempt, out.Status.String(), out.Reason, out.Emits, took)
//	}
type Recorder struct {
	store Store
	opts  RecorderOptions
	log   *slog.Logger

	// The workers hand records over under mu by appending them to
	// pending; the drainer takes the whole of pending at once, swapping
	// it for the spare slice it has emptied. A record costs one copy
	// under a short lock, not a channel operation.
	mu        sync.Mutex
	closed    bool
	pending   []Record        // accepted, not yet taken by the drainer
	appending int             // taken by the drainer, not yet appended
	flushes   []chan struct{} // Flush calls waiting for pending and what came before
	wake      chan struct{}   // capacity 1: pending or flushes became non-empty, or closed

	ctx    context.Context // of the appends; canceled when Close gives up
	cancel context.CancelFunc
	done   chan struct{} // closed when the drainer has returned

	yieldAt int // pending records past which a caller yields to the drainer

	dropped  atomic.Uint64
	failed   atomic.Uint64
	appended atomic.Uint64
}

// NewRecorder returns a running Recorder that appends to s. The store
// stays the caller's: Close does not close it.
func NewRecorder(s Store, opts RecorderOptions) *Recorder {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultRecorderBuffer
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultRecorderBatch
	}
	if opts.AppendTimeout <= 0 {
		opts.AppendTimeout = DefaultAppendTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{
		store:   s,
		opts:    opts,
		yieldAt: max(1, min(2*opts.Batch, opts.Buffer/4)),
		log:     log,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.drain()
	return r
}

// Handled records a run of route on ev, ended with status (a
// dispatch.Status name) and reason after took; emits are the outcome's
// emits. It has the shape of the dispatcher's Observer and never blocks.
//
// The run's start is taken as now minus took. Emits are kept only for a
// done run, the only kind whose emits the dispatcher publishes; the
// events themselves are kept, not copied (a published event is never
// modified).
func (r *Recorder) Handled(route string, ev *event.Event, attempt int, status, reason string, emits []*event.Event, took time.Duration) {
	r.HandledAt(route, ev, attempt, status, reason, emits, time.Now().Add(-took), took)
}

// HandledAt is Handled for a caller that knows when the run started: it
// reads no clock.
func (r *Recorder) HandledAt(route string, ev *event.Event, attempt int, status, reason string, emits []*event.Event, start time.Time, took time.Duration) {
	run := [1]Run{{Event: ev, Attempt: attempt, Status: status, Reason: reason, Emits: emits, Start: start, Took: took}}
	r.HandledAll(route, run[:])
}

// Run is one run of a route, for HandledAll: the arguments of HandledAt.
type Run struct {
	Event          *event.Event
	Attempt        int
	Status, Reason string
	Emits          []*event.Event
	Start          time.Time
	Took           time.Duration
}

// HandledAll is HandledAt for several runs of route, in order, with one
// take of the Recorder's lock: what the buffer has no room for is dropped
// and counted, as with Add.
func (r *Recorder) HandledAll(route string, runs []Run) {
	var plugin, version string
	if d := r.opts.Describe; d != nil {
		plugin, version = d(route)
	}
	r.mu.Lock()
	was := len(r.pending)
	for i := range runs {
		if r.closed || len(r.pending)+r.appending >= r.opts.Buffer {
			r.dropped.Add(uint64(len(runs) - i))
			break
		}
		if runs[i].Event == nil || runs[i].Event.ID == "" {
			r.dropped.Add(1)
			continue
		}
		r.pending = append(r.pending, delivery(route, plugin, version, &runs[i]))
	}
	n := len(r.pending)
	r.mu.Unlock()
	if was == 0 && n > 0 || was < r.opts.Batch && n >= r.opts.Batch { // first, or a batch full (see linger)
		r.signal()
	}
	r.yield(n)
}

// yield lets the drainer run when n records are pending, a backlog that
// means it was woken but has not had a processor since: the workers that
// hand records over never block while they have deliveries to run, and
// the Go scheduler would otherwise run the drainer only when it preempts
// one of them, 10 ms later, by which time a buffer of 8192 records
// overflows at a million runs per second. See RATIONALE.md, "Why does a
// worker yield to the Recorder's drainer?".
func (r *Recorder) yield(n int) {
	if n >= r.yieldAt {
		runtime.Gosched()
	}
}

// delivery returns the record of the run rn of route, served by version
// of plugin. Emits are kept only for a done run, the only kind whose emits
// the dispatcher publishes.
func delivery(route, plugin, version string, rn *Run) Record {
	rec := Record{
		Kind:         KindDelivery,
		Subscription: route,
		Plugin:       plugin,
		Version:      version,
		EventID:      rn.Event.ID,
		EventSource:  rn.Event.Source,
		EventType:    rn.Event.Type,
		EventTime:    rn.Event.Time,
		Attempt:      rn.Attempt,
		Status:       rn.Status,
		Reason:       rn.Reason,
		Start:        rn.Start,
		Duration:     rn.Took,
	}
	if rn.Status == StatusDone && len(rn.Emits) > 0 {
		rec.Emits = append([]*event.Event(nil), rn.Emits...)
	}
	return rec
}

// Add hands a copy of rec to the Recorder and reports whether it was
// accepted: false when the buffer is full or the Recorder is closed (the
// record is dropped and counted) or rec cannot be stored (nil, or without
// EventID: dropped too). It never blocks. The record's Emits are kept, not
// copied.
func (r *Recorder) Add(rec *Record) bool { return r.add(rec) }

// add is Add; the buffer holds records by value, so that a record costs no
// allocation of its own.
func (r *Recorder) add(rec *Record) bool {
	if rec == nil || rec.EventID == "" {
		r.dropped.Add(1)
		return false
	}
	r.mu.Lock()
	if r.closed || len(r.pending)+r.appending >= r.opts.Buffer {
		r.mu.Unlock()
		r.dropped.Add(1)
		return false
	}
	r.pending = append(r.pending, *rec)
	n := len(r.pending)
	wake := n == 1 || n == r.opts.Batch // first, or a batch full (see linger)
	r.mu.Unlock()
	if wake {
		r.signal()
	}
	r.yield(n)
	return true
}

// signal wakes the drainer, or leaves it a wake-up if it is busy.
func (r *Recorder) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Flush waits until every record accepted before it was called has been
// handed to the store (appended, or failed: see Failed), or ctx ends.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("runlog: recorder: %w", ErrClosed)
	}
	r.flushes = append(r.flushes, done)
	r.mu.Unlock()
	r.signal()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking records, appends those it holds and returns when they
// are appended. If ctx ends first, it abandons the append in progress and
// the records still waiting (counted as dropped), and returns ctx's error
// once its goroutine has returned. It does not close the store.
func (r *Recorder) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.signal()
	select {
	case <-r.done:
		r.cancel()
		return nil
	case <-ctx.Done():
		r.cancel()
		<-r.done
		return ctx.Err()
	}
}

// Dropped returns the number of records dropped: refused by Add (buffer
// full, closed, invalid) or abandoned by Close.
func (r *Recorder) Dropped() uint64 { return r.dropped.Load() }

// Failed returns the number of records lost because the store's Append
// failed.
func (r *Recorder) Failed() uint64 { return r.failed.Load() }

// Appended returns the number of records appended to the store.
func (r *Recorder) Appended() uint64 { return r.appended.Load() }

// drain takes what the workers handed over, whenever woken, and appends
// it in batches of at most opts.Batch, until the Recorder is closed and
// everything accepted before is appended.
func (r *Recorder) drain() {
	defer close(r.done)
	var taken []Record
	var flushes []chan struct{}
	ptrs := make([]*Record, 0, r.opts.Batch)
	var lastLog time.Time
	var loggedDropped, loggedFailed uint64
	var lastErr error
	var timer *time.Timer
	for range r.wake {
		if r.opts.Linger > 0 {
			timer = r.linger(timer)
		}
		r.mu.Lock()
		taken, r.pending = r.pending, taken[:0]
		flushes, r.flushes = r.flushes, flushes[:0]
		r.appending = len(taken)
		closed := r.closed
		r.mu.Unlock()
		for rest := taken; len(rest) > 0; {
			chunk := rest[:min(len(rest), r.opts.Batch)]
			rest = rest[len(chunk):]
			ptrs = ptrs[:0]
			for i := range chunk {
				ptrs = append(ptrs, &chunk[i])
			}
			if err := r.append(ptrs); err != nil {
				lastErr = err
			}
			r.mu.Lock()
			r.appending -= len(chunk) // room for as many new records
			r.mu.Unlock()
		}
		// The flushes taken now were asked for after every record taken
		// now or before: those are all appended.
		for _, f := range flushes {
			close(f)
		}
		clear(taken) // drop the references to the records' strings and emits
		clear(flushes)
		clear(ptrs)
		if closed {
			return // nothing is accepted once closed: all was taken above
		}
		d, f := r.dropped.Load(), r.failed.Load()
		if (d != loggedDropped || f != loggedFailed) && time.Since(lastLog) >= logEvery {
			r.log.Warn("runlog: run records lost",
				slog.Uint64("dropped", d-loggedDropped), slog.Uint64("failed", f-loggedFailed),
				slog.Any("last_error", lastErr))
			loggedDropped, loggedFailed, lastLog, lastErr = d, f, time.Now(), nil
		}
	}
}

// append appends batch to the store, or counts it as dropped once Close
// has given up.
func (r *Recorder) append(batch []*Record) error {
	if len(batch) == 0 {
		return nil
	}
	if r.ctx.Err() != nil {
		r.dropped.Add(uint64(len(batch)))
		return nil
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.opts.AppendTimeout)
	defer cancel()
	if err := r.store.Append(ctx, batch...); err != nil {
		if r.ctx.Err() != nil {
			r.dropped.Add(uint64(len(batch)))
			return nil
		}
		r.failed.Add(uint64(len(batch)))
		return err
	}
	r.appended.Add(uint64(len(batch)))
	return nil
}

// linger waits until a batch is pending, a Flush or Close is asked, or
// opts.Linger has passed, and returns the timer it used (reused).
func (r *Recorder) linger(t *time.Timer) *time.Timer {
	ready := func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.closed || len(r.flushes) > 0 || len(r.pending) >= r.opts.Batch
	}
	if ready() {
		return t
	}
	if t == nil {
		t = time.NewTimer(r.opts.Linger)
	} else {
		t.Reset(r.opts.Linger)
	}
	for {
		select {
		case <-t.C:
			return t
		case <-r.wake:
			if ready() {
				t.Stop()
				return t
			}
		}
	}
}
