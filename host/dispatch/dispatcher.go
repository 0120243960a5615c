package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Route is one subscription and the handler that serves it.
type Route struct {
	// Name is the subscription's (durable) name.
	Name string
	// Patterns select the event types it receives.
	Patterns []string
	// Kind says what serves the route ("plugin", "webhook", "native"), for
	// the middleware (a span's attributes) and the status page; the
	// dispatcher itself does not read it.
	Kind string
	// Filter, if set, is asked about every delivery before the handler:
	// an event for which it returns false (or an error) is acknowledged
	// without a call, and a FilterObserver is told.
	Filter func(*event.Event) (bool, error)
	// Paused pauses the subscription (bus.Bus.Pause) when the route is
	// applied paused: first, or after it was applied not paused; a route
	// applied not paused after it was applied paused is resumed. A pause
	// made otherwise (Dispatcher.Pause, another daemon) is left alone
	// while this stays the same.
	Paused bool
	// Handler serves its deliveries. To swap what serves a route without
	// touching the subscription (a plugin's new version), swap behind the
	// Handler: the dispatcher calls it afresh for every delivery.
	Handler Handler
	// Concurrency is the number of deliveries handled at once (default 1:
	// in order).
	Concurrency int
	// Queue, MaxAttempts, AckWait and Backoff configure the subscription
	// (see bus.Subscription).
	Queue       int
	MaxAttempts int
	AckWait     time.Duration
	Backoff     bus.Backoff
	// OrderBy, OrderKey and Partitions order the subscription per key
	// (see bus.Subscription.Partitions): the bus hands out one event of a
	// partition at a time, whichever daemon runs it, so the route's
	// workers need do nothing for it.
	OrderBy    string
	OrderKey   func(*event.Event) string
	Partitions int
	// Rate, when positive, caps the handler starts of the subscription,
	// per second, across every process that runs it (see Members), with
	// Burst (at least 1) starts at once: a delivery waits for its turn,
	// its ack wait extended, and uses up no attempt.
	Rate  float64
	Burst int
}

func (r *Route) subscription() bus.Subscription {
	return bus.Subscription{
		Name: r.Name, Patterns: r.Patterns, Queue: r.Queue,
		MaxAttempts: r.MaxAttempts, AckWait: r.AckWait, Backoff: r.Backoff,
		Partitions: r.Partitions, OrderBy: r.OrderBy, OrderKey: r.OrderKey,
	}
}

// sameSubscription reports whether a and b need no restart of the workers
// (a new handler alone is swapped in place).
func sameSubscription(a, b *Route) bool {
	return a.Concurrency == b.Concurrency && a.Rate == b.Rate && a.Burst == b.Burst &&
		reflect.DeepEqual(a.subscription().Comparable(), b.subscription().Comparable())
}

// Observer is told about every handled delivery (metrics, tracing, the
// run log). Its methods are called from the dispatcher's workers and must
// be safe for concurrent use and quick.
type Observer interface {
	Handled(route string, ev *event.Event, attempt int, out Outcome, took time.Duration)
}

// RouteObserver is an Observer that keeps what it needs per route (the
// label children of its metrics, say). When a route's workers start, the
// dispatcher asks it once for that route's RunObserver, and tells that one
// about each handled delivery instead of calling Handled, with the time the
// run started as the dispatcher read it: the observer reads no clock and
// looks no route up per delivery.
type RouteObserver interface {
	Observer
	Route(name string) RunObserver
}

// RunObserver is told about the handled deliveries of one route (see
// RouteObserver): start is when the run started (wall and monotonic time,
// as time.Now gives), took how long it lasted. Its method is called from
// the route's workers and must be safe for concurrent use and quick.
type RunObserver interface {
	Ran(ev *event.Event, attempt int, out Outcome, start time.Time, took time.Duration)
}

// RunsObserver is a RunObserver that can be told about several runs at
// once: a worker that handles a batch of deliveries reports the runs done
// together, in the order handled, before it acks them. The slice and its
// events are the caller's again once RanAll returns.
type RunsObserver interface {
	RunObserver
	RanAll(runs []Run)
}

