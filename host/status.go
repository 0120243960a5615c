package host

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/statusui"
	"github.com/evhost/evhost/host/telemetry"
	"github.com/evhost/evhost/internal/buildinfo"
)

// Why does the status page read everything through /v1 JSON endpoints,
// rendered in the browser, rather than HTML rendered by the daemon? The
// same answers serve the CLI, scripts and the page; the page's assets hold
// no data, so they can be public while the data stays behind the token;
// and the rendering code stays in one small file with no template of the
// daemon's to keep in step.
//
// Why are the rates, the recent runs and the latest dead letters kept by
// the status endpoint, read forward from a cursor on each request, rather
// than by a goroutine that samples on a ticker? Nothing runs when nobody
// looks; each request reads only what arrived since the one before; and
// the endpoint owns its state, so the host gains no goroutine to start
// and stop. The price: the first request has no rate yet (the rates need
// two samples, a second apart), and runs are followed from statusLookback
// before the first request.

// Bounds of GET /v1/status.
const (
	// StatusRecentRuns is the number of recent runs the status shows.
	StatusRecentRuns = 50
	// StatusLatestDeadLetters is the number of latest dead letters it shows.
	StatusLatestDeadLetters = 5
	// StatusRateWindow is the window over which rates are computed.
	StatusRateWindow = time.Minute

	// statusLookback is how far back the first request reads run records.
	statusLookback = 10 * time.Minute
	// statusPage and statusPages bound what one request reads from the run
	// records and from the dead letters: a daemon with a long backlog is
	// caught up over several requests.
	statusPage  = 1000
	statusPages = 8
	// statusSampleEvery is the minimum spacing of rate samples.
	statusSampleEvery = time.Second
)

// Status is the body of GET /v1/status: what the status page shows.
type Status struct {
	Host          HostStatus           `json:"host"`
	Subscriptions []SubscriptionStatus `json:"subscriptions"`
	Plugins       []PluginStatus       `json:"plugins"`
	Rates         Rates                `json:"rates"`
	// RecentRuns are the last runs recorded (StatusRecentRuns at most),
	// newest first.
	RecentRuns  []RunSummary      `json:"recent_runs"`
	DeadLetters DeadLetterSummary `json:"dead_letters"`
}

// HostStatus describes the daemon.
type HostStatus struct {
	// Version is the version of the evhost module, "(devel)" in a build
	// from a checkout.
	Version string `json:"version"`
	// Started is when the host's HTTP API was made (when the daemon
	// started serving); UptimeSeconds the time since.
	Started       time.Time `json:"started"`
	UptimeSeconds float64   `json:"uptime_seconds"`
	// Broker is the kind of bus: embedded, nats or memory.
	Broker string `json:"broker"`
	// Time is when the status was taken.
	Time time.Time `json:"time"`
}

// Kinds of subscription.
const (
	SubscriptionPlugin  = telemetry.KindPlugin
	SubscriptionWebhook = telemetry.KindWebhook
	SubscriptionNative  = telemetry.KindNative
)

// SubscriptionStatus is one subscription and its counters since the host
// started.
type SubscriptionStatus struct {
	Name     string   `json:"name"`
	Patterns []string `json:"patterns"`
	// Kind is SubscriptionPlugin, SubscriptionWebhook or SubscriptionNative.
	Kind string `json:"kind"`
	// Pending is the bus's estimate of the events the subscription holds
	// unsettled (waiting, in flight or waiting for a retry); -1 when the
	// bus does not tell.
	Pending int64 `json:"pending"`
	// Handled, Failed and DeadLettered count deliveries done, attempts
	// failed (retried or dead-lettered after the last one) and events
	// dead-lettered, as /metrics does.
	Handled      uint64 `json:"handled"`
	Failed       uint64 `json:"failed"`
	DeadLettered uint64 `json:"dead_lettered"`
}

// PluginStatus is a plugin's version and its last errors.
type PluginStatus struct {
	PluginInfo
	// LastFailure is the last run of the plugin that did not end done
	// (among the runs the status endpoint has read), if any.
	LastFailure *RunSummary `json:"last_failure,omitempty"`
}

