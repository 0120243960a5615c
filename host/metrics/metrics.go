package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

// Why a registry per Metrics, not prometheus.DefaultRegisterer? Several hosts
// live in one process (tests, an embedding program); with the global
// registry the second would fail to register the same names.
//
// Why is the event type a label of one family only, and capped? The types
// of ingested events come from the wire and are unbounded: one label value
// per type would let a client grow the daemon's memory and every scrape
// without limit. So evhost_events_by_type_total alone has a type label,
// for the first MaxTypeLabels types seen (the rest count as "_other"), and
// no other label but a fixed stage. The other labels are the subscription
// (a config name), the plugin (a config name), the webhook endpoint (a
// config name), the ingest source and result (fixed sets), and the HTTP
// status of a webhook answer (at most the codes 100-599).

// MaxTypeLabels is the number of distinct event types that get a type
// label of their own in evhost_events_by_type_total; later types are
// counted under OtherType.
const MaxTypeLabels = 256

// OtherType is the type label of the events of types past MaxTypeLabels.
const OtherType = "_other"

// Options are what the metrics read at scrape time. Either may be nil.
type Options struct {
	// Plugins returns the pool counters of each plugin's serving version.
	Plugins func() map[string]api.PluginStats
	// Wasm, if set, returns the wasm runtime's counters.
	Wasm func() api.WasmStats
	// Pending returns the bus's estimate of the events each subscription
	// holds unsettled; nil when the bus does not tell.
	Pending func() map[string]int64
	// Paused says which subscriptions are paused.
	Paused func() map[string]bool
	// Backlog, if set, reports each subscription's oldest unsettled event
	// and the journal's retention (asked of the broker at scrape time,
	// within backlogWait; the NATS bus reuses a report for 2s).
	Backlog func(context.Context) (*bus.Backlog, error)
}

// Metrics are a daemon's Prometheus metrics. They are safe for concurrent
// use.
type Metrics struct {
	reg  *prometheus.Registry
	opts Options

	// nIngested and nPublished mirror the accepted ingested and the
	// published counts, summed over labels, for Totals.
	nIngested, nPublished atomic.Uint64

	ingested  *prometheus.CounterVec // source, result
	published *prometheus.CounterVec // origin
	handled   *prometheus.CounterVec // subscription
	failed    *prometheus.CounterVec // subscription
	rejected  *prometheus.CounterVec // subscription
	dead      *prometheus.CounterVec // subscription
	reloads   *prometheus.CounterVec // kind, result
	filtered  *prometheus.CounterVec // subscription, result
	webhooks  *prometheus.CounterVec // endpoint, status

	emitted prometheus.Counter
	byType  *prometheus.CounterVec // type, stage
	denied  *prometheus.CounterVec // token, reason

	// types maps an event type to its label children, as routes does.
	typesMu sync.Mutex
	types   atomic.Pointer[map[string]*typeMetrics]

	// routes maps a subscription to its label children, resolved once:
	// the observer reads it without a lock or an allocation. It is
	// replaced, never changed in place (routesMu serializes writers).
	routesMu sync.Mutex
	routes   atomic.Pointer[map[string]*routeMetrics]
}

// routeMetrics are the label children of one subscription.
type routeMetrics struct {
	handled, failed, rejected, dead prometheus.Counter
	latency                         latency
	maxAttempts                     atomic.Int64
	// Mirrors of handled, failed and dead, for Counts.
	nHandled, nFailed, nDead atomic.Uint64
}

// typeMetrics are the label children of one event type.
type typeMetrics struct {
	name                                       string // the type label
	ingested, published, handled, failed, dead prometheus.Counter
}

