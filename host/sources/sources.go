package sources

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/sources/verify"
)

// HookSpec is one [[sources.webhooks]] entry.
type HookSpec struct {
	Name    string
	Path    string // under /v1/hooks/
	Enabled bool
	// Verifier checks the requests (Set calls its Check).
	Verifier verify.Verifier
	// Type is fixed, or taken from TypeHeader or the JSON body's
	// TypeField, after TypePrefix.
	Type, TypeHeader, TypeField, TypePrefix string
	// IDHeader or IDField give the event's id; neither: a random one.
	IDHeader, IDField string
	Source            string
	// ExtensionHeaders are copied as extensions (event.ExtensionNameOf).
	ExtensionHeaders []string
	// MaxBody caps the body; zero or less means 1 MiB.
	MaxBody int64
}

// NATSSpec is one [[sources.nats]] entry.
type NATSSpec struct {
	Name    string
	Enabled bool
	Subject string
	// Server is the server to read from; nil means the daemon's broker
	// (Options.Broker).
	Server *natsbus.Endpoint
	// Stream, when set, is read with a durable consumer
	// "evhost-source-NAME" (at least once); else core NATS (at most once).
	Stream string
	// DeliverAll starts a new consumer at the stream's first message
	// rather than its next one.
	DeliverAll bool
	AckWait    time.Duration
	// Type is fixed, or the subject when TypeFromSubject, after TypePrefix.
	Type            string
	TypeFromSubject bool
	TypePrefix      string
	Source          string
	ContentType     string
	// MaxMessage caps a message's payload and headers.
	MaxMessage int64
}

// Options configure a Set.
type Options struct {
	// Publisher publishes the events of the sources of kind (SourceWebhook
	// or SourceNATS): the daemon's bus behind its counting and tracing.
	// Required.
	Publisher func(kind string) bus.Publisher
	// Broker is how NATS sources without a server of their own reach the
	// daemon's broker; nil when it has none (the memory bus).
	Broker *natsbus.Endpoint
	// Ready, if set, says whether the daemon takes events now (webhook
	// requests get a 503 while it does not).
	Ready func() error
	// Registerer, if set, gets the sources' metrics.
	Registerer prometheus.Registerer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Refusal reasons, the label of evhost_source_refused_total and the keys
// of SourceStatus.Refused.
const (
	ReasonSignature = "signature" // missing or wrong signature (401)
	ReasonTimestamp = "timestamp" // signed time outside the tolerance (401)
	ReasonTooLarge  = "too_large" // body or message over its cap
	ReasonInvalid   = "invalid"   // no event can be made of it
	ReasonNotReady  = "not_ready" // the daemon is starting or draining (503)
	ReasonBus       = "bus"       // the bus refused the event (full, unavailable)
	ReasonDropped   = "dropped"   // core NATS messages the server dropped for a slow consumer
)

var reasons = []string{ReasonSignature, ReasonTimestamp, ReasonTooLarge, ReasonInvalid, ReasonNotReady, ReasonBus, ReasonDropped}

// stats are one source's counters, kept by name across reloads.
type stats struct {
	kind                 string
	produced, duplicates atomic.Uint64
	refused              [7]atomic.Uint64 // by index in reasons
	running              atomic.Bool
	lastLog              atomic.Int64 // unix nanoseconds of the last per-message warning

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	lastEvent time.Time
}

// warnable reports whether a per-message warning may be logged now: at
// most one a second per source, so that a publisher of bad messages cannot
// flood the log (the counters and the last error say the rest).
func (s *stats) warnable() bool {
	now, last := time.Now().UnixNano(), s.lastLog.Load()
	return now-last >= int64(time.Second) && s.lastLog.CompareAndSwap(last, now)
}

func (s *stats) refuse(reason string, err error) {
	s.refused[slices.Index(reasons, reason)].Add(1)
	s.fail(err)
}

func (s *stats) fail(err error) {
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now().UTC()
	s.mu.Unlock()
}

func (s *stats) produce(dup bool) {
	if dup {
		s.duplicates.Add(1)
	} else {
		s.produced.Add(1)
	}
	s.mu.Lock()
	s.lastEvent = time.Now().UTC()
	s.mu.Unlock()
}

// Set runs the sources of the config: it serves the webhook sources'
// paths and runs a reader per NATS source, across reloads (Apply). It is
// safe for concurrent use.
type Set struct {
	opts Options
	log  *slog.Logger

	hooks atomic.Pointer[map[string]*hook] // by path, enabled ones

	mu      sync.Mutex
	hookSp  []HookSpec
	natsSp  []NATSSpec
	stats   map[string]*stats
	readers map[string]*reader // running NATS readers, by name
	started bool
	closed  bool
}

// New returns an empty Set; Apply gives it its sources, Start starts the
// NATS readers.
func New(opts Options) *Set {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Set{opts: opts, log: opts.Logger.With(slog.String("component", "sources")),
		stats: map[string]*stats{}, readers: map[string]*reader{}}
	s.hooks.Store(&map[string]*hook{})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(collector{s})
	}
	return s
}

