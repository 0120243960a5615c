package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/runlog"
)

// traceDeadLetters caps the dead letters read for one event.
const traceDeadLetters = 100

// ErrNotFound is wrapped by the errors of Trace for an event id that no
// run record and no dead letter knows.
var ErrNotFound = errors.New("admin: not found")

// Trace returns the tree of events and handler runs that the event id
// caused, from the run records and the dead letters: the event's runs per
// subscription, and, under it, every event its successful runs emitted,
// recursively, down to api.MaxTraceDepth generations. An id that no run record
// and no dead letter knows gives ErrNotFound (wrapped). Call FlushRuns
// first to see runs that just ended.
func Trace(ctx context.Context, runs runlog.Store, dls DeadLetterLister, id string) (*api.TraceNode, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty event id", ErrNotFound)
	}
	t := tracer{runs: runs, dls: dls, seen: map[string]bool{id: true}}
	root := &api.TraceNode{ID: id}
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
	runs  runlog.Store
	dls   DeadLetterLister
	seen  map[string]bool // event ids in the tree: a cycle guard
	nodes int
}

// fill completes n (whose ID, and Type, Source and Time when known, are
// set) at depth below the root: its runs, dead letters and children. It
// reports whether any record or dead letter knows the event.
func (t *tracer) fill(ctx context.Context, n *api.TraceNode, depth int) (bool, error) {
	t.nodes++
	recs, err := t.runs.ByEvent(ctx, n.ID)
	if err != nil {
		return false, fmt.Errorf("admin: trace: run records of %q: %w", n.ID, err)
	}
	dls, err := t.dls.DeadLetters(ctx, bus.DeadLetterFilter{EventID: n.ID, Limit: traceDeadLetters})
	if err != nil {
		return false, fmt.Errorf("admin: trace: dead letters of %q: %w", n.ID, err)
	}
	n.Runs = []api.TraceRun{}
	n.Children = []*api.TraceNode{}
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
			n.Runs = append(n.Runs, api.TraceRun{Subscription: r.Subscription, Webhook: webhook})
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
		n.DeadLetters = append(n.DeadLetters, api.TraceDeadLetter{
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
		if depth+1 > api.MaxTraceDepth || t.nodes >= api.MaxTraceNodes {
			n.Truncated = true
			break
		}
		t.seen[e.ID] = true
		c := &api.TraceNode{ID: e.ID, Type: e.Type, Source: e.Source, EmittedBy: ch.sub}
		if !e.Time.IsZero() {
			tm := e.Time.UTC()
			c.Time = &tm
		}
		if at, ok := event.DeliverAt(e); ok {
			at = at.UTC()
			c.DeliverAt = &at
		}
		if _, err := t.fill(ctx, c, depth+1); err != nil {
			return found, err
		}
		n.Children = append(n.Children, c)
	}
	return found, nil
}

// traceAttempt converts a run record for a trace.
func traceAttempt(r *runlog.Record) api.TraceAttempt {
	a := api.TraceAttempt{
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

// DeadLetterLister is the part of bus.Bus that a trace and the status
// read: the dead letters.
type DeadLetterLister interface {
	DeadLetters(ctx context.Context, f bus.DeadLetterFilter) ([]bus.DeadLetter, error)
}

// Traces offers GET /v1/events/{id}/trace: the trace tree of an event.
type Traces struct {
	Runs        runlog.Store
	DeadLetters DeadLetterLister
	// Flush, if set, waits until the run records of the runs reported so
	// far are stored, so that a trace shows runs that just ended.
	Flush  func(context.Context) error
	Logger *slog.Logger
}

var _ httpapi.Routes = (*Traces)(nil)

// Routes implements httpapi.Routes.
func (t *Traces) Routes() []httpapi.Route {
	return []httpapi.Route{{Pattern: "GET /v1/events/{id}/trace", Handler: http.HandlerFunc(t.serve)}}
}

// serve is GET /v1/events/{id}/trace: the trace tree of the event id, as
// JSON (an api.TraceNode); 404 when no record knows the id.
func (t *Traces) serve(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.QueryParams(w, r); !ok {
		return
	}
	id := r.PathValue("id")
	if t.Flush != nil {
		if err := t.Flush(r.Context()); err != nil {
			t.Logger.LogAttrs(r.Context(), slog.LevelWarn, "trace: flushing run records", slog.Any("error", err))
		}
	}
	tree, err := Trace(r.Context(), t.Runs, t.DeadLetters, id)
	switch {
	case errors.Is(err, ErrNotFound):
		httpapi.NotFound(w, fmt.Sprintf("no run and no dead letter of event %q", id))
	case err != nil:
		t.Logger.LogAttrs(r.Context(), slog.LevelError, "trace failed", slog.String("event_id", id), slog.Any("error", err))
		httpapi.WriteStatus(w, httpapi.BusErrorStatus(err), &api.ErrorResponse{Error: err.Error()})
	default:
		httpapi.WriteJSON(w, http.StatusOK, tree)
	}
}