// FilterObserver is an Observer that is also told about the deliveries a
// route's Filter acknowledged without a call; err is the filter's error,
// if it could not be evaluated.
type FilterObserver interface {
	Filtered(route string, ev *event.Event, err error)
}

// Options configures a Dispatcher.
type Options struct {
	// Logger receives failures (every line carries the event's id and
	// type, the subscription and the attempt). Nil means slog.Default().
	Logger *slog.Logger
	// Observer, if set, is told about every handled delivery.
	Observer Observer
	// Batch is the most deliveries the worker of a route with concurrency
	// 1 takes from the bus at once when they are ready (default 32): fewer
	// trips to the bus, and nothing to lose since that worker handles them
	// in order anyway. Workers of a route with more concurrency take one
	// delivery at a time, so that one slow call never holds deliveries that
	// an idle worker of the same route could run, unless the bus is a
	// bus.FairFetcher: they take a batch each then only while there is one
	// ready for every worker. From a FairFetcher a worker acks the
	// deliveries of a batch it handled together, with its next fetch (see
	// host/RATIONALE.md). A worker takes at most 8 at first, and then as
	// many as its last batch shows it would handle in about a millisecond
	// (twice as many each time a batch is quicker, up to Batch), so that
	// slow runs are taken, and acked, one at a time. Before each run it
	// starts the ack wait of the deliveries it holds again when a third of
	// it has passed since the batch's first run or the last time, so that
	// a batch of slow runs does not outlast it.
	Batch int
	// Middleware wraps every route's handler, outermost first, around
	// Recover, which always wraps the handler itself.
	Middleware []Middleware
}

// Dispatcher runs a set of routes against a bus. It is safe for
// concurrent use.
type Dispatcher struct {
	bus  bus.Bus
	opts Options
	log  *slog.Logger

	hardCtx  context.Context // cancelled to stop handlers hard
	hardStop context.CancelFunc

	mu     sync.Mutex
	routes map[string]*runner
	closed bool

	clock clock // the runs' start times
}

