package history

import (
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/httpapi"
)

// Defaults of Options.
const (
	DefaultInterval = 10 * time.Second
	DefaultWindow   = time.Hour
)

// MaxSubscriptions bounds the subscriptions a point keeps (in the order
// Options.Subscriptions lists them): with Window/Interval points, the
// history's memory is bounded whatever the config holds.
const MaxSubscriptions = 256

// liveMin is the shortest partial interval Snapshot shows as a last point.
const liveMin = time.Second

// Source is what the history reads its counts from (the metrics).
type Source interface {
	// Totals returns the events accepted from producers, and published.
	Totals() (ingested, published uint64)
	// Counts returns the deliveries handled, the attempts failed and the
	// events dead-lettered of the subscription name.
	Counts(name string) (handled, failed, deadLettered uint64)
	// Latency returns the buckets of the subscription name's latency
	// histogram: upper bounds in seconds, cumulative counts, total count.
	Latency(name string) (bounds []float64, cumulative []uint64, count uint64)
}

// Options are what a History reads.
type Options struct {
	Source Source
	// Subscriptions returns the subscriptions the daemon runs (only the
	// names are read).
	Subscriptions func() []api.SubscriptionStatus
	// Pending, if set, returns the bus's estimate of each subscription's
	// unsettled events; nil when the bus does not tell.
	Pending func() map[string]int64
	// Interval and Window: one point every Interval, for Window. Zero
	// means DefaultInterval, DefaultWindow.
	Interval, Window time.Duration
}

// History is the ring of points. It is safe for concurrent use.
type History struct {
	o    Options
	size int // points kept
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex
	points []point  // oldest first, size at most
	prev   reading  // the counters at the end of the last point
	order  []string // every subscription seen, in order, MaxSubscriptions at most
}

// reading is the counters at one time.
type reading struct {
	t        time.Time
	ingested uint64
	subs     map[string]subReading
	listed   map[string]bool // the subscriptions running at t
}

type subReading struct {
	handled, failed uint64
	bounds          []float64
	cum             []uint64
	count           uint64
}

// point is one interval of the history.
type point struct {
	t                         time.Time
	ingested, handled, failed float64 // per second
	subs                      map[string]subPoint
}

type subPoint struct {
	pending    int64
	hasPending bool
	p50, p99   float64 // NaN: no run in the interval
}

// New returns a history whose first interval begins now; nothing samples
// it but Sample. Start also runs the ticker.
func New(o Options) *History {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	h := &History{o: o, size: max(1, int(o.Window/o.Interval))}
	h.prev = h.read(time.Now())
	return h
}

// Start returns a history that samples itself every Options.Interval until
// Stop.
func Start(o Options) *History {
	h := New(o)
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.run()
	return h
}

func (h *History) run() {
	defer close(h.done)
	t := time.NewTicker(h.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.Sample(now)
		}
	}
}

