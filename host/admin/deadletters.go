package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

// DeadLetters offers the dead-letter routes of the admin API over a bus:
// list, show, and redrive one or all of a subscription's.
type DeadLetters struct {
	Bus    bus.Bus
	Logger *slog.Logger
}

var _ httpapi.Routes = (*DeadLetters)(nil)

// Routes implements httpapi.Routes.
func (d *DeadLetters) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /v1/admin/dlq", Handler: http.HandlerFunc(d.serveList)},
		{Pattern: "GET /v1/admin/dlq/{id}", Handler: http.HandlerFunc(d.serveOne)},
		{Pattern: "POST /v1/admin/dlq/{id}/retry", Handler: http.HandlerFunc(d.serveRedrive)},
		{Pattern: "POST /v1/admin/dlq/retry", Handler: http.HandlerFunc(d.serveRedriveAll)},
	}
}

// deadLetterInfo converts a bus dead letter for the API.
func deadLetterInfo(dl *bus.DeadLetter) api.DeadLetterInfo {
	info := api.DeadLetterInfo{
		ID:           dl.ID,
		Subscription: dl.Subscription,
		Reason:       dl.Reason,
		Attempts:     dl.Attempts,
		Terminated:   dl.Terminated,
		Time:         dl.Time.UTC(),
		Event:        json.RawMessage("null"),
	}
	if dl.Event != nil {
		info.Event = event.AppendJSON(nil, dl.Event)
	}
	return info
}

// subscriptionParam returns the subscription query parameter, checked; it
// renders a 400 and returns false when it is present and not a valid name,
// or absent and required.
func subscriptionParam(w http.ResponseWriter, q map[string]string, required bool) (string, bool) {
	s, ok := q["subscription"]
	switch {
	case !ok && !required:
		return "", true
	case !ok || s == "":
		httpapi.BadQuery(w, "subscription", "the subscription query parameter is required")
		return "", false
	case !bus.ValidName(s):
		httpapi.BadQuery(w, "subscription", fmt.Sprintf("subscription %q is not a valid name (1 to 64 of A-Z a-z 0-9 _ -)", s))
		return "", false
	}
	return s, true
}

// pathID returns the {id} path element of r; it renders a 400 and returns
// false when it is not a positive integer.
func pathID(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	s := r.PathValue("id")
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		httpapi.BadQuery(w, "path", fmt.Sprintf("dead letter id %q is not a positive integer", s))
		return 0, false
	}
	return id, true
}

