package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"

	"go.opentelemetry.io/otel/propagation"
)

// postEvents is POST /v1/events: one event in structured or binary mode, or
// a batch. The content mode follows the HTTP binding: the Content-Type of
// an event format selects structured or batch mode; otherwise ce- headers
// make it binary mode.
//
// Nothing is published unless every event of the request is valid. The bus
// then takes the events in order and may refuse one part-way (429, 503):
// the response names the events accepted before it ("ids") and the first
// refused ("index"). The producer resends the request, or its events from
// index on; the bus deduplicates by source and id, so events resent with
// the ids they had are not enqueued twice.
func (s *Server) postEvents(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(); err != nil {
		s.unavailable(w, err.Error())
		return
	}
	ct := r.Header.Get("Content-Type")
	mt := mediaType(ct)
	switch {
	case mt == structuredJSON || mt == batchJSON:
		if rerr := checkCharset(ct); rerr != nil {
			s.refuse(w, r, rerr)
			return
		}
		body, rerr := s.readBody(w, r)
		if rerr != nil {
			s.refuse(w, r, rerr)
			return
		}
		if mt == structuredJSON {
			e, rerr := decodeStructured(body)
			if rerr == nil {
				rerr = s.stamp.finish(e, single)
			}
			if rerr != nil {
				s.refuse(w, r, rerr)
				return
			}
			s.publish(w, r, []*event.Event{e}, false)
			return
		}
		events, rerr := decodeBatch(body, s.maxBatch)
		for i := 0; rerr == nil && i < len(events); i++ {
			rerr = s.stamp.finish(events[i], origin{index: i})
		}
		if rerr != nil {
			s.refuse(w, r, rerr)
			return
		}
		s.publish(w, r, events, true)
	case isEventFormat(mt):
		s.refuse(w, r, &requestError{status: http.StatusUnsupportedMediaType, field: "Content-Type", index: -1,
			msg: fmt.Sprintf("event format %q is not supported: use %s or %s, or binary mode", mt, structuredJSON, batchJSON)})
	case hasCEHeaders(r.Header):
		body, rerr := s.readBody(w, r)
		if rerr != nil {
			s.refuse(w, r, rerr)
			return
		}
		e, rerr := decodeBinary(r.Header, body)
		if rerr == nil {
			rerr = s.stamp.finish(e, origin{binary: true, index: -1})
		}
		if rerr != nil {
			s.refuse(w, r, rerr)
			return
		}
		s.publish(w, r, []*event.Event{e}, false)
	default:
		what := "no Content-Type"
		if ct != "" {
			what = "Content-Type " + strconv.Quote(ct)
		}
		s.refuse(w, r, badRequest("Content-Type", "no CloudEvent in this request ("+what+" and no ce- headers): "+
			"send the attributes as ce- headers (binary mode, at least ce-type), or the event as "+
			structuredJSON+" (structured mode) or "+batchJSON+", or POST the data to /v1/events/{type}"))
	}
}

// postTypedEvent is POST /v1/events/{type}: the body is the data of one
// event of the type in the path; ce- headers may add attributes (ce-id,
// ce-subject, ...). Publishing is as for postEvents.
func (s *Server) postTypedEvent(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(); err != nil {
		s.unavailable(w, err.Error())
		return
	}
	body, rerr := s.readBody(w, r)
	if rerr != nil {
		s.refuse(w, r, rerr)
		return
	}
	e, rerr := decodeTyped(r.PathValue("type"), r.Header, body)
	if rerr == nil {
		rerr = s.stamp.finish(e, origin{binary: true, index: -1})
	}
	if rerr != nil {
		s.refuse(w, r, rerr)
		return
	}
	s.publish(w, r, []*event.Event{e}, false)
}

// checkCharset refuses a structured or batch body in a charset other than
// UTF-8, the only one JSON allows on the wire.
func checkCharset(ct string) *requestError {
	_, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &requestError{status: http.StatusUnsupportedMediaType, field: "Content-Type", index: -1,
			msg: "malformed Content-Type " + strconv.Quote(ct) + ": " + err.Error()}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return &requestError{status: http.StatusUnsupportedMediaType, field: "Content-Type", index: -1,
			msg: "charset " + strconv.Quote(cs) + " is not supported: CloudEvents JSON is UTF-8"}
	}
	return nil
}

