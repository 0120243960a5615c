package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// Both buses report their lag and paused state to the metrics.
var (
	_ bus.States = (*membus.Bus)(nil)
	_ bus.States = (*natsbus.Bus)(nil)
)

// The metrics' part of the observer allocates nothing per event once its
// route is known, whatever the outcome.
func TestMetricsObserverDoesNotAllocate(t *testing.T) {
	m := New(Options{})
	m.Applied([]dispatch.Route{{Name: "orders", MaxAttempts: 3}})
	ev := &event.Event{ID: "1", Source: "test", Type: "order.created"}
	emits := []*event.Event{ev}
	outs := []dispatch.Outcome{
		{Status: dispatch.Done, Emits: emits},
		{Status: dispatch.Retry, Reason: "later"},
		{Status: dispatch.Reject, Reason: "never"},
	}
	for _, out := range outs {
		if n := testing.AllocsPerRun(1000, func() {
			m.Handled("orders", ev, 3, out, time.Millisecond)
		}); n != 0 {
			t.Errorf("%s: %v allocations per event, want 0", out.Status, n)
		}
	}
}

// A retry counts as dead-lettered on the route's last attempt only.
func TestMetricsDeadLetterOnLastAttempt(t *testing.T) {
	m := New(Options{})
	m.Applied([]dispatch.Route{{Name: "a", MaxAttempts: 3}})
	ev := &event.Event{ID: "1", Source: "test", Type: "t"}
	for attempt := 1; attempt <= 3; attempt++ {
		m.Handled("a", ev, attempt, dispatch.Outcome{Status: dispatch.Retry}, time.Millisecond)
	}
	if got := testutil.ToFloat64(m.failed.WithLabelValues("a")); got != 3 {
		t.Errorf("failed = %v, want 3", got)
	}
	if got := testutil.ToFloat64(m.dead.WithLabelValues("a")); got != 1 {
		t.Errorf("dead-lettered = %v, want 1", got)
	}
}

// The type label of evhost_events_by_type_total is capped: the first
// MaxTypeLabels types have their own, the later ones count as OtherType,
// so that a client sending random types cannot grow the registry.
func TestMetricsTypeLabelsAreCapped(t *testing.T) {
	m := New(Options{})
	m.Applied([]dispatch.Route{{Name: "a", MaxAttempts: 2}})
	for i := range MaxTypeLabels + 50 {
		ev := &event.Event{ID: "1", Source: "test", Type: fmt.Sprintf("type.%d", i)}
		m.Handled("a", ev, 1, dispatch.Outcome{Status: dispatch.Done}, time.Millisecond)
		m.Handled("a", ev, 2, dispatch.Outcome{Status: dispatch.Retry}, time.Millisecond)
	}
	if n := testutil.CollectAndCount(m.byType); n != (MaxTypeLabels+1)*5 {
		t.Errorf("%d series, want %d: %d types and %q, 5 stages each", n, (MaxTypeLabels+1)*5, MaxTypeLabels, OtherType)
	}
	for _, c := range []struct {
		typ, stage string
		want       float64
	}{
		{"type.0", "handled", 1}, {"type.0", "failed", 1}, {"type.0", "dead_lettered", 1},
		{fmt.Sprintf("type.%d", MaxTypeLabels-1), "handled", 1},
		{OtherType, "handled", 50}, {OtherType, "dead_lettered", 50},
	} {
		if got := testutil.ToFloat64(m.byType.WithLabelValues(c.typ, c.stage)); got != c.want {
			t.Errorf("%s %s = %v, want %v", c.typ, c.stage, got, c.want)
		}
	}
}

// Webhook attempts are counted per endpoint and status, "none" when the
// endpoint did not answer.
func TestMetricsWebhookAttempts(t *testing.T) {
	m := New(Options{})
	m.Webhook("crm", 200)
	m.Webhook("crm", 503)
	m.Webhook("crm", 503)
	m.Webhook("crm", 0)
	for status, want := range map[string]float64{"200": 1, "503": 2, "none": 1} {
		if got := testutil.ToFloat64(m.webhooks.WithLabelValues("crm", status)); got != want {
			t.Errorf("status %s: %v, want %v", status, got, want)
		}
	}
}

// BenchmarkMetricsObserver measures the metrics' part of the observer on
// a known route.
func BenchmarkMetricsObserver(b *testing.B) {
	m := New(Options{})
	m.Applied([]dispatch.Route{{Name: "orders"}})
	ev := &event.Event{ID: "1", Source: "test", Type: "order.created"}
	out := dispatch.Outcome{Status: dispatch.Done}
	b.ReportAllocs()
	for b.Loop() {
		m.Handled("orders", ev, 1, out, time.Millisecond)
	}
}

