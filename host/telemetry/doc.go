// Package telemetry owns evhost's distributed tracing: the W3C trace
// context that events carry (the CloudEvents distributed tracing
// extension, attribute traceparent), and the OpenTelemetry spans of
// ingest, handler runs and webhook deliveries, exported over OTLP/HTTP
// when [tracing] enables it.
//
// The trace of an event chain is one trace: the span that published an
// event is the parent of the span of every run that handles it, and that
// run's span is the parent of the events it emits (their traceparent
// names it). A webhook receiver gets the delivery's span as the
// traceparent header of the request.
//
// A nil *Tracer is valid and does nothing (tracing off): events keep the
// traceparent they came with, and emits inherit it unchanged.
//
// It takes its own Options (the daemon maps [tracing] to them) and imports
// host/api (its vocabulary), host/bus, host/dispatch and host/event; it must not import host/config.
package telemetry
