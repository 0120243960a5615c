package pdk

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/evhost/evhost/plugins/pdk/internal/envelope"
)

// An EmitOption sets an optional attribute of an emitted event.
type EmitOption func(*emitAttrs)

type emitAttrs struct {
	id, subject, dataContentType, dataSchema string
	ext                                      []envelope.Field
}

// WithID sets the id of the emitted event, for idempotent emits: a retried
// handler that emits the same id lets consumers drop the duplicate. Without
// it the host assigns a fresh id.
func WithID(id string) EmitOption { return func(a *emitAttrs) { a.id = id } }

// WithSubject sets the subject of the emitted event.
func WithSubject(subject string) EmitOption {
	return func(a *emitAttrs) { a.subject = subject }
}

// WithDataContentType sets the datacontenttype of the emitted event (for
// EmitJSON it replaces application/json).
func WithDataContentType(ct string) EmitOption {
	return func(a *emitAttrs) { a.dataContentType = ct }
}

// WithDataSchema sets the dataschema of the emitted event.
func WithDataSchema(uri string) EmitOption {
	return func(a *emitAttrs) { a.dataSchema = uri }
}

// WithExtension sets an extension attribute of the emitted event. The host
// replaces the values of the extensions it owns (correlationid,
// causationid, depth, traceparent); giving the same name twice is an error.
func WithExtension(name, value string) EmitOption {
	return func(a *emitAttrs) { a.ext = append(a.ext, envelope.Field{Name: name, Value: value}) }
}

// WithDelay makes the emitted event a delayed event: the host publishes it
// when the handler returns, and the broker delivers it d later (the
// extension delay, which the host turns into deliverat). d must be
// positive and within the daemon's [delayed] max_delay; the broker keeps
// it across restarts (embedded and nats brokers).
func WithDelay(d time.Duration) EmitOption {
	return WithExtension("delay", d.String())
}

// WithDeliverAt makes the emitted event a delayed event delivered at t (the
// extension deliverat, RFC 3339); a t in the past delivers it at once.
func WithDeliverAt(t time.Time) EmitOption {
	return WithExtension("deliverat", t.UTC().Format(time.RFC3339Nano))
}

var emitBuf []byte // reused: the host copies an emit before emit returns

// Emit emits a follow-up event of type eventType with data as its payload
// (nil for none). The host fills in id (unless WithID), source, time,
// specversion and the correlation extensions. The event is published only
// if the handler returns nil.
//
// Emit returns nil or an error wrapping ErrMalformed (missing type, name
// given twice, value not UTF-8), ErrNotPermitted (event type not allowed,
// or no handler call in progress) or ErrLimit (emits per event or depth
// exceeded: the host then dead-letters the event whatever the handler
// returns).
func Emit(eventType string, data []byte, opts ...EmitOption) error {
	var a emitAttrs
	for _, o := range opts {
		o(&a)
	}
	return emit(eventType, data, &a)
}

// EmitJSON is Emit with v encoded by encoding/json as the data and
// datacontenttype application/json.
func EmitJSON(eventType string, v any, opts ...EmitOption) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("pdk: emit %s: %w", eventType, err)
	}
	a := emitAttrs{dataContentType: "application/json"}
	for _, o := range opts {
		o(&a)
	}
	return emit(eventType, data, &a)
}

func emit(eventType string, data []byte, a *emitAttrs) error {
	b := appendAttr(emitBuf[:0], AttrType, eventType)
	b = appendAttr(b, AttrID, a.id)
	b = appendAttr(b, AttrSubject, a.subject)
	b = appendAttr(b, AttrDataContentType, a.dataContentType)
	b = appendAttr(b, AttrDataSchema, a.dataSchema)
	for _, f := range a.ext {
		if err := checkExtName(f.Name); err != nil {
			return fmt.Errorf("pdk: emit %s: %w", eventType, err)
		}
		b = envelope.AppendAttr(b, f.Name, f.Value)
	}
	b = envelope.AppendEnd(b, data)
	code := hostEmit(b)
	if cap(b) <= maxKeptBuf {
		emitBuf = b
	}
	if code != 0 {
		return &HostError{Op: "emit " + eventType, Code: code}
	}
	return nil
}

// maxKeptBuf bounds the scratch buffers kept from call to call.
const maxKeptBuf = 1 << 20
