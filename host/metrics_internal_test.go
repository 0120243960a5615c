package host

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/bus/natsbus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/webhook"
)

// Both buses report their lag to the metrics.
var (
	_ pendingCounter = (*membus.Bus)(nil)
	_ pendingCounter = (*natsbus.Bus)(nil)
)

// The metrics' part of the observer allocates nothing per event once its
// route is known, whatever the outcome.
func TestMetricsObserverDoesNotAllocate(t *testing.T) {
	m := newMetrics(&Host{})
	m.applied([]dispatch.Route{{Name: "orders", MaxAttempts: 3}})
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
	m := newMetrics(&Host{})
	m.applied([]dispatch.Route{{Name: "a", MaxAttempts: 3}})
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

// Webhook attempts are counted per endpoint and status, "none" when the
// endpoint did not answer.
func TestMetricsWebhookAttempts(t *testing.T) {
	m := newMetrics(&Host{})
	m.webhook(webhook.Attempt{Endpoint: "crm", HTTPStatus: 200})
	m.webhook(webhook.Attempt{Endpoint: "crm", HTTPStatus: 503})
	m.webhook(webhook.Attempt{Endpoint: "crm", HTTPStatus: 503})
	m.webhook(webhook.Attempt{Endpoint: "crm"})
	for status, want := range map[string]float64{"200": 1, "503": 2, "none": 1} {
		if got := testutil.ToFloat64(m.webhooks.WithLabelValues("crm", status)); got != want {
			t.Errorf("status %s: %v, want %v", status, got, want)
		}
	}
}

// BenchmarkMetricsObserver measures the metrics' part of the observer on
// a known route.
func BenchmarkMetricsObserver(b *testing.B) {
	m := newMetrics(&Host{})
	m.applied([]dispatch.Route{{Name: "orders"}})
	ev := &event.Event{ID: "1", Source: "test", Type: "order.created"}
	out := dispatch.Outcome{Status: dispatch.Done}
	b.ReportAllocs()
	for b.Loop() {
		m.Handled("orders", ev, 1, out, time.Millisecond)
	}
}