// Apply makes hooks and nats the sources: webhook paths are served by the
// new specs at once; a NATS source whose spec changed is restarted, a
// removed one stopped. Counters are kept by name.
func (s *Set) Apply(hooks []HookSpec, nats []NATSSpec) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	byPath := map[string]*hook{}
	keep := map[string]bool{}
	for i := range hooks {
		sp := hooks[i]
		st := s.statsOf(sp.Name, api.SourceWebhook)
		keep[sp.Name] = true
		st.running.Store(sp.Enabled)
		if !sp.Enabled {
			continue
		}
		if err := sp.Verifier.Check(); err != nil {
			st.fail(err)
			s.log.Error("webhook source not usable", slog.String("source", sp.Name), slog.Any("error", err))
			continue
		}
		byPath[sp.Path] = &hook{spec: sp, st: st, set: s}
	}
	s.hooks.Store(&byPath)
	for i := range nats {
		keep[nats[i].Name] = true
		s.statsOf(nats[i].Name, api.SourceNATS)
	}
	s.hookSp, s.natsSp = hooks, nats
	for name := range s.stats {
		if !keep[name] {
			delete(s.stats, name)
		}
	}
	if s.started {
		s.applyReaders()
	}
}

func (s *Set) statsOf(name, kind string) *stats {
	st := s.stats[name]
	if st == nil || st.kind != kind {
		st = &stats{kind: kind}
		s.stats[name] = st
	}
	return st
}

// Start starts the NATS readers (the daemon calls it once its
// subscriptions exist, so that the first events have somewhere to go).
func (s *Set) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.started {
		return
	}
	s.started = true
	s.applyReaders()
}

// applyReaders starts, restarts and stops readers to match s.natsSp.
func (s *Set) applyReaders() {
	want := map[string]*NATSSpec{}
	for i := range s.natsSp {
		if sp := &s.natsSp[i]; sp.Enabled {
			want[sp.Name] = sp
		}
	}
	for name, r := range s.readers {
		if sp := want[name]; sp == nil || !sameNATS(&r.spec, sp) {
			r.stop()
			delete(s.readers, name)
		}
	}
	for name, sp := range want {
		if s.readers[name] == nil {
			s.readers[name] = s.startReader(*sp, s.stats[name])
		}
	}
	for name, st := range s.stats {
		if st.kind == api.SourceNATS && want[name] == nil {
			st.running.Store(false)
		}
	}
}