// New makes the metrics and registers them, with the Go and process
// collectors and the collectors of plugin pools and bus lag, in a new
// registry.
func New(opts Options) *Metrics {
	sub := []string{"subscription"}
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		opts: opts,
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_events_ingested_total",
			Help: "Events offered to the host through HTTP or the Go API, by source (http, go; webhook and nats: the [sources]) and result (accepted, duplicate, or the reason of a refusal: invalid, backpressure, unavailable, closed, error; and for HTTP requests refused before their events were read, one per request: malformed, unauthorized, forbidden, too_large, not_ready).",
		}, []string{"source", "result"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_events_published_total",
			Help: "Events published to the bus, by origin: ingest (accepted, not duplicates) or emit (emitted by a handler that succeeded).",
		}, []string{"origin"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_handled_total",
			Help: "Deliveries handled successfully, per subscription.",
		}, sub),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_failed_total",
			Help: "Attempts that failed with a retry outcome (redelivered, or dead-lettered after the last attempt), per subscription.",
		}, sub),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_rejected_total",
			Help: "Deliveries rejected (dead-lettered at once), per subscription.",
		}, sub),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_dead_lettered_total",
			Help: "Events dead-lettered (rejected, or failed on their last attempt), per subscription.",
		}, sub),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_filtered_total",
			Help: "Events a subscription's filter acknowledged without a call, per subscription and result (rejected: the filter was false; error: it could not be evaluated for the event).",
		}, []string{"subscription", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_reloads_total",
			Help: "Reloads, by kind (plugin, config, release in deploy mode) and result (done, refused).",
		}, []string{"kind", "result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_webhook_attempts_total",
			Help: "Webhook delivery attempts, per endpoint and HTTP status of the answer (\"none\" when there was no answer).",
		}, []string{"endpoint", "status"}),
		byType: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "evhost_events_by_type_total",
			Help: "Events by type and stage: ingested (accepted through HTTP or the Go API), published (emitted by a handler that succeeded), handled (a delivery done), failed (an attempt to retry), dead_lettered. Types past the first 256 seen are counted as type \"_other\".",
		}, []string{"type", "stage"}),
	}
	m.denied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "evhost_http_denied_total",
		Help: "HTTP requests refused with 401 or 403, by the name of the token presented (a [[host.tokens]] name, \"token\" for [host] token, \"\" for none or an unknown one) and reason: unauthorized, scope, event_type, host, cross_origin.",
	}, []string{"token", "reason"})
	m.emitted = m.published.WithLabelValues("emit")
	m.routes.Store(&map[string]*routeMetrics{})
	m.types.Store(&map[string]*typeMetrics{})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ingested, m.published, m.handled, m.failed, m.rejected, m.dead, m.reloads, m.webhooks, m.byType, m.filtered, m.denied,
		pluginCollector{m}, latencyCollector{m},
	)
	return m
}

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Routes implements httpapi.Routes: GET /metrics, without the token (its
// series hold no event data).
func (m *Metrics) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /metrics", Handler: m.Handler(), Public: true}}
}