// New returns a dispatcher over b with no routes.
func New(b bus.Bus, opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Batch <= 0 {
		opts.Batch = 32
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{bus: b, opts: opts, log: opts.Logger, hardCtx: ctx, hardStop: cancel, routes: map[string]*runner{}}
}

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("dispatch: dispatcher closed")

// Apply makes the running routes those given: it starts the new ones,
// stops the workers of those no longer given (their in-flight deliveries
// finish first), and restarts the changed ones. The subscription of a
// route no longer given is kept, with what it holds: it goes on queueing
// events (up to its queue bound), and a later Apply that gives the route
// again handles them; Delete drops it. It stops at the first error,
// leaving the routes applied so far running.
func (d *Dispatcher) Apply(ctx context.Context, routes []Route) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	want := make(map[string]*Route, len(routes))
	for i := range routes {
		r := &routes[i]
		if _, dup := want[r.Name]; dup {
			return fmt.Errorf("dispatch: route %q given twice", r.Name)
		}
		want[r.Name] = r
	}
	// Removed routes: stop their workers; the subscription stays, and
	// keeps its events for when the route comes back.
	for name, run := range d.routes {
		if _, ok := want[name]; ok {
			continue
		}
		run.stop(ctx)
		delete(d.routes, name)
	}
	for i := range routes {
		r := routes[i]
		old := d.routes[r.Name]
		if old != nil && sameSubscription(&old.route, &r) {
			if r.Handler == nil {
				return fmt.Errorf("dispatch: route %q has no handler", r.Name)
			}
			if old.route.Paused != r.Paused {
				if err := d.setPaused(ctx, r.Name, r.Paused); err != nil {
					return err
				}
				old.route.Paused = r.Paused
			}
			old.handler.Store(&handlerBox{d.wrap(&r), r.Filter})
			continue
		}
		// Subscribe the new workers before stopping the old ones, so that
		// the subscription always has a consumer.
		pause := r.Paused && (old == nil || !old.route.Paused)
		resume := !r.Paused && old != nil && old.route.Paused
		run, err := d.start(ctx, r, pause)
		if err != nil {
			return err
		}
		if old != nil {
			old.stop(ctx)
		}
		d.routes[r.Name] = run
		if resume {
			if err := d.setPaused(ctx, r.Name, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// Pause pauses the subscription name for every consumer (bus.Bus.Pause),
// whether its route runs here or not: its events wait, and queue up.
func (d *Dispatcher) Pause(ctx context.Context, name string) error {
	return d.setPaused(ctx, name, true)
}

// Resume resumes the subscription name (bus.Bus.Resume).
func (d *Dispatcher) Resume(ctx context.Context, name string) error {
	return d.setPaused(ctx, name, false)
}

func (d *Dispatcher) setPaused(ctx context.Context, name string, paused bool) error {
	f, verb := d.bus.Resume, "resuming"
	if paused {
		f, verb = d.bus.Pause, "pausing"
	}
	if err := f(ctx, name); err != nil {
		return fmt.Errorf("dispatch: %s subscription %q: %w", verb, name, err)
	}
	if paused {
		d.log.Info("subscription paused: its events wait", slog.String("subscription", name))
	} else {
		d.log.Info("subscription resumed", slog.String("subscription", name))
	}
	return nil
}

// ErrRunning is returned by Delete for a route that is running.
var ErrRunning = errors.New("dispatch: the route is running")

// Delete deletes the subscription of a route that is not running (removed
// from the routes by Apply, or never applied by this dispatcher): the
// events it holds are dropped, and a route given again later starts from
// the events published after it. It returns ErrRunning (wrapped) for a
// running route, and bus.ErrNotFound (wrapped) when the bus has no such
// subscription. Dead letters of the subscription are kept.
func (d *Dispatcher) Delete(ctx context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	if _, ok := d.routes[name]; ok {
		return fmt.Errorf("%w: %q (disable or remove it first)", ErrRunning, name)
	}
	if err := d.bus.Unsubscribe(ctx, name); err != nil {
		return fmt.Errorf("dispatch: deleting subscription %q: %w", name, err)
	}
	return nil
}

// InFlight returns, for each running route, the deliveries its workers
// are handling now.
func (d *Dispatcher) InFlight() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := make(map[string]int64, len(d.routes))
	for name, r := range d.routes {
		var n int64
		for i := range r.inflight {
			n += r.inflight[i].n.Load()
		}
		m[name] = n
	}
	return m
}

// Routes returns the names of the running routes.
func (d *Dispatcher) Routes() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.routes))
	for n := range d.routes {
		names = append(names, n)
	}
	return names
}

// Close stops every route gracefully: workers take no new deliveries and
// finish the ones they hold. If ctx ends first, handlers' contexts are
// cancelled (wasm calls stop at once and their deliveries are Nak'ed) and
// Close waits for the workers to return. Subscriptions are kept (a durable
// bus redelivers what was not settled).
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	runs := make([]*runner, 0, len(d.routes))
	for _, r := range d.routes {
		runs = append(runs, r)
	}
	d.mu.Unlock()
	for _, r := range runs {
		r.sub.Close()
		r.leave()
	}
	done := make(chan struct{})
	go func() {
		for _, r := range runs {
			r.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		d.hardStop()
		return nil
	case <-ctx.Done():
		d.hardStop()
		<-done
		return ctx.Err()
	}
}

// runner is the workers of one route.
type runner struct {
	d        *Dispatcher
	route    Route
	handler  atomic.Pointer[handlerBox]
	sub      bus.Subscriber
	log      *slog.Logger
	wg       sync.WaitGroup
	stopping chan struct{} // closed by stop: a worker waiting on backpressure gives up
	inflight []counter     // per worker: the deliveries it is handling now
	rate     *rateShare    // the route's rate limit, or nil
	obs      Observer      // Options.Observer, or nil
	run      RunObserver   // the route's, when obs is a RouteObserver
	runs     RunsObserver  // run, when it is a RunsObserver too
}

