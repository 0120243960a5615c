package telemetry

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/internal/buildinfo"
)

// ScopeName is the instrumentation scope of evhost's spans.
const ScopeName = "github.com/evhost/evhost/host"

// Handler kinds, the evhost.handler.kind attribute of a run's span: the
// kinds of subscription of the API.
const (
	KindPlugin  = api.KindPlugin
	KindWebhook = api.KindWebhook
	KindNative  = api.KindNative
)

// Attribute keys evhost sets beside the semantic conventions'.
const (
	AttrEventType    = attribute.Key("cloudevents.event_type")
	AttrEventID      = attribute.Key("cloudevents.event_id")
	AttrEventSource  = attribute.Key("cloudevents.event_source")
	AttrSubscription = attribute.Key("evhost.subscription")
	AttrHandlerKind  = attribute.Key("evhost.handler.kind")
	AttrAttempt      = attribute.Key("evhost.attempt")
	AttrOutcome      = attribute.Key("evhost.outcome")
	AttrEmits        = attribute.Key("evhost.emits")
	AttrIngest       = attribute.Key("evhost.ingest")
)

// Tracer makes evhost's spans. Its methods are safe for concurrent use.
type Tracer struct {
	tracer   trace.Tracer
	shutdown func(context.Context) error
}

// New returns a Tracer that makes its spans with tp (an application's own
// provider, when evhost is a library in it). The caller keeps ownership of
// tp: Shutdown does not shut it down.
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{tracer: tp.Tracer(ScopeName)}
}

// Options say where a Tracer from Open exports its spans (the daemon maps
// [tracing] to them).
type Options struct {
	// Enabled switches span export on; Open returns a nil Tracer without.
	Enabled bool
	// Endpoint is the OTLP/HTTP traces URL.
	Endpoint string
	// Headers are sent with every export (an API key for a hosted
	// backend).
	Headers map[string]string
	// ServiceName is the service.name resource attribute.
	ServiceName string
	// SampleRatio is the share of new traces recorded, from 0 to 1; a
	// trace that arrives sampled or not keeps its caller's decision.
	SampleRatio float64
	// Timeout bounds one export.
	Timeout time.Duration
}

// Open returns a Tracer that exports its spans to the OTLP/HTTP receiver
// cfg names, in batches, or nil when cfg does not enable tracing.
// Shutdown flushes and stops the exporter.
func Open(cfg Options) (*Tracer, error) {
	if !cfg.Enabled {
		return nil, nil
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(cfg.Endpoint),
		otlptracehttp.WithTimeout(cfg.Timeout),
	}
	if len(cfg.Headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(cfg.Headers))
	}
	// New only builds the client: it connects on the first export, so an
	// absent collector costs dropped spans (logged by the SDK), not a
	// daemon that will not start.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter for %s: %w", cfg.Endpoint, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(cfg.ServiceName), semconv.ServiceVersion(buildinfo.Version())))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Tracer{tracer: tp.Tracer(ScopeName), shutdown: tp.Shutdown}, nil
}

// Shutdown exports the spans still buffered and stops the exporter of a
// Tracer from Open. It does nothing for one from New, or a nil Tracer.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("telemetry: flushing spans: %w", err)
	}
	return nil
}

// Publish starts the span of an event's ingest through source ("http",
// "go"), and makes it the event's traceparent: the runs that handle the
// event will be its children. Its parent is the event's own traceparent
// if it has one, else the span of ctx (an HTTP request's traceparent
// header, or the caller's span). The caller ends the span with End once
// the bus has the event.
//
// With a nil Tracer it only copies ctx's span context into an event that
// has no traceparent, so that a request's trace still reaches the event.
func (t *Tracer) Publish(ctx context.Context, source string, ev *event.Event) trace.Span {
	if t == nil {
		if _, ok := ev.Ext(event.ExtTraceParent); !ok {
			if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
				SetSpanContext(ev, sc)
			}
		}
		return nil
	}
	parent := ctx
	if sc, ok := SpanContextOf(ev); ok {
		parent = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	_, span := t.tracer.Start(parent, "publish "+ev.Type,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("evhost"),
			semconv.MessagingOperationTypeSend,
			AttrEventType.String(ev.Type), AttrEventID.String(ev.ID),
			AttrEventSource.String(ev.Source), AttrIngest.String(source)))
	SetSpanContext(ev, span.SpanContext())
	return span
}