// Rates are events per second over the last Window seconds (up to
// StatusRateWindow; zero when the status endpoint has no earlier sample
// yet, and then the rates are zero too).
type Rates struct {
	WindowSeconds float64 `json:"window_seconds"`
	// Ingested counts events accepted from producers (HTTP and the Go
	// API), Published the events published (ingested and emitted).
	Ingested  float64 `json:"ingested"`
	Published float64 `json:"published"`
	// Handled, Failed and DeadLettered are summed over subscriptions.
	Handled      float64 `json:"handled"`
	Failed       float64 `json:"failed"`
	DeadLettered float64 `json:"dead_lettered"`
}

// RunSummary is one run record, without its emitted events.
type RunSummary struct {
	Kind         string    `json:"kind"`
	Subscription string    `json:"subscription"`
	Plugin       string    `json:"plugin,omitempty"`
	Version      string    `json:"version,omitempty"`
	EventID      string    `json:"event_id"`
	EventType    string    `json:"event_type,omitempty"`
	Attempt      int       `json:"attempt"`
	Status       string    `json:"status"`
	Reason       string    `json:"reason,omitempty"`
	Start        time.Time `json:"start"`
	DurationNS   int64     `json:"duration_ns"`
	Emits        int       `json:"emits"`
}

// DeadLetterSummary counts dead letters and shows the latest.
type DeadLetterSummary struct {
	// SinceStart counts the events dead-lettered since the host started,
	// over every subscription.
	SinceStart uint64 `json:"since_start"`
	// Latest are the latest dead letters still in the dead-letter queue
	// (StatusLatestDeadLetters at most), newest first.
	Latest []DeadLetterInfo `json:"latest"`
}

// statusTracker serves GET /v1/status and keeps what it needs between
// requests: rate samples and cursors into the run records and the dead
// letters. Requests are serialized by mu.
type statusTracker struct {
	h       *Host
	started time.Time

	mu       sync.Mutex
	samples  []rateSample // oldest first, spaced by statusSampleEvery, within the window
	runAfter uint64       // the Seq of the last run record read
	runsRead bool         // runAfter is set (the first read goes by time)
	recent   []RunSummary // oldest first, StatusRecentRuns at most
	lastFail map[string]RunSummary
	dlAfter  uint64           // the ID of the last dead letter read
	latestDL []bus.DeadLetter // oldest first, StatusLatestDeadLetters at most
}

type rateSample struct {
	t time.Time
	counts
}

// counts are the host's counters summed, at one time.
type counts struct {
	ingested, published, handled, failed, dead float64
}

// handleStatus mounts GET /v1/status behind the token, and the status page
// (public: its assets hold no data) on /status/, with / and /status
// redirecting to it; h.mu is held.
func (h *Host) handleStatus() {
	st := &statusTracker{h: h, started: time.Now(), lastFail: map[string]RunSummary{}}
	h.api.Handle("GET /v1/status", http.HandlerFunc(st.serve))
	h.api.HandlePublic("GET /status/", http.StripPrefix("/status", statusui.Handler()))
	h.api.HandlePublic("GET /status", http.RedirectHandler("/status/", http.StatusFound))
	h.api.HandlePublic("GET /{$}", http.RedirectHandler("/status/", http.StatusFound))
}