// readBody reads the body, up to maxBody bytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *requestError) {
	tooLarge := &requestError{status: http.StatusRequestEntityTooLarge, field: "body", index: -1,
		msg: "the body is larger than the limit of " + strconv.FormatInt(s.maxBody, 10) + " bytes"}
	if r.ContentLength > s.maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, tooLarge
		}
		return nil, badRequest("body", "reading the body: "+err.Error())
	}
	return body, nil
}

// refuse renders a request refused before publishing.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, rerr *requestError) {
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "ingest refused",
		slog.Int("status", rerr.status), slog.String("field", rerr.field), slog.String("error", rerr.msg))
	s.refused(rerr.status)
	WriteError(w, rerr.status, rerr.response())
}

// unavailable renders a 503 with Retry-After: the server is not ready.
func (s *Server) unavailable(w http.ResponseWriter, msg string) {
	s.refused(http.StatusServiceUnavailable)
	w.Header().Set("Retry-After", s.retryAfter)
	WriteError(w, http.StatusServiceUnavailable, &ErrorResponse{Error: msg})
}

// publish hands events to the bus and renders the outcome.
func (s *Server) publish(w http.ResponseWriter, r *http.Request, events []*event.Event, batch bool) {
	if rerr := checkEventTypes(r, events, batch); rerr != nil {
		s.denied(r, credentialOf(r.Context()).name, "event_type")
		s.refuse(w, r, rerr)
		return
	}
	ctx := r.Context()
	if r.Header.Get("Traceparent") != "" {
		// The request's W3C trace context reaches the Publisher as ctx's
		// span context: the parent of events that carry none themselves.
		ctx = propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
	}
	acks, err := s.pub.PublishBatch(ctx, events, nil)
	n := min(len(acks), len(events))
	if err == nil && n < len(events) {
		err = fmt.Errorf("httpapi: the publisher accepted %d of %d events and returned no error", n, len(events))
	}
	ids := make([]string, n)
	var dups []int
	for i := range n {
		ids[i] = events[i].ID
		if acks[i].Duplicate {
			dups = append(dups, i)
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		for i := range n {
			s.log.LogAttrs(ctx, slog.LevelDebug, "event accepted", slog.String(logEventID, events[i].ID),
				slog.String(logEventType, events[i].Type), slog.Bool("duplicate", acks[i].Duplicate))
		}
	}
	if err == nil {
		if dups == nil {
			dups = []int{}
		}
		WriteJSON(w, http.StatusAccepted, Accepted{IDs: ids, Duplicates: dups})
		return
	}

	resp := &ErrorResponse{IDs: ids, Duplicates: dups}
	if batch {
		resp.Index = &n
	}
	refused := events[n]
	attrs := []slog.Attr{slog.String(logEventID, refused.ID), slog.String(logEventType, refused.Type),
		slog.Int("accepted", n), slog.Any("error", err)}
	where := ""
	if batch {
		where = " (batch element " + strconv.Itoa(n) + ")"
	}
	status := BusErrorStatus(err)
	switch bp, isBP := errors.AsType[*bus.BackpressureError](err); {
	case isBP:
		resp.Subscription = bp.Subscription
		resp.Error = fmt.Sprintf("subscription %q is full%s; retry after %ss", bp.Subscription, where, s.retryAfter)
		attrs = append(attrs, slog.String(logSubscription, bp.Subscription))
	case errors.Is(err, bus.ErrBackpressure):
		resp.Error = "a subscription is full" + where + "; retry after " + s.retryAfter + "s"
	case errors.Is(err, bus.ErrClosed):
		resp.Error = "the bus is closed (the daemon is draining)" + where + "; retry after " + s.retryAfter + "s"
	case errors.Is(err, bus.ErrUnavailable):
		resp.Error = "the broker cannot take events right now" + where + "; retry after " + s.retryAfter + "s (a repeat of an event stored meanwhile is dropped as a duplicate): " + err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		resp.Error = "the request ended before the events were published" + where + ": " + err.Error()
	case errors.Is(err, bus.ErrInvalidEvent):
		resp.Error = "the bus refused the event" + where + ": " + err.Error()
	default:
		status = http.StatusInternalServerError
		resp.Error = "publishing failed" + where + ": " + err.Error()
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", s.retryAfter)
	}
	level := slog.LevelWarn
	if status == http.StatusInternalServerError {
		level = slog.LevelError
	}
	s.log.LogAttrs(ctx, level, "ingest refused by the bus", attrs...)
	WriteError(w, status, resp)
}