// End ends a span from Publish with the outcome of publishing: nothing
// happens for a nil span (a nil Tracer's).
func End(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// Middleware returns the dispatch middleware that wraps every route's
// handler with Wrap, under the route's name and kind: the one place
// tracing is attached to handler runs. A nil Tracer returns nil (no
// middleware).
func (t *Tracer) Middleware() dispatch.Middleware {
	if t == nil {
		return nil
	}
	return func(r *dispatch.Route, next dispatch.Handler) dispatch.Handler {
		return t.Wrap(r.Name, r.Kind, next)
	}
}

// Publisher returns next with a span around the publication of every
// event from source ("http", "go"; see Publish). With a nil Tracer it only
// hands the caller's span context to events that have no traceparent.
func (t *Tracer) Publisher(source string, next bus.Publisher) bus.Publisher {
	return &publisher{t: t, source: source, next: next}
}

type publisher struct {
	t      *Tracer
	source string
	next   bus.Publisher
}

// Publish implements bus.Publisher.
func (p *publisher) Publish(ctx context.Context, ev *event.Event) (bus.PubAck, error) {
	span := p.t.Publish(ctx, p.source, ev)
	ack, err := p.next.Publish(ctx, ev)
	End(span, err)
	return ack, err
}

// PublishBatch implements bus.Publisher: each event's span ends with the
// batch, with the error of the event refused (the events after it were
// not stored either).
func (p *publisher) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	var spans []trace.Span
	if p.t != nil {
		spans = make([]trace.Span, len(events))
	}
	for i, ev := range events {
		if sp := p.t.Publish(ctx, p.source, ev); sp != nil {
			spans[i] = sp
		}
	}
	acks, err := p.next.PublishBatch(ctx, events, buf)
	for i, sp := range spans {
		var perr error
		if i >= len(acks) { // not stored
			perr = err
		}
		End(sp, perr)
	}
	return acks, err
}

// Wrap returns h with a span around every run: "process TYPE" for plugins
// and native handlers, "deliver TYPE" for webhooks, a child of the
// event's traceparent, with the outcome as its status. The run's context
// carries the span (a webhook sends it on as its request's traceparent),
// and the events the run emits get it as their traceparent. A nil Tracer
// returns h itself.
func (t *Tracer) Wrap(subscription, kind string, h dispatch.Handler) dispatch.Handler {
	if t == nil {
		return h
	}
	verb, spanKind := "process ", trace.SpanKindConsumer
	if kind == KindWebhook {
		verb, spanKind = "deliver ", trace.SpanKindClient
	}
	return &traced{t: t, next: h, sub: subscription, kind: kind, verb: verb, spanKind: spanKind}
}

type traced struct {
	t        *Tracer
	next     dispatch.Handler
	sub      string
	kind     string
	verb     string
	spanKind trace.SpanKind
}

// Handle implements dispatch.Handler.
func (w *traced) Handle(ctx context.Context, ev *event.Event, attempt int) dispatch.Outcome {
	if sc, ok := SpanContextOf(ev); ok {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
	}
	ctx, span := w.t.tracer.Start(ctx, w.verb+ev.Type,
		trace.WithSpanKind(w.spanKind),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String("evhost"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingConsumerGroupName(w.sub),
			AttrSubscription.String(w.sub), AttrHandlerKind.String(w.kind),
			AttrEventType.String(ev.Type), AttrEventID.String(ev.ID),
			AttrEventSource.String(ev.Source), AttrAttempt.Int(attempt)))
	defer span.End()
	out := w.next.Handle(ctx, ev, attempt)
	span.SetAttributes(AttrOutcome.String(out.Status.String()), AttrEmits.Int(len(out.Emits)))
	if out.Status != dispatch.Done {
		span.SetStatus(codes.Error, out.Reason)
	}
	if sc := span.SpanContext(); sc.IsValid() {
		for _, e := range out.Emits {
			SetSpanContext(e, sc)
		}
	}
	return out
}

var traceContext propagation.TraceContext

// SpanContextOf returns the span context that ev's traceparent (and
// tracestate) extension attributes name, if they name a valid one.
func SpanContextOf(ev *event.Event) (trace.SpanContext, bool) {
	if _, ok := ev.Ext(event.ExtTraceParent); !ok {
		return trace.SpanContext{}, false
	}
	sc := trace.SpanContextFromContext(traceContext.Extract(context.Background(), eventCarrier{ev}))
	return sc, sc.IsValid()
}

// SetSpanContext makes sc ev's traceparent (and tracestate, or none).
func SetSpanContext(ev *event.Event, sc trace.SpanContext) {
	ev.SetExt(event.ExtTraceParent, TraceParent(sc))
	if ts := sc.TraceState().String(); ts != "" {
		ev.SetExt(event.ExtTraceState, ts)
	} else {
		ev.DeleteExt(event.ExtTraceState)
	}
}

// TraceParent formats sc as a W3C traceparent header value.
func TraceParent(sc trace.SpanContext) string {
	tid, sid := sc.TraceID(), sc.SpanID()
	b := make([]byte, 0, 55)
	b = append(b, "00-"...)
	b = appendHex(b, tid[:])
	b = append(b, '-')
	b = appendHex(b, sid[:])
	b = append(b, '-')
	b = appendHex(b, []byte{byte(sc.TraceFlags())})
	return string(b)
}

func appendHex(b, src []byte) []byte {
	const digits = "0123456789abcdef"
	for _, c := range src {
		b = append(b, digits[c>>4], digits[c&0xf])
	}
	return b
}

// eventCarrier reads and writes the trace context of an event's
// extension attributes.
type eventCarrier struct{ ev *event.Event }

func (c eventCarrier) Get(key string) string {
	v, _ := c.ev.Ext(key)
	return v
}

func (c eventCarrier) Set(key, value string) { c.ev.SetExt(key, value) }

func (c eventCarrier) Keys() []string {
	return []string{event.ExtTraceParent, event.ExtTraceState}
}