// Registry is the registry the metrics are in, for a program that adds
// its own collectors or gathers them itself.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// route returns the label children of the subscription name, making them
// on first use.
func (m *Metrics) route(name string) *routeMetrics {
	if rm := (*m.routes.Load())[name]; rm != nil {
		return rm
	}
	m.routesMu.Lock()
	defer m.routesMu.Unlock()
	cur := *m.routes.Load()
	if rm := cur[name]; rm != nil {
		return rm
	}
	rm := &routeMetrics{
		handled:  m.handled.WithLabelValues(name),
		failed:   m.failed.WithLabelValues(name),
		rejected: m.rejected.WithLabelValues(name),
		dead:     m.dead.WithLabelValues(name),
	}
	rm.latency.created = time.Now()
	rm.maxAttempts.Store(int64(bus.DefaultMaxAttempts))
	next := make(map[string]*routeMetrics, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	next[name] = rm
	m.routes.Store(&next)
	return rm
}

// typ returns the label children of the event type t (of OtherType past
// MaxTypeLabels types), making them on first use.
func (m *Metrics) typ(t string) *typeMetrics {
	cur := *m.types.Load()
	if tm := cur[t]; tm != nil {
		return tm
	}
	if len(cur) > MaxTypeLabels { // full: the types and OtherType
		return cur[OtherType]
	}
	m.typesMu.Lock()
	defer m.typesMu.Unlock()
	cur = *m.types.Load()
	if tm := cur[t]; tm != nil {
		return tm
	}
	next := make(map[string]*typeMetrics, len(cur)+2)
	for k, v := range cur {
		next[k] = v
	}
	mk := func(label string) *typeMetrics {
		return &typeMetrics{
			name:      label,
			ingested:  m.byType.WithLabelValues(label, "ingested"),
			published: m.byType.WithLabelValues(label, "published"),
			handled:   m.byType.WithLabelValues(label, "handled"),
			failed:    m.byType.WithLabelValues(label, "failed"),
			dead:      m.byType.WithLabelValues(label, "dead_lettered"),
		}
	}
	if next[OtherType] == nil {
		next[OtherType] = mk(OtherType)
	}
	tm := next[OtherType]
	if len(next) <= MaxTypeLabels && t != OtherType {
		tm = mk(t)
		next[t] = tm
	}
	m.types.Store(&next)
	return tm
}

// Applied resolves the label children of the routes about to be applied,
// and keeps their max attempts (to tell a last failed attempt).
func (m *Metrics) Applied(routes []dispatch.Route) {
	for i := range routes {
		r := &routes[i]
		n := int64(r.MaxAttempts)
		if n <= 0 {
			n = int64(bus.DefaultMaxAttempts)
		}
		m.route(r.Name).maxAttempts.Store(n)
	}
}

// Handled counts one handled delivery; it allocates nothing once the
// route's children exist.
func (m *Metrics) Handled(route string, ev *event.Event, attempt int, out dispatch.Outcome, took time.Duration) {
	m.handledBy(m.route(route), m.typ(ev.Type), attempt, out, took)
}

// Route returns the counters of the subscription name, resolved once, for
// an observer that keeps them per route (dispatch.RouteObserver): its
// Handled looks up neither the route nor, when it is the same as the last
// delivery's, the event type.
func (m *Metrics) Route(name string) *Route {
	return &Route{m: m, rm: m.route(name)}
}

// Route is the counters of one subscription (see Metrics.Route). It is
// safe for concurrent use.
type Route struct {
	m    *Metrics
	rm   *routeMetrics
	last atomic.Pointer[typeMetrics] // of the last delivery's event type
}

// Handled counts one handled delivery of the route, as Metrics.Handled.
func (r *Route) Handled(ev *event.Event, attempt int, out dispatch.Outcome, took time.Duration) {
	r.m.handledBy(r.rm, r.typeOf(ev.Type), attempt, out, took)
}

// typeOf returns the children of the event type t.
func (r *Route) typeOf(t string) *typeMetrics {
	tm := r.last.Load()
	if tm == nil || tm.name != t {
		tm = r.m.typ(t) // children are never removed: tm stays right
		r.last.Store(tm)
	}
	return tm
}

// HandledAll counts the runs of a batch of the route, as Handled each,
// but adds the runs done without emits to the counters and the latency
// histogram once per batch (and per event type in a row), not once per
// run: they are shared by the route's workers, and every write moves their
// cache line to the writer's core.
func (r *Route) HandledAll(runs []dispatch.Run) {
	var done uint64
	var tm *typeMetrics
	var tmDone float64
	var lat latencyBatch
	for i := range runs {
		rn := &runs[i]
		if rn.Outcome.Status != dispatch.Done || len(rn.Outcome.Emits) > 0 {
			r.Handled(rn.Event, rn.Attempt, rn.Outcome, rn.Took)
			continue
		}
		lat.add(rn.Took)
		if t := r.typeOf(rn.Event.Type); t != tm {
			if tmDone > 0 {
				tm.handled.Add(tmDone)
			}
			tm, tmDone = t, 0
		}
		tmDone++
		done++
	}
	if tmDone > 0 {
		tm.handled.Add(tmDone)
	}
	if done > 0 {
		r.rm.latency.addBatch(&lat)
		r.rm.handled.Add(float64(done))
		r.rm.nHandled.Add(done)
	}
}

// handledBy counts one handled delivery with the children of its route
// and event type.
func (m *Metrics) handledBy(rm *routeMetrics, tm *typeMetrics, attempt int, out dispatch.Outcome, took time.Duration) {
	rm.latency.observe(took)
	switch out.Status {
	case dispatch.Done:
		rm.handled.Inc()
		rm.nHandled.Add(1)
		tm.handled.Inc()
		if len(out.Emits) > 0 {
			m.emitted.Add(float64(len(out.Emits)))
			m.nPublished.Add(uint64(len(out.Emits)))
			for _, e := range out.Emits {
				m.typ(e.Type).published.Inc()
			}
		}
	case dispatch.Reject:
		rm.rejected.Inc()
		rm.dead.Inc()
		rm.nDead.Add(1)
		tm.dead.Inc()
	default:
		rm.failed.Inc()
		rm.nFailed.Add(1)
		tm.failed.Inc()
		if int64(attempt) >= rm.maxAttempts.Load() {
			rm.dead.Inc()
			rm.nDead.Add(1)
			tm.dead.Inc()
		}
	}
}

// ingest counts the outcome of publishing events from source: acks
// accepted (or duplicates), also by type, and, when err is not nil, the
// event at len(acks) refused; the events after it were not offered.
func (m *Metrics) ingest(source string, events []*event.Event, acks []bus.PubAck, err error) {
	var acc, dup int
	for i, a := range acks {
		if a.Duplicate {
			dup++
		} else {
			acc++
			if i < len(events) {
				m.typ(events[i].Type).ingested.Inc()
			}
		}
	}
	if acc > 0 {
		m.ingested.WithLabelValues(source, "accepted").Add(float64(acc))
		m.published.WithLabelValues("ingest").Add(float64(acc))
		m.nIngested.Add(uint64(acc))
		m.nPublished.Add(uint64(acc))
	}
	if dup > 0 {
		m.ingested.WithLabelValues(source, "duplicate").Add(float64(dup))
	}
	if err != nil {
		m.ingested.WithLabelValues(source, refusal(err)).Inc()
	}
}

// RefusedRequest counts an HTTP ingest request that httpapi refused before
// publishing, by its status (one per request: its events were not read).
func (m *Metrics) RefusedRequest(status int) {
	result := "error"
	switch status {
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		result = "malformed"
	case http.StatusUnauthorized:
		result = "unauthorized"
	case http.StatusForbidden:
		result = "forbidden"
	case http.StatusRequestEntityTooLarge:
		result = "too_large"
	case http.StatusServiceUnavailable:
		result = "not_ready"
	}
	m.ingested.WithLabelValues("http", result).Inc()
}

// Denied counts an HTTP request refused with a 401 or a 403 (httpapi's
// Options.Denied): token is a config name or "", reason one of a fixed set,
// so the labels are bounded.
func (m *Metrics) Denied(token, reason string) {
	m.denied.WithLabelValues(token, reason).Inc()
}

// ingestOne counts the outcome of publishing ev from source.
func (m *Metrics) ingestOne(source string, ev *event.Event, ack bus.PubAck, err error) {
	switch {
	case err != nil:
		m.ingested.WithLabelValues(source, refusal(err)).Inc()
	case ack.Duplicate:
		m.ingested.WithLabelValues(source, "duplicate").Inc()
	default:
		m.ingested.WithLabelValues(source, "accepted").Inc()
		m.published.WithLabelValues("ingest").Inc()
		m.nIngested.Add(1)
		m.nPublished.Add(1)
		m.typ(ev.Type).ingested.Inc()
	}
}

// refusal names the reason of a refused publication, from a fixed set.
func refusal(err error) string {
	switch {
	case errors.Is(err, bus.ErrInvalidEvent):
		return "invalid"
	case errors.Is(err, bus.ErrBackpressure):
		return "backpressure"
	case errors.Is(err, bus.ErrUnavailable):
		return "unavailable"
	case errors.Is(err, bus.ErrClosed):
		return "closed"
	}
	return "error"
}

// Filtered implements dispatch.FilterObserver: it counts an event a
// filter acknowledged without a call.
func (m *Metrics) Filtered(route string, _ *event.Event, err error) {
	result := "rejected"
	if err != nil {
		result = "error"
	}
	m.filtered.WithLabelValues(route, result).Inc()
}

// Reload counts a reload of kind (plugin, config, release) that was done, or
// refused when err is not nil.
func (m *Metrics) Reload(kind string, err error) {
	result := "done"
	if err != nil {
		result = "refused"
	}
	m.reloads.WithLabelValues(kind, result).Inc()
}

// Webhook counts one attempt of the webhook endpoint, answered with
// httpStatus (0: no answer).
func (m *Metrics) Webhook(endpoint string, httpStatus int) {
	status := "none"
	if httpStatus != 0 {
		status = strconv.Itoa(httpStatus)
	}
	m.webhooks.WithLabelValues(endpoint, status).Inc()
}

// Counts returns the deliveries handled, the attempts failed and the
// events dead-lettered of the subscription name since the metrics were
// made (making its label children, as a first delivery would).
func (m *Metrics) Counts(name string) (handled, failed, deadLettered uint64) {
	rm := m.route(name)
	return rm.nHandled.Load(), rm.nFailed.Load(), rm.nDead.Load()
}

// Latency returns the buckets of the subscription name's handler latency
// histogram (evhost_handler_duration_seconds) since the metrics were made:
// the upper bounds in seconds, the cumulative count of each, and the count
// of every observation (the +Inf bucket).
func (m *Metrics) Latency(name string) (bounds []float64, cumulative []uint64, count uint64) {
	cumulative, count = m.route(name).latency.read()
	return append([]float64(nil), latencyBounds[:]...), cumulative, count
}

// Totals returns the events accepted from producers, and the events
// published (ingested and emitted), since the metrics were made.
func (m *Metrics) Totals() (ingested, published uint64) {
	return m.nIngested.Load(), m.nPublished.Load()
}

// Publisher returns next counting what it publishes from source ("http",
// "go"): events accepted, duplicates and refusals, also by type.
func (m *Metrics) Publisher(source string, next bus.Publisher) bus.Publisher {
	return &publisher{m: m, source: source, next: next}
}

type publisher struct {
	m      *Metrics
	source string
	next   bus.Publisher
}

// Publish implements bus.Publisher.
func (p *publisher) Publish(ctx context.Context, ev *event.Event) (bus.PubAck, error) {
	ack, err := p.next.Publish(ctx, ev)
	p.m.ingestOne(p.source, ev, ack, err)
	return ack, err
}

// PublishBatch implements bus.Publisher.
func (p *publisher) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	acks, err := p.next.PublishBatch(ctx, events, buf)
	p.m.ingest(p.source, events, acks, err)
	return acks, err
}