// sameNATS reports whether a and b read the same way.
func sameNATS(a, b *NATSSpec) bool {
	sa, sb := a.Server, b.Server
	sameServer := sa == sb || (sa != nil && sb != nil && slices.Equal(sa.URLs, sb.URLs) && sa.CredsFile == sb.CredsFile &&
		sa.User == sb.User && sa.Password == sb.Password && sa.Token == sb.Token && sa.TLS == sb.TLS)
	x, y := *a, *b
	x.Server, y.Server = nil, nil
	return sameServer && x == y
}

// Close stops the NATS readers (each finishes the message it is
// publishing) and makes every webhook path answer 404. ctx bounds the wait.
func (s *Set) Close(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.hooks.Store(&map[string]*hook{})
	readers := slices.Collect(maps.Values(s.readers))
	s.readers = nil
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		for _, r := range readers {
			r.stop()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return errors.Join(errors.New("sources: NATS readers still stopping"), ctx.Err())
	}
}

// Status returns every source with its counters, webhooks first, in config
// order.
func (s *Set) Status() []api.SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []api.SourceStatus{}
	for _, sp := range s.hookSp {
		out = append(out, s.stats[sp.Name].status(sp.Name, "/v1/hooks/"+sp.Path, sp.Enabled))
	}
	for _, sp := range s.natsSp {
		where := sp.Subject
		if sp.Stream != "" {
			where = sp.Stream + ": " + sp.Subject
		}
		out = append(out, s.stats[sp.Name].status(sp.Name, where, sp.Enabled))
	}
	return out
}

func (st *stats) status(name, where string, enabled bool) api.SourceStatus {
	o := api.SourceStatus{Name: name, Kind: st.kind, Where: where, Enabled: enabled, Running: st.running.Load(),
		Produced: st.produced.Load(), Duplicates: st.duplicates.Load(), Refused: map[string]uint64{}}
	for i, r := range reasons {
		if n := st.refused[i].Load(); n > 0 {
			o.Refused[r] = n
		}
	}
	st.mu.Lock()
	o.LastError, o.LastErrorTime, o.LastEventTime = st.lastErr, st.lastErrAt, st.lastEvent
	st.mu.Unlock()
	return o
}

var (
	descEvents = prometheus.NewDesc("evhost_source_events_total",
		"Events a source (a [[sources.webhooks]] or [[sources.nats]] entry) published, by result: produced, or duplicate (the broker had it: a redelivery).",
		[]string{"source", "kind", "result"}, nil)
	descRefused = prometheus.NewDesc("evhost_source_refused_total",
		"Requests or messages a source refused, by reason: signature, timestamp, too_large, invalid, not_ready, bus, dropped.",
		[]string{"source", "kind", "reason"}, nil)
	descLastError = prometheus.NewDesc("evhost_source_last_error_timestamp_seconds",
		"Unix time of a source's last error (0: none since the daemon started).", []string{"source", "kind"}, nil)
	descRunning = prometheus.NewDesc("evhost_source_running",
		"1 while a source runs: a webhook source enabled, a NATS source connected and subscribed.", []string{"source", "kind"}, nil)
)

// collector reads the sources' counters at scrape time; its labels are
// config names and fixed sets.
type collector struct{ s *Set }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEvents, descRefused, descLastError, descRunning} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.s.mu.Lock()
	all := maps.Clone(c.s.stats)
	c.s.mu.Unlock()
	for name, st := range all {
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.produced.Load()), name, st.kind, "produced")
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.CounterValue, float64(st.duplicates.Load()), name, st.kind, "duplicate")
		for i, r := range reasons {
			ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(st.refused[i].Load()), name, st.kind, r)
		}
		st.mu.Lock()
		at := 0.0
		if !st.lastErrAt.IsZero() {
			at = float64(st.lastErrAt.UnixNano()) / 1e9
		}
		st.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descLastError, prometheus.GaugeValue, at, name, st.kind)
		run := 0.0
		if st.running.Load() {
			run = 1
		}
		ch <- prometheus.MustNewConstMetric(descRunning, prometheus.GaugeValue, run, name, st.kind)
	}
}
