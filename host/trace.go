package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/runlog"
)

// Bounds of a trace tree.
const (
	// MaxTraceDepth is the number of generations below the root that a
	// trace follows; deeper events are left out and their parent says
	// "truncated".
	MaxTraceDepth = 32
	// MaxTraceNodes caps the events of one trace tree.
	MaxTraceNodes = 10_000
	// traceDeadLetters caps the dead letters read for one event.
	traceDeadLetters = 100
)

// ErrNotFound is wrapped by the errors of Trace for an event id that no
// run record and no dead letter knows.
var ErrNotFound = errors.New("host: not found")

// TraceNode is one event of a trace tree: the event, the runs of every
// subscription that handled it, its dead letters, and the events that its
// successful runs emitted, each a TraceNode in turn.
type TraceNode struct {
	// ID, Type and Source identify the event. Type and Source may be
	// empty for the root when no record carries them.
	ID     string `json:"id"`
	Type   string `json:"type,omitempty"`
	Source string `json:"source,omitempty"`
	// Time is the event's time, when known: from the emit that published
	// it, a run record, or a dead letter's copy of it.
	Time *time.Time `json:"time,omitempty"`
	// EmittedBy is the subscription whose run emitted the event; empty
	// for the root.
	EmittedBy string `json:"emitted_by,omitempty"`
	// Runs are the event's runs, one entry per subscription (plugin,
	// native handler or webhook), in the order their first attempt was
	// recorded.
	Runs []TraceRun `json:"runs"`
	// DeadLetters are the event's dead letters, oldest first.
	DeadLetters []TraceDeadLetter `json:"dead_letters,omitempty"`
	// Children are the events emitted by the event's successful runs,
	// each once (a replayed or redelivered run emits the same ids), in
	// the order they were recorded.
	Children []*TraceNode `json:"children"`
	// Truncated says that children were left out: the tree reached
	// MaxTraceDepth or MaxTraceNodes, or a run record was truncated by its
	// store and lost emits.
	Truncated bool `json:"truncated,omitempty"`
}

// TraceRun is the runs of one subscription on one event: every attempt.
type TraceRun struct {
	// Subscription is the name of the plugin, native handler or webhook.
	Subscription string `json:"subscription"`
	// Webhook is true when the subscription is a webhook endpoint: its
	// attempts are HTTP deliveries.
	Webhook bool `json:"webhook,omitempty"`
	// Status is "done" if any attempt (a live delivery or a replay) was
	// done, else the status of the last attempt.
	Status string `json:"status"`
	// Attempts are the attempts in the order they were recorded.
	Attempts []TraceAttempt `json:"attempts"`
}

// TraceAttempt is one run record of a subscription on an event.
type TraceAttempt struct {
	// Kind is runlog.KindDelivery, KindReplay, KindShadow or KindWebhook.
	Kind string `json:"kind"`
	// Attempt is the delivery attempt, from 1.
	Attempt int `json:"attempt"`
	// Status is done, retry or reject; Reason why it failed.
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	// HTTPStatus is the endpoint's answer to a webhook delivery, when it
	// answered.
	HTTPStatus int `json:"http_status,omitempty"`
	// Plugin and Version are the plugin that ran and the hash of its
	// version (empty for a native handler or a webhook).
	Plugin  string `json:"plugin,omitempty"`
	Version string `json:"version,omitempty"`
	// Start is when the attempt started; DurationNS how long it took, in
	// nanoseconds (as in the run records' JSON).
	Start      time.Time `json:"start"`
	DurationNS int64     `json:"duration_ns"`
	// Emits counts the events the attempt emitted (published only if it
	// was done and not a shadow run).
	Emits int `json:"emits,omitempty"`
}

// TraceDeadLetter is a dead letter of an event in its trace.
type TraceDeadLetter struct {
	ID           uint64    `json:"id"`
	Subscription string    `json:"subscription"`
	Reason       string    `json:"reason"`
	Attempts     int       `json:"attempts"`
	Terminated   bool      `json:"terminated"`
	Time         time.Time `json:"time"`
}

// Trace returns the tree of events and handler runs that the event id
// caused, from the run records and the dead letters: the event's runs per
// subscription, and, under it, every event its successful runs emitted,
// recursively, down to MaxTraceDepth generations. An id that no run record
// and no dead letter knows gives ErrNotFound (wrapped). Call FlushRuns
// first to see runs that just ended.
func (h *Host) Trace(ctx context.Context, id string) (*TraceNode, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty event id", ErrNotFound)
	}
	t := tracer{h: h, seen: map[string]bool{id: true}}
	root := &TraceNode{ID: id}
	found, err := t.fill(ctx, root, 0)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: no run and no dead letter of event %q", ErrNotFound, id)
	}
	return root, nil
}

// tracer builds one trace tree.
type tracer struct {
	h     *Host
	seen  map[string]bool // event ids in the tree: a cycle guard
	nodes int
}