// serve is GET /v1/status.
func (st *statusTracker) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := queryParams(w, r); !ok {
		return
	}
	s, err := st.status(r.Context())
	if err != nil {
		st.h.busError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

// status takes the status now.
func (st *statusTracker) status(ctx context.Context) (*Status, error) {
	h := st.h
	now := time.Now()
	if err := h.FlushRuns(ctx); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "status: flushing run records", slog.Any("error", err))
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s := &Status{
		Host: HostStatus{
			Version: buildinfo.Version(), Started: st.started.UTC(), Time: now.UTC(),
			UptimeSeconds: now.Sub(st.started).Seconds(), Broker: h.brokerKind(),
		},
		Subscriptions: h.subscriptionStatus(),
	}
	var total counts
	for i := range s.Subscriptions {
		sub := &s.Subscriptions[i]
		total.handled += float64(sub.Handled)
		total.failed += float64(sub.Failed)
		total.dead += float64(sub.DeadLettered)
	}
	total.ingested, total.published = h.metrics.ingestTotals()
	s.Rates = st.rates(now, total)
	s.DeadLetters.SinceStart = uint64(total.dead)

	if err := st.readRuns(ctx, now); err != nil {
		return nil, err
	}
	s.RecentRuns = make([]RunSummary, 0, len(st.recent))
	for i := len(st.recent) - 1; i >= 0; i-- {
		s.RecentRuns = append(s.RecentRuns, st.recent[i])
	}
	for _, p := range h.Plugins() {
		ps := PluginStatus{PluginInfo: p}
		if f, ok := st.lastFail[p.Name]; ok {
			ps.LastFailure = &f
		}
		s.Plugins = append(s.Plugins, ps)
	}
	if s.Plugins == nil {
		s.Plugins = []PluginStatus{}
	}

	if err := st.readDeadLetters(ctx); err != nil {
		return nil, err
	}
	s.DeadLetters.Latest = make([]DeadLetterInfo, 0, len(st.latestDL))
	for i := len(st.latestDL) - 1; i >= 0; i-- {
		s.DeadLetters.Latest = append(s.DeadLetters.Latest, deadLetterInfo(&st.latestDL[i]))
	}
	return s, nil
}

// rates adds a sample of c taken at now (unless the last is too recent)
// and returns the rates since the oldest sample in the window.
func (st *statusTracker) rates(now time.Time, c counts) Rates {
	cut := 0
	for cut < len(st.samples) && now.Sub(st.samples[cut].t) > StatusRateWindow {
		cut++
	}
	st.samples = st.samples[cut:]
	if n := len(st.samples); n == 0 || now.Sub(st.samples[n-1].t) >= statusSampleEvery {
		st.samples = append(st.samples, rateSample{t: now, counts: c})
	}
	base := st.samples[0]
	dt := now.Sub(base.t).Seconds()
	if dt <= 0 {
		return Rates{}
	}
	per := func(a, b float64) float64 { return max(0, a-b) / dt }
	return Rates{
		WindowSeconds: dt,
		Ingested:      per(c.ingested, base.ingested),
		Published:     per(c.published, base.published),
		Handled:       per(c.handled, base.handled),
		Failed:        per(c.failed, base.failed),
		DeadLettered:  per(c.dead, base.dead),
	}
}

// readRuns reads the run records appended since the last request (since
// statusLookback on the first), keeping the last StatusRecentRuns and the
// last failure of each plugin.
func (st *statusTracker) readRuns(ctx context.Context, now time.Time) error {
	store := st.h.runStore
	for range statusPages {
		f := runlog.Filter{After: st.runAfter, Limit: statusPage}
		if !st.runsRead {
			f.Since = now.Add(-statusLookback)
		}
		recs, err := store.List(ctx, f)
		if err != nil {
			return err
		}
		for i := range recs {
			r := &recs[i]
			st.runAfter = max(st.runAfter, r.Seq)
			st.runsRead = true
			if r.Kind == runlog.KindShadow {
				continue
			}
			sum := runSummary(r)
			st.recent = append(st.recent, sum)
			if r.Status != runlog.StatusDone && r.Plugin != "" && r.Version != "" {
				st.lastFail[r.Plugin] = sum
			}
		}
		if over := len(st.recent) - StatusRecentRuns; over > 0 {
			st.recent = slices.Delete(st.recent, 0, over)
		}
		if len(recs) < statusPage {
			break
		}
	}
	return nil
}

func runSummary(r *runlog.Record) RunSummary {
	return RunSummary{
		Kind: r.Kind, Subscription: r.Subscription, Plugin: r.Plugin, Version: r.Version,
		EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt, Status: r.Status,
		Reason: r.Reason, Start: r.Start.UTC(), DurationNS: int64(r.Duration), Emits: len(r.Emits),
	}
}