// A Route counts as Metrics.Handled does, whichever types its deliveries
// have and in whatever order (its cached type is only a shortcut), and
// allocates nothing per event, the type changing or not.
func TestRouteCountsAsHandled(t *testing.T) {
	byRoute, byName, byBatch := New(Options{}), New(Options{}), New(Options{})
	for _, m := range []*Metrics{byRoute, byName, byBatch} {
		m.Applied([]dispatch.Route{{Name: "a", MaxAttempts: 2}})
	}
	r := byRoute.Route("a")
	types := []string{"x", "x", "y", "x", "y", "y", "z", "z", "x", "y"}
	emit := &event.Event{ID: "e", Source: "test", Type: "w"}
	outs := []dispatch.Outcome{{Status: dispatch.Done}, {Status: dispatch.Retry}, {Status: dispatch.Done}, {Status: dispatch.Reject}, {Status: dispatch.Done, Emits: []*event.Event{emit}}}
	var runs []dispatch.Run
	for i, typ := range types {
		ev := &event.Event{ID: fmt.Sprint(i), Source: "test", Type: typ}
		out := outs[i%len(outs)]
		r.Handled(ev, 2, out, time.Millisecond)
		byName.Handled("a", ev, 2, out, time.Millisecond)
		runs = append(runs, dispatch.Run{Event: ev, Attempt: 2, Outcome: out, Took: time.Millisecond})
	}
	batched := byBatch.Route("a")
	for i := 0; i < len(runs); i += 3 {
		batched.HandledAll(runs[i:min(i+3, len(runs))])
	}
	for _, typ := range []string{"x", "y", "z", "w"} {
		for _, stage := range []string{"handled", "failed", "dead_lettered", "published"} {
			want := testutil.ToFloat64(byName.byType.WithLabelValues(typ, stage))
			for via, m := range map[string]*Metrics{"a Route": byRoute, "HandledAll": byBatch} {
				if got := testutil.ToFloat64(m.byType.WithLabelValues(typ, stage)); got != want {
					t.Errorf("%s/%s: %v through %s, %v through Handled", typ, stage, got, via, want)
				}
			}
		}
	}
	for name, vec := range map[string]func(*Metrics) float64{
		"handled":  func(m *Metrics) float64 { return testutil.ToFloat64(m.handled.WithLabelValues("a")) },
		"failed":   func(m *Metrics) float64 { return testutil.ToFloat64(m.failed.WithLabelValues("a")) },
		"rejected": func(m *Metrics) float64 { return testutil.ToFloat64(m.rejected.WithLabelValues("a")) },
		"dead":     func(m *Metrics) float64 { return testutil.ToFloat64(m.dead.WithLabelValues("a")) },
		"emitted":  func(m *Metrics) float64 { return testutil.ToFloat64(m.emitted) },
	} {
		if got, want := vec(byRoute), vec(byName); got != want || got == 0 {
			t.Errorf("%s: %v through a Route, %v through Handled (want equal, not 0)", name, got, want)
		}
		if got, want := vec(byBatch), vec(byName); got != want {
			t.Errorf("%s: %v through HandledAll, %v through Handled", name, got, want)
		}
	}
	h1, f1, d1 := byBatch.Counts("a")
	h2, f2, d2 := byName.Counts("a")
	if got, want := [3]uint64{h1, f1, d1}, [3]uint64{h2, f2, d2}; got != want {
		t.Errorf("Counts: %v through HandledAll, %v through Handled", got, want)
	}
	x, y := &event.Event{ID: "1", Source: "test", Type: "x"}, &event.Event{ID: "2", Source: "test", Type: "y"}
	if n := testing.AllocsPerRun(1000, func() {
		r.Handled(x, 1, dispatch.Outcome{}, time.Millisecond)
		r.Handled(y, 1, dispatch.Outcome{}, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations per pair of events, want 0", n)
	}
}

// TestLatencyIsAPrometheusHistogram checks that the latency histogram, fed
// one run at a time or a batch at a time, exports what a
// prometheus.Histogram with the same buckets would: the bounds are
// inclusive, as Prometheus's "le" is, and a negative duration counts as 0.
func TestLatencyIsAPrometheusHistogram(t *testing.T) {
	ref := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "evhost_handler_duration_seconds",
		Help:    "Time to handle one delivery (the handler call, publishing its emits and settling), per subscription.",
		Buckets: latencyBounds[:],
	}, []string{"subscription"})
	refReg := prometheus.NewRegistry()
	refReg.MustRegister(ref)
	one, batched := New(Options{}), New(Options{})
	var runs []dispatch.Run
	ev := &event.Event{ID: "1", Source: "test", Type: "x"}
	took := []time.Duration{-time.Second, 0, 1, 500 * time.Microsecond, 500*time.Microsecond + 1, time.Millisecond,
		3 * time.Millisecond, time.Second, 30 * time.Second, 31 * time.Second, time.Hour}
	for _, d := range took {
		ref.WithLabelValues("a").Observe(max(d, 0).Seconds())
		one.Route("a").Handled(ev, 1, dispatch.Outcome{}, d)
		runs = append(runs, dispatch.Run{Event: ev, Attempt: 1, Took: d})
	}
	batched.Route("a").HandledAll(runs[:4])
	batched.Route("a").HandledAll(runs[4:])
	gather := func(g prometheus.Gatherer) string {
		t.Helper()
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "evhost_handler_duration_seconds" {
				for _, m := range mf.GetMetric() {
					if c := m.GetHistogram().GetCreatedTimestamp(); c == nil || c.AsTime().After(time.Now()) {
						t.Errorf("created timestamp %v, want one before now", c)
					}
					m.GetHistogram().CreatedTimestamp = nil // when each was made
				}
				return mf.String()
			}
		}
		t.Fatal("no evhost_handler_duration_seconds")
		return ""
	}
	want := gather(refReg)
	for via, m := range map[string]*Metrics{"Handled": one, "HandledAll": batched} {
		if got := gather(m.Registry()); got != want {
			t.Errorf("through %s:\n%s\nwant\n%s", via, got, want)
		}
		bounds, cum, count := m.Latency("a")
		if len(bounds) != len(latencyBounds) || len(cum) != len(bounds) || count != uint64(len(took)) || cum[0] != 4 || cum[len(cum)-1] != 9 {
			t.Errorf("Latency through %s: %v %v %d; want the %d bounds, 4 runs in the first bucket, 9 up to 30s, %d in all",
				via, bounds, cum, count, len(latencyBounds), len(took))
		}
	}
}
