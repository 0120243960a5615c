package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Timetable gives the ticks of a schedule: Next returns the first tick
// after t. A robfig/cron Schedule is one; Every makes another.
type Timetable interface {
	Next(t time.Time) time.Time
}

// Every returns the timetable of the multiples of d since the Unix epoch:
// every daemon computes the same ticks whenever it started.
func Every(d time.Duration) Timetable { return every(d) }

type every time.Duration

func (e every) Next(t time.Time) time.Time {
	return e.floor(t).Add(time.Duration(e))
}

// floor returns the latest tick at or before t.
func (e every) floor(t time.Time) time.Time {
	n, d := t.UnixNano(), int64(e)
	m := n % d
	if m < 0 {
		m += d
	}
	return time.Unix(0, n-m).UTC()
}

// Spec is one schedule.
type Spec struct {
	// Name identifies the schedule, in the ids of its events and in
	// State.
	Name string
	// Cron, Every and Timezone are the timetable as configured, for the
	// listing; Times computes it.
	Cron     string
	Every    time.Duration
	Timezone string
	Times    Timetable
	// Event is the template of the events: Type, Source, Subject,
	// DataContentType and Data are copied; the id and time are the tick's.
	Event event.Event
	// CatchUp publishes the latest missed tick once when a daemon finds
	// ticks missed; false skips them.
	CatchUp bool
	// Enabled runs the schedule; a disabled one is only listed.
	Enabled bool
}

// key says what makes two specs of the same name different schedules.
func (s *Spec) key() string {
	e := &s.Event
	return fmt.Sprintf("%q %q %v %q %v %v %q %q %q %q %x", s.Name, s.Cron, s.Every, s.Timezone, s.CatchUp, s.Enabled,
		e.Type, e.Source, e.Subject, e.DataContentType, e.Data)
}

// TickID returns the id of the event of the tick at of schedule name.
func TickID(name string, at time.Time) string {
	return name + "@" + at.UTC().Format(time.RFC3339Nano)
}

// ExtSchedule is the extension attribute naming the schedule of an event.
const ExtSchedule = "schedule"

// State keeps the latest tick published of each schedule, for every
// daemon to read at start. Last returns the zero time for a schedule it
// does not know.
type State interface {
	Last(ctx context.Context, name string) (time.Time, error)
	SetLast(ctx context.Context, name string, at time.Time) error
}

// Options are a Runner's.
type Options struct {
	// Publisher publishes the ticks' events.
	Publisher bus.Publisher
	// State keeps the latest ticks; nil keeps them in memory (a restarted
	// daemon then knows of no missed tick).
	State State
	// Grace is how late a tick may be published as on time (default 1s):
	// a daemon that finds its next tick further behind counts it missed.
	Grace  time.Duration
	Logger *slog.Logger
	// Specs are the first schedules (Apply changes them).
	Specs []Spec
}

// Runner runs schedules. Create it with New, give it its schedules with
// Apply (at any time), Start it and Close it.
type Runner struct {
	o Options

	mu      sync.Mutex
	specs   []Spec
	loops   map[string]*loop  // running schedules, by name
	stats   map[string]*stats // counters, by name, kept across reloads
	started bool
	closed  bool
}

// New returns a Runner that publishes through o.Publisher.
func New(o Options) *Runner {
	if o.Grace <= 0 {
		o.Grace = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.State == nil {
		o.State = &Memory{}
	}
	r := &Runner{o: o, loops: map[string]*loop{}, stats: map[string]*stats{}}
	r.Apply(o.Specs)
	return r
}

// Apply makes specs the schedules: new and changed ones start (once the
// Runner has started), removed and changed ones stop, unchanged ones run
// on.
func (r *Runner) Apply(specs []Spec) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.specs = slices.Clone(specs)
	r.sync()
}

// Start starts the enabled schedules.
func (r *Runner) Start() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.started {
		return
	}
	r.started = true
	r.sync()
}

// sync starts and stops loops to match r.specs; r.mu is held.
func (r *Runner) sync() {
	want := map[string]*Spec{}
	for i := range r.specs {
		s := &r.specs[i]
		if r.stats[s.Name] == nil {
			r.stats[s.Name] = &stats{}
		}
		if s.Enabled && r.started {
			want[s.Name] = s
		}
	}
	for name, l := range r.loops {
		if s := want[name]; s == nil || s.key() != l.spec.key() {
			l.stop()
			delete(r.loops, name)
		}
	}
	for name, s := range want {
		if r.loops[name] == nil {
			r.loops[name] = r.start(*s, r.stats[name])
		}
	}
	for name := range r.stats {
		if !slices.ContainsFunc(r.specs, func(s Spec) bool { return s.Name == name }) {
			delete(r.stats, name)
		}
	}
}

// Close stops every schedule and waits for their goroutines (a publish in
// progress ends with ctx). A nil Runner closes nothing.
func (r *Runner) Close() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	loops := r.loops
	r.loops = nil
	r.mu.Unlock()
	for _, l := range loops {
		l.stop()
	}
}

// loop is one running schedule.
type loop struct {
	spec   Spec
	cancel context.CancelFunc
	done   chan struct{}
}

func (l *loop) stop() {
	l.cancel()
	<-l.done
}

func (r *Runner) start(s Spec, st *stats) *loop {
	ctx, cancel := context.WithCancel(context.Background())
	l := &loop{spec: s, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		r.run(ctx, &l.spec, st)
	}()
	return l
}