// readDeadLetters reads the dead letters added since the last request,
// keeping the latest, and drops those of the latest that are gone
// (redriven).
func (st *statusTracker) readDeadLetters(ctx context.Context) error {
	b := st.h.bus
	kept := st.latestDL[:0]
	for _, dl := range st.latestDL {
		got, err := b.DeadLetters(ctx, bus.DeadLetterFilter{After: dl.ID - 1, Limit: 1})
		if err != nil {
			return err
		}
		if len(got) == 1 && got[0].ID == dl.ID {
			kept = append(kept, dl)
		}
	}
	st.latestDL = kept
	for range statusPages {
		dls, err := b.DeadLetters(ctx, bus.DeadLetterFilter{After: st.dlAfter, Limit: statusPage})
		if err != nil {
			return err
		}
		for i := range dls {
			st.dlAfter = max(st.dlAfter, dls[i].ID)
		}
		st.latestDL = append(st.latestDL, dls[max(0, len(dls)-StatusLatestDeadLetters):]...)
		if over := len(st.latestDL) - StatusLatestDeadLetters; over > 0 {
			st.latestDL = slices.Delete(st.latestDL, 0, over)
		}
		if len(dls) < statusPage {
			break
		}
	}
	return nil
}

// subscriptionStatus returns every subscription the host runs, with its
// counters: plugins, webhooks, native handlers, in config order.
func (h *Host) subscriptionStatus() []SubscriptionStatus {
	h.mu.Lock()
	cfg := h.cfg
	var subs []SubscriptionStatus
	for i := range cfg.Plugins {
		p := &cfg.Plugins[i]
		if _, ok := h.plugins[p.Name]; ok {
			subs = append(subs, SubscriptionStatus{Name: p.Name, Patterns: p.Events, Kind: SubscriptionPlugin})
		}
	}
	for i := range cfg.Webhooks {
		if w := &cfg.Webhooks[i]; w.Enabled {
			subs = append(subs, SubscriptionStatus{Name: w.Name, Patterns: w.Events, Kind: SubscriptionWebhook})
		}
	}
	for _, r := range h.natives {
		subs = append(subs, SubscriptionStatus{Name: r.Name, Patterns: r.Patterns, Kind: SubscriptionNative})
	}
	h.mu.Unlock()

	var pending map[string]int64
	if pc, ok := h.bus.(pendingCounter); ok {
		pending = pc.Pending()
	}
	for i := range subs {
		s := &subs[i]
		s.Pending = -1
		if n, ok := pending[s.Name]; ok {
			s.Pending = n
		} else if pending != nil {
			s.Pending = 0
		}
		rm := h.metrics.route(s.Name)
		s.Handled = uint64(counterValue(rm.handled))
		s.Failed = uint64(counterValue(rm.failed))
		s.DeadLettered = uint64(counterValue(rm.dead))
		if s.Patterns == nil {
			s.Patterns = []string{}
		}
	}
	if subs == nil {
		subs = []SubscriptionStatus{}
	}
	return subs
}

// brokerKind names the host's bus as the config does.
func (h *Host) brokerKind() string {
	if h.nbus != nil {
		return h.cfg.Broker.Kind
	}
	return config.BrokerMemory
}

// ingestTotals returns the events accepted from producers, and the events
// published (ingested and emitted), since the host started. It reads the
// label children that exist, making none: a status request must not add
// zero series to /metrics.
func (m *metrics) ingestTotals() (ingested, published float64) {
	ingested = sumCounters(m.ingested, func(l map[string]string) bool { return l["result"] == "accepted" })
	published = sumCounters(m.published, func(map[string]string) bool { return true })
	return ingested, published
}

// sumCounters sums the children of v whose labels keep selects.
func sumCounters(v *prometheus.CounterVec, keep func(labels map[string]string) bool) float64 {
	// Collect blocks until each metric is taken: it runs beside the loop
	// that takes them, and ends with it.
	ch := make(chan prometheus.Metric, 16)
	go func() {
		v.Collect(ch)
		close(ch)
	}()
	var sum float64
	for c := range ch {
		var m dto.Metric
		if c.Write(&m) != nil {
			continue
		}
		labels := make(map[string]string, len(m.GetLabel()))
		for _, lp := range m.GetLabel() {
			labels[lp.GetName()] = lp.GetValue()
		}
		if keep(labels) {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// counterValue reads a counter.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}