// start subscribes r and starts its workers, pausing the subscription
// first when pause is set.
func (d *Dispatcher) start(ctx context.Context, r Route, pause bool) (*runner, error) {
	if r.Handler == nil {
		return nil, fmt.Errorf("dispatch: route %q has no handler", r.Name)
	}
	if r.Concurrency <= 0 {
		r.Concurrency = 1
	}
	sub, err := d.bus.Subscribe(ctx, r.subscription())
	if err != nil {
		return nil, fmt.Errorf("dispatch: route %q: %w", r.Name, err)
	}
	if pause {
		if err := d.setPaused(ctx, r.Name, true); err != nil {
			sub.Close()
			return nil, err
		}
	}
	run := &runner{d: d, route: r, sub: sub, log: d.log.With(slog.String("subscription", r.Name)), stopping: make(chan struct{}), obs: d.opts.Observer}
	if ro, ok := run.obs.(RouteObserver); ok {
		run.run = ro.Route(r.Name)
		run.runs, _ = run.run.(RunsObserver)
	}
	if r.Rate > 0 {
		run.rate = d.shareRate(&r, run.stopping)
	}
	run.handler.Store(&handlerBox{d.wrap(&r), r.Filter})
	run.inflight = make([]counter, r.Concurrency)
	run.wg.Add(r.Concurrency)
	for i := 0; i < r.Concurrency; i++ {
		go run.work(i, &run.inflight[i])
	}
	return run, nil
}

// handlerBox is what serves a route now: its handler and filter, swapped
// together.
type handlerBox struct {
	h      Handler
	filter func(*event.Event) (bool, error)
}

// wrap applies the middleware to the handler of r.
func (d *Dispatcher) wrap(r *Route) Handler {
	h := Recover(r.Handler)
	for i := len(d.opts.Middleware) - 1; i >= 0; i-- {
		h = d.opts.Middleware[i](r, h)
	}
	return h
}