var (
	descInstances = prometheus.NewDesc("evhost_plugin_instances",
		"Live instances of the serving version of a plugin.", []string{"plugin"}, nil)
	descIdle = prometheus.NewDesc("evhost_plugin_instances_idle",
		"Idle instances in the pool of the serving version of a plugin.", []string{"plugin"}, nil)
	descInstantiations = prometheus.NewDesc("evhost_plugin_instantiations_total",
		"Instances created by the serving version of a plugin (restarts from zero with each new version).", []string{"plugin"}, nil)
	descDiscards = prometheus.NewDesc("evhost_plugin_discards_total",
		"Instances discarded after a failure, by the serving version of a plugin.", []string{"plugin"}, nil)
	descRecycles = prometheus.NewDesc("evhost_plugin_recycles_total",
		"Instances retired after their max calls or age, by the serving version of a plugin.", []string{"plugin"}, nil)
	descCalls = prometheus.NewDesc("evhost_plugin_calls_total",
		"Calls into the serving version of a plugin.", []string{"plugin"}, nil)
	descIdleCloses = prometheus.NewDesc("evhost_plugin_idle_closes_total",
		"Instances of the serving version of a plugin closed after its idle_timeout.", []string{"plugin"}, nil)
	descPluginEvictions = prometheus.NewDesc("evhost_plugin_evictions_total",
		"Times the compiled module of the serving version of a plugin was freed to fit [host] compiled_cache.", []string{"plugin"}, nil)
	descCompiledModules = prometheus.NewDesc("evhost_wasm_compiled_modules",
		"Compiled plugin modules in memory.", nil, nil)
	descCompiledBytes = prometheus.NewDesc("evhost_wasm_compiled_bytes",
		"Estimated bytes of the compiled plugin modules in memory.", nil, nil)
	descCompiledBudget = prometheus.NewDesc("evhost_wasm_compiled_budget_bytes",
		"[host] compiled_cache: the bound of evhost_wasm_compiled_bytes (0: none).", nil, nil)
	descEvictions = prometheus.NewDesc("evhost_wasm_evictions_total",
		"Compiled modules freed to fit [host] compiled_cache.", nil, nil)
	descRecompiles = prometheus.NewDesc("evhost_wasm_recompiles_total",
		"Evicted modules compiled again (from the on-disk cache) for an event.", nil, nil)
	descReserved = prometheus.NewDesc("evhost_wasm_memory_reserved_bytes",
		"Cleared linear memory that closed plugin instances left for new ones (at most [host] memory_reserve).", nil, nil)
	descReserveBudget = prometheus.NewDesc("evhost_wasm_memory_reserve_budget_bytes",
		"[host] memory_reserve: the bound of evhost_wasm_memory_reserved_bytes (0: none kept).", nil, nil)
	descWasmIdleCloses = prometheus.NewDesc("evhost_wasm_idle_closes_total",
		"Instances closed after their plugin's idle_timeout, all plugins and versions.", nil, nil)
	descPaused = prometheus.NewDesc("evhost_subscription_paused",
		"1 while a subscription is paused (its events wait), else 0, as the bus last saw it.", []string{"subscription"}, nil)
	descOldest = prometheus.NewDesc("evhost_subscription_oldest_pending_seconds",
		"Age of the oldest event a subscription holds unsettled, from the broker (absent when it holds none).", []string{"subscription"}, nil)
	descRetention = prometheus.NewDesc("evhost_subscription_retention_warning",
		"1 when the broker's retention is about to drop events a subscription holds unsettled (see GET /v1/subscriptions), else 0.", []string{"subscription"}, nil)
	descLag = prometheus.NewDesc("evhost_bus_pending",
		"Events a subscription holds unsettled on the bus (pending plus awaiting acknowledgement), as the bus last estimated it.", []string{"subscription"}, nil)
)