// run publishes the ticks of s until ctx ends.
func (r *Runner) run(ctx context.Context, s *Spec, st *stats) {
	log := r.o.Logger.With(slog.String("schedule", s.Name))
	cursor, err := r.o.State.Last(ctx, s.Name)
	if err != nil {
		st.failed(fmt.Errorf("read the latest tick: %w", err))
		log.Warn("schedule: reading the latest tick failed; missed ticks, if any, are skipped", slog.Any("error", err))
	}
	if now := time.Now(); cursor.IsZero() || cursor.After(now) {
		cursor = now // first start: no tick was missed
	} else {
		st.setLast(cursor)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		next := s.Times.Next(cursor)
		if next.IsZero() {
			st.setNext(time.Time{})
			<-ctx.Done() // a timetable without ticks (February 30th)
			return
		}
		if now.Sub(next) > r.o.Grace {
			latest := latestTick(s.Times, next, now)
			if s.CatchUp {
				log.Info("schedule: ticks were missed; publishing the latest once", slog.Time("from", next), slog.Time("tick", latest))
				r.fire(ctx, s, st, latest)
			} else {
				log.Info("schedule: ticks were missed; skipping them", slog.Time("from", next), slog.Time("to", latest))
			}
			cursor = latest
			continue
		}
		st.setNext(next)
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r.fire(ctx, s, st, next)
		cursor = next
	}
}

// latestTick returns the latest tick of t at or before now, from first (a
// tick at or before now). After a long downtime it looks back 400 days at
// most: far enough for a yearly tick.
func latestTick(t Timetable, first, now time.Time) time.Time {
	if e, ok := t.(every); ok {
		return e.floor(now)
	}
	if from := now.AddDate(0, 0, -400); first.Before(from) {
		if n := t.Next(from); !n.After(now) {
			first = n
		}
	}
	for {
		n := t.Next(first)
		if n.IsZero() || n.After(now) {
			return first
		}
		first = n
	}
}

// retryFor is how long a tick's publish is tried again: well within the
// broker's dedup window (2 minutes by default), so that a retry never
// doubles it.
const retryFor = time.Minute

// fire publishes the event of the tick at, trying again while the broker
// is unavailable or a subscription full, and records the tick.
func (r *Runner) fire(ctx context.Context, s *Spec, st *stats, at time.Time) {
	ev := s.Event.Clone()
	ev.ID = TickID(s.Name, at)
	if ev.Source == "" {
		ev.Source = "evhost://schedule/" + s.Name
	}
	ev.SpecVersion = event.SpecVersion
	ev.Time = at.UTC()
	ev.SetExt(ExtSchedule, s.Name)
	pause := 250 * time.Millisecond
	for {
		ack, err := r.o.Publisher.Publish(ctx, ev)
		if err == nil {
			st.published(at, ack.Duplicate)
			if err := r.o.State.SetLast(ctx, s.Name, at); err != nil && ctx.Err() == nil {
				st.failed(fmt.Errorf("keep the latest tick: %w", err))
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		st.failed(fmt.Errorf("tick %s: %w", at.UTC().Format(time.RFC3339), err))
		if errors.Is(err, bus.ErrInvalidEvent) || time.Since(at) > retryFor {
			r.o.Logger.Error("schedule: a tick was not published", slog.String("schedule", s.Name), slog.Time("tick", at), slog.Any("error", err))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 5*time.Second)
	}
}

// List returns the schedules and their counters, in config order.
func (r *Runner) List() []api.ScheduleInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.ScheduleInfo, 0, len(r.specs))
	for i := range r.specs {
		s := &r.specs[i]
		info := api.ScheduleInfo{Name: s.Name, Cron: s.Cron, Timezone: s.Timezone, Type: s.Event.Type, CatchUp: "none", Enabled: s.Enabled}
		if s.Every > 0 {
			info.Every = s.Every.String()
		}
		if s.CatchUp {
			info.CatchUp = "one"
		}
		if st := r.stats[s.Name]; st != nil {
			st.fill(&info, s.Enabled && r.started)
		}
		if info.Next == nil && s.Enabled && s.Times != nil {
			n := s.Times.Next(time.Now()).UTC()
			info.Next = &n
		}
		out = append(out, info)
	}
	return out
}

// stats are one schedule's counters.
type stats struct {
	mu                           sync.Mutex
	next, last, errTime          time.Time
	produced, duplicates, errors uint64
	lastErr                      string
}

func (st *stats) setNext(t time.Time) {
	st.mu.Lock()
	st.next = t
	st.mu.Unlock()
}

func (st *stats) setLast(t time.Time) {
	st.mu.Lock()
	st.last = t
	st.mu.Unlock()
}

func (st *stats) published(at time.Time, dup bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if dup {
		st.duplicates++
	} else {
		st.produced++
	}
	if at.After(st.last) {
		st.last = at
	}
}

func (st *stats) failed(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.errors++
	st.lastErr, st.errTime = err.Error(), time.Now()
}

func (st *stats) fill(info *api.ScheduleInfo, running bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	info.Produced, info.Duplicates, info.Errors, info.LastError = st.produced, st.duplicates, st.errors, st.lastErr
	utc := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	if running {
		info.Next = utc(st.next)
	}
	info.Last, info.LastErrorTime = utc(st.last), utc(st.errTime)
}

// Memory is a State in memory.
type Memory struct {
	mu   sync.Mutex
	last map[string]time.Time
}

// Last implements State.
func (m *Memory) Last(_ context.Context, name string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[name], nil
}

// SetLast implements State.
func (m *Memory) SetLast(_ context.Context, name string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = map[string]time.Time{}
	}
	if at.After(m.last[name]) {
		m.last[name] = at
	}
	return nil
}