// fill completes n (whose ID, and Type, Source and Time when known, are
// set) at depth below the root: its runs, dead letters and children. It
// reports whether any record or dead letter knows the event.
func (t *tracer) fill(ctx context.Context, n *TraceNode, depth int) (bool, error) {
	t.nodes++
	recs, err := t.h.runStore.ByEvent(ctx, n.ID)
	if err != nil {
		return false, fmt.Errorf("host: trace: run records of %q: %w", n.ID, err)
	}
	dls, err := t.h.bus.DeadLetters(ctx, bus.DeadLetterFilter{EventID: n.ID, Limit: traceDeadLetters})
	if err != nil {
		return false, fmt.Errorf("host: trace: dead letters of %q: %w", n.ID, err)
	}
	n.Runs = []TraceRun{}
	n.Children = []*TraceNode{}
	type child struct {
		ev  *event.Event
		sub string
	}
	var children []child
	byKey := map[string]int{} // webhook flag + subscription -> index in n.Runs
	for i := range recs {
		r := &recs[i]
		if n.Type == "" {
			n.Type = r.EventType
		}
		if n.Source == "" {
			n.Source = r.EventSource
		}
		if n.Time == nil && !r.EventTime.IsZero() {
			tm := r.EventTime.UTC()
			n.Time = &tm
		}
		webhook := r.Kind == runlog.KindWebhook
		key := strconv.FormatBool(webhook) + "/" + r.Subscription
		j, ok := byKey[key]
		if !ok {
			j = len(n.Runs)
			byKey[key] = j
			n.Runs = append(n.Runs, TraceRun{Subscription: r.Subscription, Webhook: webhook})
		}
		run := &n.Runs[j]
		run.Attempts = append(run.Attempts, traceAttempt(r))
		if r.Kind != runlog.KindShadow && run.Status != runlog.StatusDone {
			run.Status = r.Status
		}
		if r.Status == runlog.StatusDone && r.Kind != runlog.KindShadow {
			for _, e := range r.Emits {
				children = append(children, child{e, r.Subscription})
			}
			n.Truncated = n.Truncated || r.Truncated
		}
	}
	for i := range n.Runs {
		// A subscription with shadow runs only.
		if n.Runs[i].Status == "" {
			n.Runs[i].Status = n.Runs[i].Attempts[len(n.Runs[i].Attempts)-1].Status
		}
	}
	for i := range dls {
		dl := &dls[i]
		n.DeadLetters = append(n.DeadLetters, TraceDeadLetter{
			ID: dl.ID, Subscription: dl.Subscription, Reason: dl.Reason,
			Attempts: dl.Attempts, Terminated: dl.Terminated, Time: dl.Time.UTC(),
		})
		if ev := dl.Event; ev != nil {
			if n.Type == "" {
				n.Type = ev.Type
			}
			if n.Source == "" {
				n.Source = ev.Source
			}
			if n.Time == nil && !ev.Time.IsZero() {
				tm := ev.Time.UTC()
				n.Time = &tm
			}
		}
	}
	found := len(recs) > 0 || len(dls) > 0
	for _, ch := range children {
		e := ch.ev
		if t.seen[e.ID] {
			continue
		}
		if depth+1 > MaxTraceDepth || t.nodes >= MaxTraceNodes {
			n.Truncated = true
			break
		}
		t.seen[e.ID] = true
		c := &TraceNode{ID: e.ID, Type: e.Type, Source: e.Source, EmittedBy: ch.sub}
		if !e.Time.IsZero() {
			tm := e.Time.UTC()
			c.Time = &tm
		}
		if _, err := t.fill(ctx, c, depth+1); err != nil {
			return found, err
		}
		n.Children = append(n.Children, c)
	}
	return found, nil
}

// traceAttempt converts a run record for a trace.
func traceAttempt(r *runlog.Record) TraceAttempt {
	a := TraceAttempt{
		Kind: r.Kind, Attempt: r.Attempt, Status: r.Status, Reason: r.Reason,
		Plugin: r.Plugin, Version: r.Version,
		Start: r.Start.UTC(), DurationNS: int64(r.Duration), Emits: len(r.Emits),
	}
	if a.Kind == "" {
		a.Kind = runlog.KindDelivery
	}
	if a.Kind == runlog.KindWebhook {
		a.HTTPStatus = httpStatusOf(r.Reason)
	}
	return a
}

// httpStatusOf returns the status of a webhook record's reason, which
// starts with "HTTP <status>" when the endpoint answered, or zero.
func httpStatusOf(reason string) int {
	rest, ok := strings.CutPrefix(reason, "HTTP ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(c rune) bool { return c < '0' || c > '9' })
	if end < 0 {
		end = len(rest)
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil || n < 100 || n > 999 {
		return 0
	}
	return n
}

// serveTrace is GET /v1/events/{id}/trace: the trace tree of the event id,
// as JSON (a TraceNode); 404 when no record knows the id.
func (h *Host) serveTrace(w http.ResponseWriter, r *http.Request) {
	if _, ok := queryParams(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if err := h.FlushRuns(r.Context()); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "trace: flushing run records", slog.Any("error", err))
	}
	tree, err := h.Trace(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, &httpapi.ErrorResponse{Error: fmt.Sprintf("no run and no dead letter of event %q", id)})
	case err != nil:
		status := busErrorStatus(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", adminRetryAfter)
		}
		h.log.LogAttrs(r.Context(), slog.LevelError, "trace failed", slog.String("event_id", id), slog.Any("error", err))
		writeJSON(w, status, &httpapi.ErrorResponse{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, tree)
	}
}

// handleTrace mounts GET /v1/events/{id}/trace on h.api, behind its
// token; h.mu is held.
func (h *Host) handleTrace() {
	h.api.Handle("GET /v1/events/{id}/trace", http.HandlerFunc(h.serveTrace))
}