// stop detaches the runner's consumer and waits for its workers to settle
// what they hold (or for ctx, then handlers are not interrupted: the
// caller's Close does that).
func (r *runner) stop(ctx context.Context) {
	close(r.stopping)
	r.sub.Close()
	r.leave()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// counter is a worker's count, alone in its cache line: workers of one
// route that shared a line would pass it between their cores at every
// event (see host/RATIONALE.md).
type counter struct {
	n atomic.Int64
	_ [56]byte
}

// workerKey is the context key of Worker.
type workerKey struct{}

// Worker returns the index (from 0) of the route's worker that a
// Handler's context belongs to: a worker handles one delivery at a time,
// so a handler may keep state per worker (a plugin, the instance it last
// ran on) and use it without a lock.
func Worker(ctx context.Context) (int, bool) {
	w, ok := ctx.Value(workerKey{}).(int)
	return w, ok
}

// worker is the state of one of a runner's workers.
type worker struct {
	ctx context.Context // the dispatcher's hard context, naming the worker (Worker)
	// deferred: the worker reports a batch's runs to the observer at the
	// batch's end, then acks the deliveries done with its next fetch; the
	// next run of a batch starts when the previous one ended.
	deferred bool
	runs     []Run     // the batch's runs done, to report before their acks
	next     time.Time // when the batch's last run ended, if deferred
	// held is when the ack wait of what the worker holds last started:
	// its batch's first run, or the last extension; zero before the first.
	held time.Time
	// size is how many deliveries the worker takes next (see resize);
	// first and last are when its batch's first run started and its last
	// run ended, zero before a run.
	size        int
	first, last time.Time
	acks        []bus.PubAck // the receipts of the last emits published, for the next
}

// batchTime is about how long a worker's batch may take: a worker whose
// batches take longer takes fewer deliveries at once, so that its acks and
// the reports of its runs, which wait for the batch's end, wait about that
// long at most. See Options.Batch.
const batchTime = time.Millisecond

// firstBatch is the most deliveries a worker takes before it knows how
// long its runs take: what a bus that pulls ahead (natsbus) asks for, and
// holds with their ack wait running, before the worker can tell that its
// runs are slow.
const firstBatch = 8

// resize sets the size of the worker's next batch from the one that has
// just ended, whose n runs started at w.first and ended at w.last: as many
// as would have taken batchTime when it took longer (at least one), else
// twice as many as the last time, up to most. One slow run among fast ones
// (a preemption, a collection) thus costs a few small batches, not a long
// average's worth.
func (w *worker) resize(n, most int) {
	if n == 0 || w.first.IsZero() {
		return
	}
	took := w.last.Sub(w.first)
	if took > batchTime {
		w.size = int(max(1, int64(n)*int64(batchTime)/int64(took)))
	} else {
		w.size = min(most, 2*w.size)
	}
	w.first = time.Time{}
}

// Run is one handled delivery, as a RunsObserver is told about it.
type Run struct {
	Event   *event.Event
	Attempt int
	Outcome Outcome
	Start   time.Time     // when the run started (wall and monotonic time)
	Took    time.Duration // how long it lasted
}

// work is the worker w of r; inflight counts the deliveries it is
// handling.
func (r *runner) work(w int, inflight *counter) {
	defer r.wg.Done()
	fair, _ := r.sub.(bus.FairFetcher)
	wk := &worker{ctx: context.WithValue(r.d.hardCtx, workerKey{}, w), deferred: fair != nil}
	batch := 1
	if r.route.Concurrency == 1 || fair != nil {
		batch = r.d.opts.Batch
	}
	// buf holds the batch; acks, from a FairFetcher, the deliveries of the
	// batch done, which the next fetch acks.
	buf := make([]bus.Delivery, batch)
	wk.size = min(firstBatch, batch)
	var acks []bus.Delivery
	var errs []error
	if fair != nil {
		acks, errs = make([]bus.Delivery, 0, batch), make([]error, batch)
	}
	for {
		var n int
		var err error
		want := buf[:wk.size]
		if fair != nil {
			n, err = fair.AckFetch(r.d.hardCtx, acks, errs, want, r.route.Concurrency)
			r.ackFailed(acks, errs)
			acks = acks[:0]
		} else {
			n, err = r.sub.Fetch(r.d.hardCtx, want)
		}
		wk.next, wk.held = time.Time{}, time.Time{} // the batch's first run starts after the fetch
		for i := 0; i < n; i++ {
			dl := buf[i]
			buf[i] = bus.Delivery{}
			inflight.n.Add(1)
			acked := r.handle(wk, dl, holding{acks, buf[i+1 : n]})
			inflight.n.Add(-1)
			if acked {
				acks = append(acks, dl)
			}
		}
		wk.resize(n, batch)
		// Runs are reported before their deliveries are acked, as one at a
		// time does: what reads the run log or the metrics after an ack
		// finds the run there.
		r.reportRuns(wk)
		if err != nil {
			if len(acks) > 0 {
				fair.AckFetch(r.d.hardCtx, acks, errs, nil, 1)
				r.ackFailed(acks, errs)
			}
			if !errors.Is(err, bus.ErrClosed) && !errors.Is(err, context.Canceled) {
				r.log.Error("fetching deliveries", slog.Any("err", err))
			}
			return
		}
	}
}

// reportRuns reports the runs w deferred, in order, and forgets them.
func (r *runner) reportRuns(w *worker) {
	switch {
	case len(w.runs) == 0:
		return
	case r.runs != nil:
		r.runs.RanAll(w.runs)
	default:
		for _, rn := range w.runs {
			r.report(rn)
		}
	}
	clear(w.runs)
	w.runs = w.runs[:0]
}

// report tells the observer about a run.
func (r *runner) report(rn Run) {
	switch {
	case r.run != nil:
		r.run.Ran(rn.Event, rn.Attempt, rn.Outcome, rn.Start, rn.Took)
	case r.obs != nil:
		r.obs.Handled(r.route.Name, rn.Event, rn.Attempt, rn.Outcome, rn.Took)
	}
}

// holding is what a worker holds besides the delivery it runs: the
// deliveries of its batch handled and waiting for their ack, and those not
// yet handled.
type holding struct{ done, next []bus.Delivery }

// extend starts the ack wait of dl and of everything h holds again.
func (h holding) extend(dl bus.Delivery) {
	dl.Extend()
	for _, d := range h.done {
		d.Extend()
	}
	for _, d := range h.next {
		d.Extend()
	}
}

// ackFailed logs the acks of acks that failed (errs) and clears both.
func (r *runner) ackFailed(acks []bus.Delivery, errs []error) {
	for i, err := range errs[:len(acks)] {
		if err != nil && !errors.Is(err, bus.ErrClosed) {
			r.failed(slog.LevelWarn, "settling delivery", acks[i].Event(), acks[i].Attempt(), err.Error())
		}
		errs[i] = nil
	}
	clear(acks)
}

// handle runs one delivery on the worker w and settles it, except that
// when w defers a delivery done is left to the caller to ack, with the rest
// of its batch, and handle returns true (and its run is left in w.runs).
// held is what the worker holds besides dl, which a wait on backpressure
// or on the rate limit extends too.
func (r *runner) handle(w *worker, dl bus.Delivery, held holding) (ack bool) {
	ev := dl.Event()
	obs := r.obs
	start := w.next
	if start.IsZero() {
		start = r.d.clock.now()
	}
	w.next = time.Time{}
	r.keepHeld(w, start, dl, held)
	box := r.handler.Load()
	if box.filter != nil {
		if ok, ferr := box.filter(ev); !ok {
			if err := dl.Ack(); err != nil && !errors.Is(err, bus.ErrClosed) {
				r.failed(slog.LevelWarn, "settling a filtered delivery", ev, dl.Attempt(), err.Error())
			}
			if fo, isFO := obs.(FilterObserver); isFO {
				fo.Filtered(r.route.Name, ev, ferr)
			}
			return
		}
	}
	switch ok, waited := r.waitTurn(dl, held); {
	case !ok:
		// The route stops: the event goes back (which counts an attempt).
		if err := dl.Nak(0, "the route stopped while the event waited for its rate limit"); err != nil && !errors.Is(err, bus.ErrClosed) {
			r.failed(slog.LevelWarn, "settling delivery", ev, dl.Attempt(), err.Error())
		}
		return
	case waited:
		// The run starts now: its duration, the latency histogram and
		// the run log leave the wait for the rate limit out.
		start = r.d.clock.now()
	}
	out := box.h.Handle(w.ctx, ev, dl.Attempt())
	var err error
	switch out.Status {
	case Done:
		if len(out.Emits) > 0 {
			if perr := r.publishEmits(w, out.Emits, dl, held); perr != nil {
				// Emits published before the failure have deterministic
				// ids: the retry's are deduplicated.
				out = Outcome{Status: Retry, Reason: "publishing emitted events: " + perr.Error()}
				if errors.Is(perr, bus.ErrInvalidEvent) {
					out.Status = Reject
				}
				break
			}
		}
		if out.Status == Done {
			if ack = w.deferred; !ack {
				err = dl.Ack()
			}
		}
	}
	switch out.Status {
	case Done:
	case Reject:
		err = dl.Term(out.Reason)
		r.failed(slog.LevelError, "event dead-lettered", ev, dl.Attempt(), out.Reason)
	default:
		delay := bus.UseBackoff
		if out.Delay > 0 {
			delay = out.Delay
		}
		err = dl.Nak(delay, out.Reason)
		if dl.Attempt() >= r.maxAttempts() {
			r.failed(slog.LevelError, "event dead-lettered after its last attempt", ev, dl.Attempt(), out.Reason)
		} else {
			r.failed(slog.LevelWarn, "handler failed; will retry", ev, dl.Attempt(), out.Reason)
		}
	}
	if err != nil && !errors.Is(err, bus.ErrClosed) {
		r.failed(slog.LevelWarn, "settling delivery", ev, dl.Attempt(), err.Error())
	}
	end := r.d.clock.now()
	if w.first.IsZero() {
		w.first = start
	}
	w.last = end
	if w.deferred {
		w.next = end
	}
	if obs != nil {
		rn := Run{Event: ev, Attempt: dl.Attempt(), Outcome: out, Start: start, Took: end.Sub(start)}
		if ack {
			w.runs = append(w.runs, rn)
		} else {
			// A run that failed is reported now, after the batch's runs
			// before it: its retry may run on another worker at once.
			r.reportRuns(w)
			r.report(rn)
		}
	}
	return ack
}

// keepHeld starts the ack wait of dl and of what the worker w holds again
// (held) when a third of it has passed since it last started, as of now:
// the deliveries of a batch wait for the runs before theirs, which can
// take longer than the ack wait in all, and a delivery whose ack wait
// passes is delivered again, to another worker. It reads no clock: now is
// the run's start.
func (r *runner) keepHeld(w *worker, now time.Time, dl bus.Delivery, held holding) {
	switch {
	case w.held.IsZero():
		w.held = now
	case now.Sub(w.held) >= r.ackWait()/3:
		held.extend(dl)
		w.held = now
	}
}

// ackWait returns the route's ack wait.
func (r *runner) ackWait() time.Duration {
	if r.route.AckWait > 0 {
		return r.route.AckWait
	}
	return bus.DefaultAckWait
}

// publishEmits publishes the emits of a run that succeeded. A transient
// failure is retried for up to a quarter of the ack wait. A full
// subscription downstream (backpressure) is waited out for as long as it
// lasts, extending dl and the deliveries the worker holds (held) so that
// the wait uses up no attempt: an event is never dead-lettered for
// backpressure alone. The wait ends early only when the route stops or the
// dispatcher stops hard; the backpressure error is then returned (and dl
// is retried, which counts an attempt). The receipts go into w's buffer.
func (r *runner) publishEmits(w *worker, emits []*event.Event, dl bus.Delivery, held holding) error {
	ackWait := r.ackWait()
	now := time.Now()
	giveUp := now.Add(ackWait / 4) // transient failures only
	maxPause := min(time.Second, ackWait/3)
	extended, waited := now, false
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, maxPause) {
		ctx, cancel := context.WithTimeout(r.d.hardCtx, ackWait/4)
		acks, err := r.d.bus.PublishBatch(ctx, emits, w.acks)
		cancel()
		w.acks = acks
		emits = emits[len(acks):]
		switch {
		case err == nil || errors.Is(err, bus.ErrInvalidEvent) || errors.Is(err, bus.ErrClosed):
			if waited && err == nil {
				r.log.Info("downstream has room again; emits published", slog.String("event_id", dl.Event().ID))
			}
			return err
		case errors.Is(err, bus.ErrBackpressure):
			if !waited {
				waited = true
				r.log.Warn("a subscription downstream is full; the event waits, using up no attempt",
					slog.String("event_id", dl.Event().ID), slog.Any("err", err))
			}
			if time.Since(extended) >= maxPause {
				held.extend(dl)
				extended = time.Now()
			}
		case time.Now().After(giveUp):
			return err
		}
		select {
		case <-r.d.hardCtx.Done():
			return err
		case <-r.stopping:
			return err
		case <-time.After(pause):
		}
	}
}

func (r *runner) maxAttempts() int {
	if r.route.MaxAttempts > 0 {
		return r.route.MaxAttempts
	}
	return bus.DefaultMaxAttempts
}

func (r *runner) failed(level slog.Level, msg string, ev *event.Event, attempt int, reason string) {
	r.log.LogAttrs(context.Background(), level, msg,
		slog.String("event_id", ev.ID), slog.String("event_type", ev.Type),
		slog.Int("attempt", attempt), slog.String("reason", reason))
}