// Stop stops the ticker of Start. It is safe on a nil History, and more
// than once.
func (h *History) Stop() {
	if h == nil || h.stop == nil {
		return
	}
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// read takes the counters now, for the subscriptions listed now and those
// seen before (kept, so that one that comes back does not count its past
// as one interval's).
func (h *History) read(now time.Time) reading {
	r := reading{t: now, subs: map[string]subReading{}, listed: map[string]bool{}}
	r.ingested, _ = h.o.Source.Totals()
	if h.o.Subscriptions != nil {
		for _, s := range h.o.Subscriptions() {
			h.see(s.Name)
			r.listed[s.Name] = true
		}
	}
	for _, name := range h.order {
		var s subReading
		s.handled, s.failed, _ = h.o.Source.Counts(name)
		s.bounds, s.cum, s.count = h.o.Source.Latency(name)
		r.subs[name] = s
	}
	return r
}

// see adds name to the subscriptions seen, up to MaxSubscriptions.
func (h *History) see(name string) {
	for _, n := range h.order {
		if n == name {
			return
		}
	}
	if len(h.order) < MaxSubscriptions {
		h.order = append(h.order, name)
	}
}

// Sample ends the current interval at now and adds its point, dropping
// the oldest past Window.
func (h *History) Sample(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cur := h.read(now)
	h.points = append(h.points, h.point(h.prev, cur))
	if over := len(h.points) - h.size; over > 0 {
		h.points = append(h.points[:0], h.points[over:]...)
	}
	h.prev = cur
}

// point is the interval from a to b.
func (h *History) point(a, b reading) point {
	dt := b.t.Sub(a.t).Seconds()
	per := func(x, y uint64) float64 {
		if dt <= 0 || y < x {
			return 0
		}
		return float64(y-x) / dt
	}
	p := point{t: b.t, ingested: per(a.ingested, b.ingested), subs: make(map[string]subPoint, len(b.subs))}
	var pending map[string]int64
	if h.o.Pending != nil {
		pending = h.o.Pending()
	}
	for name, s := range b.subs {
		was := a.subs[name]
		p.handled += per(was.handled, s.handled)
		p.failed += per(was.failed, s.failed)
		sp := subPoint{p50: math.NaN(), p99: math.NaN()}
		if n, ok := pending[name]; ok {
			sp.pending, sp.hasPending = n, true
		} else if pending != nil && b.listed[name] {
			sp.hasPending = true // the bus tells, and holds none
		}
		if d, cum, ok := delta(was, s); ok {
			sp.p50, sp.p99 = quantile(0.5, s.bounds, cum, d), quantile(0.99, s.bounds, cum, d)
		}
		p.subs[name] = sp
	}
	return p
}

// delta returns the observations of the latency histogram between a and
// b: their count and cumulative bucket counts; ok is false when there are
// none.
func delta(a, b subReading) (count uint64, cum []uint64, ok bool) {
	if b.count <= a.count || len(b.bounds) == 0 || len(b.cum) != len(b.bounds) {
		return 0, nil, false
	}
	cum = make([]uint64, len(b.cum))
	for i, c := range b.cum {
		if len(a.cum) == len(b.cum) && a.cum[i] <= c {
			c -= a.cum[i]
		}
		cum[i] = c
	}
	return b.count - a.count, cum, true
}

// quantile estimates the q-quantile of count observations in buckets of
// upper bounds and cumulative counts cum, interpolating linearly within
// the bucket that holds it, as Prometheus's histogram_quantile does; one
// past the last bound is the last bound.
func quantile(q float64, bounds []float64, cum []uint64, count uint64) float64 {
	rank := q * float64(count)
	lower, below := 0.0, uint64(0)
	for i, ub := range bounds {
		if float64(cum[i]) >= rank {
			in := cum[i] - below
			if in == 0 {
				return ub
			}
			return lower + (ub-lower)*(rank-float64(below))/float64(in)
		}
		lower, below = ub, cum[i]
	}
	return bounds[len(bounds)-1]
}

// Snapshot returns the history, with a last point for the time since the
// last sample (when it is at least a second).
func (h *History) Snapshot(now time.Time) api.StatusHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	pts := h.points
	if now.Sub(h.prev.t) >= liveMin {
		pts = append(pts[:len(pts):len(pts)], h.point(h.prev, h.read(now)))
	}
	out := api.StatusHistory{
		IntervalSeconds: h.o.Interval.Seconds(),
		Times:           make([]time.Time, len(pts)),
		Ingested:        make([]float64, len(pts)),
		Handled:         make([]float64, len(pts)),
		Failed:          make([]float64, len(pts)),
		Subscriptions:   []api.SubscriptionHistory{},
	}
	for i, p := range pts {
		out.Times[i], out.Ingested[i], out.Handled[i], out.Failed[i] = p.t.UTC(), p.ingested, p.handled, p.failed
	}
	for _, name := range h.order {
		sh := api.SubscriptionHistory{Name: name, Pending: make([]*int64, len(pts)),
			P50: make([]*float64, len(pts)), P99: make([]*float64, len(pts))}
		seen := false
		for i, p := range pts {
			sp, ok := p.subs[name]
			if !ok {
				continue
			}
			seen = true
			if sp.hasPending {
				sh.Pending[i] = &sp.pending
			}
			if !math.IsNaN(sp.p50) {
				sh.P50[i], sh.P99[i] = &sp.p50, &sp.p99
			}
		}
		if seen {
			out.Subscriptions = append(out.Subscriptions, sh)
		}
	}
	return out
}

// Routes implements httpapi.Routes: GET /v1/status/history, behind the
// token as GET /v1/status is.
func (h *History) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /v1/status/history", Handler: http.HandlerFunc(h.serve)}}
}

func (h *History) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.QueryParams(w, r); !ok {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, h.Snapshot(time.Now()))
}