// backlogWait bounds a scrape's wait for the broker's backlog report.
const backlogWait = 3 * time.Second

// pluginCollector reads the plugins' pool statistics, and the bus's
// per-subscription lag when the bus reports it, at scrape time.
type pluginCollector struct{ m *Metrics }

// Describe implements prometheus.Collector.
func (c pluginCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInstances, descIdle, descInstantiations, descDiscards, descRecycles, descCalls, descLag, descPaused, descOldest, descRetention,
		descIdleCloses, descPluginEvictions, descCompiledModules, descCompiledBytes, descCompiledBudget, descEvictions, descRecompiles, descWasmIdleCloses, descReserved, descReserveBudget} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c pluginCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.m.opts
	if o.Plugins != nil {
		for name, s := range o.Plugins() {
			ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(s.Instances), name)
			ch <- prometheus.MustNewConstMetric(descIdle, prometheus.GaugeValue, float64(s.Idle), name)
			ch <- prometheus.MustNewConstMetric(descInstantiations, prometheus.CounterValue, float64(s.Instantiations), name)
			ch <- prometheus.MustNewConstMetric(descDiscards, prometheus.CounterValue, float64(s.Discards), name)
			ch <- prometheus.MustNewConstMetric(descRecycles, prometheus.CounterValue, float64(s.Recycles), name)
			ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(s.Calls), name)
			ch <- prometheus.MustNewConstMetric(descIdleCloses, prometheus.CounterValue, float64(s.IdleCloses), name)
			ch <- prometheus.MustNewConstMetric(descPluginEvictions, prometheus.CounterValue, float64(s.Evictions), name)
		}
	}
	if o.Wasm != nil {
		w := o.Wasm()
		ch <- prometheus.MustNewConstMetric(descCompiledModules, prometheus.GaugeValue, float64(w.CompiledModules))
		ch <- prometheus.MustNewConstMetric(descCompiledBytes, prometheus.GaugeValue, float64(w.CompiledBytes))
		ch <- prometheus.MustNewConstMetric(descCompiledBudget, prometheus.GaugeValue, float64(w.CompiledBudget))
		ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(w.Evictions))
		ch <- prometheus.MustNewConstMetric(descRecompiles, prometheus.CounterValue, float64(w.Recompiles))
		ch <- prometheus.MustNewConstMetric(descWasmIdleCloses, prometheus.CounterValue, float64(w.IdleCloses))
		ch <- prometheus.MustNewConstMetric(descReserved, prometheus.GaugeValue, float64(w.ReservedBytes))
		ch <- prometheus.MustNewConstMetric(descReserveBudget, prometheus.GaugeValue, float64(w.ReserveBudget))
	}
	if o.Paused != nil {
		for name, p := range o.Paused() {
			v := 0.0
			if p {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, v, name)
		}
	}
	if o.Backlog != nil {
		ctx, cancel := context.WithTimeout(context.Background(), backlogWait)
		b, err := o.Backlog(ctx)
		cancel()
		if err == nil {
			now := time.Now()
			for name, old := range b.Oldest {
				ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, max(0, now.Sub(old.Time).Seconds()), name)
				v := 0.0
				if b.Warning(name, now) != "" {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(descRetention, prometheus.GaugeValue, v, name)
			}
		}
	}
	if o.Pending != nil {
		if pending := o.Pending(); pending != nil {
			for name, n := range pending {
				ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(n), name)
			}
		}
	}
}
