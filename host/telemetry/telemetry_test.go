package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/telemetry"
)

const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestTraceParentRoundTrip(t *testing.T) {
	ev := &event.Event{ID: "1", Type: "a"}
	ev.SetExt("traceparent", tp)
	ev.SetExt("tracestate", "congo=t61rcWkgMzE")
	sc, ok := telemetry.SpanContextOf(ev)
	if !ok || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" || !sc.IsSampled() {
		t.Fatalf("SpanContextOf = %v, %v", sc, ok)
	}
	out := &event.Event{ID: "2", Type: "b"}
	telemetry.SetSpanContext(out, sc)
	if got, _ := out.Ext("traceparent"); got != tp {
		t.Errorf("traceparent %q, want %q", got, tp)
	}
	if got, _ := out.Ext("tracestate"); got != "congo=t61rcWkgMzE" {
		t.Errorf("tracestate %q", got)
	}
	for _, bad := range []string{"", "00-ab-cd-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "zz"} {
		e := &event.Event{ID: "3", Type: "c"}
		e.SetExt("traceparent", bad)
		if sc, ok := telemetry.SpanContextOf(e); ok {
			t.Errorf("SpanContextOf(%q) = %v, want invalid", bad, sc)
		}
	}
}

// With tracing off the publish path copies a caller's span context into an
// event without a traceparent, keeps one it has, and allocates nothing for
// an event that has neither.
func TestNilTracer(t *testing.T) {
	var tr *telemetry.Tracer
	sc, _ := telemetry.SpanContextOf(withTP(tp))
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)

	ev := &event.Event{ID: "1", Type: "a"}
	if span := tr.Publish(ctx, "http", ev); span != nil {
		t.Fatal("a nil Tracer made a span")
	}
	if got, _ := ev.Ext("traceparent"); got != tp {
		t.Errorf("traceparent %q, want the caller's %q", got, tp)
	}
	own := withTP("00-11111111111111111111111111111111-2222222222222222-00")
	tr.Publish(ctx, "http", own)
	if got, _ := own.Ext("traceparent"); got != "00-11111111111111111111111111111111-2222222222222222-00" {
		t.Errorf("an event's own traceparent was replaced: %q", got)
	}
	plain := &event.Event{ID: "1", Type: "a"}
	if n := testing.AllocsPerRun(100, func() { telemetry.End(tr.Publish(context.Background(), "go", plain), nil) }); n != 0 {
		t.Errorf("%v allocations per event with tracing off", n)
	}
	if h := tr.Wrap("s", telemetry.KindPlugin, nil); h != nil {
		t.Error("a nil Tracer wrapped a handler")
	}
}

func withTP(s string) *event.Event {
	e := &event.Event{ID: "x", Type: "t"}
	e.SetExt("traceparent", s)
	return e
}