// serveList is GET /v1/admin/dlq: the dead letters that the query
// selects (subscription, event_id), a page of limit of them after the id
// after, oldest first.
func (d *DeadLetters) serveList(w http.ResponseWriter, r *http.Request) {
	q, ok := httpapi.QueryParams(w, r, "subscription", "event_id", "after", "limit")
	if !ok {
		return
	}
	f := bus.DeadLetterFilter{EventID: q["event_id"]}
	if f.Subscription, ok = subscriptionParam(w, q, false); !ok {
		return
	}
	if f.After, f.Limit, ok = httpapi.Page(w, q, "a dead letter id", api.DefaultDeadLetterPage, api.MaxDeadLetterPage); !ok {
		return
	}
	// One more than the page tells whether there is a next page.
	limit := f.Limit
	f.Limit++
	dls, err := d.Bus.DeadLetters(r.Context(), f)
	if err != nil {
		httpapi.BusError(w, r, d.Logger, fmt.Errorf("listing dead letters: %w", err))
		return
	}
	page := api.DeadLetterPage{DeadLetters: make([]api.DeadLetterInfo, 0, min(len(dls), limit))}
	if len(dls) > limit {
		dls = dls[:limit]
		page.NextAfter = dls[limit-1].ID
	}
	for i := range dls {
		page.DeadLetters = append(page.DeadLetters, deadLetterInfo(&dls[i]))
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

// deadLetter returns the dead letter id, or nil if there is none.
func (d *DeadLetters) deadLetter(ctx context.Context, id uint64) (*bus.DeadLetter, error) {
	dls, err := d.Bus.DeadLetters(ctx, bus.DeadLetterFilter{After: id - 1, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("reading dead letter %d: %w", id, err)
	}
	if len(dls) == 0 || dls[0].ID != id {
		return nil, nil
	}
	return &dls[0], nil
}

// serveOne is GET /v1/admin/dlq/{id}: one dead letter.
func (d *DeadLetters) serveOne(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	dl, err := d.deadLetter(r.Context(), id)
	switch {
	case err != nil:
		httpapi.BusError(w, r, d.Logger, err)
	case dl == nil:
		httpapi.NotFound(w, fmt.Sprintf("no dead letter %d", id))
	default:
		httpapi.WriteJSON(w, http.StatusOK, deadLetterInfo(dl))
	}
}

// serveRedrive is POST /v1/admin/dlq/{id}/retry: put the event of the
// dead letter id back into its subscription's queue, as a fresh event.
func (d *DeadLetters) serveRedrive(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	err := d.Bus.Redrive(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		// The dead letter is unknown, or kept because its subscription is
		// gone: say which.
		dl, lerr := d.deadLetter(ctx, id)
		switch {
		case lerr != nil:
			httpapi.BusError(w, r, d.Logger, lerr)
		case dl == nil:
			httpapi.NotFound(w, fmt.Sprintf("no dead letter %d", id))
		default:
			httpapi.WriteJSON(w, http.StatusConflict, &httpapi.ErrorResponse{
				Error:        fmt.Sprintf("dead letter %d cannot be redriven: its subscription %q no longer exists (the dead letter is kept): %v", id, dl.Subscription, err),
				Subscription: dl.Subscription,
			})
		}
		return
	}
	if err != nil {
		httpapi.BusError(w, r, d.Logger, fmt.Errorf("redriving dead letter %d: %w", id, err))
		return
	}
	d.Logger.LogAttrs(ctx, slog.LevelInfo, "dead letter redriven", slog.Uint64("dead_letter", id))
	httpapi.WriteJSON(w, http.StatusOK, map[string]uint64{"redriven": id})
}

// serveRedriveAll is POST /v1/admin/dlq/retry?subscription=S: redrive
// every dead letter of the subscription S that exists when the request
// begins (not those that the redriven events may cause), oldest first. It
// stops at the first refusal for a full queue (429, with the counts).
func (d *DeadLetters) serveRedriveAll(w http.ResponseWriter, r *http.Request) {
	q, ok := httpapi.QueryParams(w, r, "subscription")
	if !ok {
		return
	}
	sub, ok := subscriptionParam(w, q, true)
	if !ok {
		return
	}
	ctx := r.Context()
	// Take the ids first: a redriven event that fails again becomes a new
	// dead letter, with a greater id, which a cursor would reach and
	// redrive again, without end.
	var ids []uint64
	f := bus.DeadLetterFilter{Subscription: sub, Limit: api.MaxDeadLetterPage}
	for {
		dls, err := d.Bus.DeadLetters(ctx, f)
		if err != nil {
			httpapi.BusError(w, r, d.Logger, fmt.Errorf("listing the dead letters of %q: %w", sub, err))
			return
		}
		for i := range dls {
			ids = append(ids, dls[i].ID)
		}
		if len(dls) < f.Limit {
			break
		}
		f.After = dls[len(dls)-1].ID
	}
	rep := api.RedriveReport{Subscription: sub}
	var stop error
	for i, id := range ids {
		err := d.Bus.Redrive(ctx, id)
		switch {
		case err == nil:
			rep.Redriven++
			continue
		case errors.Is(err, bus.ErrNotFound):
			rep.NotFound++
			continue
		}
		rep.Remaining = len(ids) - i
		stop = fmt.Errorf("redriving dead letter %d: %w", id, err)
		break
	}
	attrs := []slog.Attr{slog.String("subscription", sub), slog.Int("redriven", rep.Redriven),
		slog.Int("not_found", rep.NotFound), slog.Int("remaining", rep.Remaining)}
	if stop == nil {
		d.Logger.LogAttrs(ctx, slog.LevelInfo, "dead letters redriven", attrs...)
		httpapi.WriteJSON(w, http.StatusOK, rep)
		return
	}
	status := httpapi.BusErrorStatus(stop)
	rep.Error = fmt.Sprintf("stopped after %d of %d dead letters: %v", len(ids)-rep.Remaining, len(ids), stop)
	d.Logger.LogAttrs(ctx, slog.LevelWarn, "redriving dead letters stopped", append(attrs, slog.Any("error", stop))...)
	httpapi.WriteStatus(w, status, rep)
}
