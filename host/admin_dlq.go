package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

// Limits of GET /v1/admin/dlq's limit parameter.
const (
	DefaultDeadLetterPage = 100
	MaxDeadLetterPage     = 1000
)

// DeadLetterInfo is a dead letter as the admin API shows it.
type DeadLetterInfo struct {
	// ID identifies the dead letter; IDs increase with time.
	ID uint64 `json:"id"`
	// Subscription is the name of the subscription that gave up on the
	// event: a plugin's or a native handler's.
	Subscription string `json:"subscription"`
	// Reason is the Term reason, or that of the last failed attempt.
	Reason string `json:"reason"`
	// Attempts is the number of deliveries made, the last one included.
	Attempts int `json:"attempts"`
	// Terminated is true when the handler rejected the event, false when
	// its attempts ran out.
	Terminated bool `json:"terminated"`
	// Time is when the event was dead-lettered (RFC 3339, nanoseconds).
	Time time.Time `json:"time"`
	// Event is the event in the CloudEvents JSON format (structured mode);
	// event.DecodeJSON decodes it.
	Event json.RawMessage `json:"event"`
}

// DeadLetterPage is the body of GET /v1/admin/dlq.
type DeadLetterPage struct {
	// DeadLetters are the dead letters selected, oldest first.
	DeadLetters []DeadLetterInfo `json:"dead_letters"`
	// NextAfter, when not zero, is the after parameter of the next page:
	// more dead letters match. It is zero on the last page.
	NextAfter uint64 `json:"next_after,omitempty"`
}

// RedriveReport is the body of POST /v1/admin/dlq/retry?subscription=S.
type RedriveReport struct {
	// Subscription is the subscription whose dead letters were redriven.
	Subscription string `json:"subscription"`
	// Redriven counts the dead letters whose events were put back into the
	// subscription's queue (and removed from the dead letters).
	Redriven int `json:"redriven"`
	// NotFound counts the dead letters that could not be redriven because
	// they had gone meanwhile (redriven by another request) or their
	// subscription no longer exists (they are kept).
	NotFound int `json:"not_found"`
	// Remaining counts the dead letters not tried because the request
	// stopped early (the subscription's queue filled up, the bus closed):
	// they are still dead letters; retry later.
	Remaining int `json:"remaining"`
	// Error says why the request stopped early, when it did.
	Error string `json:"error,omitempty"`
}

// deadLetterInfo converts a bus dead letter for the API.
func deadLetterInfo(dl *bus.DeadLetter) DeadLetterInfo {
	info := DeadLetterInfo{
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

// adminRetryAfter is the Retry-After of the admin API's 429 and 503 responses,
// the same as ingest's.
var adminRetryAfter = strconv.FormatInt(int64((httpapi.DefaultRetryAfter+time.Second-1)/time.Second), 10)

// badQuery renders a 400 about the query parameter or path element field.
func badQuery(w http.ResponseWriter, field, msg string) {
	writeJSON(w, http.StatusBadRequest, &httpapi.ErrorResponse{Error: msg, Field: field})
}

// queryParams checks that the query of r has only the parameters allowed,
// each at most once; it renders a 400 and returns false otherwise.
func queryParams(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, bool) {
	q := r.URL.Query()
	out := make(map[string]string, len(q))
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			badQuery(w, name, fmt.Sprintf("unknown query parameter %q (allowed: %v)", name, allowed))
			return nil, false
		}
		if len(vs) > 1 {
			badQuery(w, name, fmt.Sprintf("query parameter %q is given %d times", name, len(vs)))
			return nil, false
		}
		out[name] = vs[0]
	}
	return out, true
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
		badQuery(w, "subscription", "the subscription query parameter is required")
		return "", false
	case !bus.ValidName(s):
		badQuery(w, "subscription", fmt.Sprintf("subscription %q is not a valid name (1 to 64 of A-Z a-z 0-9 _ -)", s))
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
		badQuery(w, "path", fmt.Sprintf("dead letter id %q is not a positive integer", s))
		return 0, false
	}
	return id, true
}

// serveDeadLetters is GET /v1/admin/dlq: the dead letters that the query
// selects (subscription, event_id), a page of limit of them after the id
// after, oldest first.
func (h *Host) serveDeadLetters(w http.ResponseWriter, r *http.Request) {
	q, ok := queryParams(w, r, "subscription", "event_id", "after", "limit")
	if !ok {
		return
	}
	f := bus.DeadLetterFilter{EventID: q["event_id"], Limit: DefaultDeadLetterPage}
	if f.Subscription, ok = subscriptionParam(w, q, false); !ok {
		return
	}
	if s, ok := q["after"]; ok {
		after, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			badQuery(w, "after", fmt.Sprintf("after %q is not a dead letter id (an integer, 0 or more)", s))
			return
		}
		f.After = after
	}
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxDeadLetterPage {
			badQuery(w, "limit", fmt.Sprintf("limit %q is not an integer from 1 to %d", s, MaxDeadLetterPage))
			return
		}
		f.Limit = n
	}
	// One more than the page tells whether there is a next page.
	limit := f.Limit
	f.Limit++
	dls, err := h.bus.DeadLetters(r.Context(), f)
	if err != nil {
		h.busError(w, r, fmt.Errorf("listing dead letters: %w", err))
		return
	}
	page := DeadLetterPage{DeadLetters: make([]DeadLetterInfo, 0, min(len(dls), limit))}
	if len(dls) > limit {
		dls = dls[:limit]
		page.NextAfter = dls[limit-1].ID
	}
	for i := range dls {
		page.DeadLetters = append(page.DeadLetters, deadLetterInfo(&dls[i]))
	}
	writeJSON(w, http.StatusOK, page)
}

// deadLetter returns the dead letter id, or nil if there is none.
func (h *Host) deadLetter(ctx context.Context, id uint64) (*bus.DeadLetter, error) {
	dls, err := h.bus.DeadLetters(ctx, bus.DeadLetterFilter{After: id - 1, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("reading dead letter %d: %w", id, err)
	}
	if len(dls) == 0 || dls[0].ID != id {
		return nil, nil
	}
	return &dls[0], nil
}

// serveDeadLetter is GET /v1/admin/dlq/{id}: one dead letter.
func (h *Host) serveDeadLetter(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	dl, err := h.deadLetter(r.Context(), id)
	switch {
	case err != nil:
		h.busError(w, r, err)
	case dl == nil:
		writeJSON(w, http.StatusNotFound, &httpapi.ErrorResponse{Error: fmt.Sprintf("no dead letter %d", id)})
	default:
		writeJSON(w, http.StatusOK, deadLetterInfo(dl))
	}
}

// serveRedrive is POST /v1/admin/dlq/{id}/retry: put the event of the
// dead letter id back into its subscription's queue, as a fresh event.
func (h *Host) serveRedrive(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	err := h.bus.Redrive(ctx, id)
	if errors.Is(err, bus.ErrNotFound) {
		// The dead letter is unknown, or kept because its subscription is
		// gone: say which.
		dl, lerr := h.deadLetter(ctx, id)
		switch {
		case lerr != nil:
			h.busError(w, r, lerr)
		case dl == nil:
			writeJSON(w, http.StatusNotFound, &httpapi.ErrorResponse{Error: fmt.Sprintf("no dead letter %d", id)})
		default:
			writeJSON(w, http.StatusConflict, &httpapi.ErrorResponse{
				Error:        fmt.Sprintf("dead letter %d cannot be redriven: its subscription %q no longer exists (the dead letter is kept): %v", id, dl.Subscription, err),
				Subscription: dl.Subscription,
			})
		}
		return
	}
	if err != nil {
		h.busError(w, r, fmt.Errorf("redriving dead letter %d: %w", id, err))
		return
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "dead letter redriven", slog.Uint64("dead_letter", id))
	writeJSON(w, http.StatusOK, map[string]uint64{"redriven": id})
}

// serveRedriveAll is POST /v1/admin/dlq/retry?subscription=S: redrive
// every dead letter of the subscription S that exists when the request
// begins (not those that the redriven events may cause), oldest first. It
// stops at the first refusal for a full queue (429, with the counts).
func (h *Host) serveRedriveAll(w http.ResponseWriter, r *http.Request) {
	q, ok := queryParams(w, r, "subscription")
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
	f := bus.DeadLetterFilter{Subscription: sub, Limit: MaxDeadLetterPage}
	for {
		dls, err := h.bus.DeadLetters(ctx, f)
		if err != nil {
			h.busError(w, r, fmt.Errorf("listing the dead letters of %q: %w", sub, err))
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
	rep := RedriveReport{Subscription: sub}
	var stop error
	for i, id := range ids {
		err := h.bus.Redrive(ctx, id)
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
		h.log.LogAttrs(ctx, slog.LevelInfo, "dead letters redriven", attrs...)
		writeJSON(w, http.StatusOK, rep)
		return
	}
	status := busErrorStatus(stop)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", adminRetryAfter)
	}
	rep.Error = fmt.Sprintf("stopped after %d of %d dead letters: %v", len(ids)-rep.Remaining, len(ids), stop)
	h.log.LogAttrs(ctx, slog.LevelWarn, "redriving dead letters stopped", append(attrs, slog.Any("error", stop))...)
	writeJSON(w, status, rep)
}

// busErrorStatus maps an error of the bus to an HTTP status.
func busErrorStatus(err error) int {
	switch {
	case errors.Is(err, bus.ErrBackpressure):
		return http.StatusTooManyRequests
	case errors.Is(err, bus.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, bus.ErrClosed), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// busError renders an error of the bus: 429 for a full subscription and
// 503 for a closed bus (both with Retry-After), 500 otherwise.
func (h *Host) busError(w http.ResponseWriter, r *http.Request, err error) {
	status := busErrorStatus(err)
	resp := &httpapi.ErrorResponse{Error: err.Error()}
	if bp, ok := errors.AsType[*bus.BackpressureError](err); ok {
		resp.Subscription = bp.Subscription
		resp.Error = fmt.Sprintf("subscription %q is full; retry after %ss: %v", bp.Subscription, adminRetryAfter, err)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", adminRetryAfter)
	}
	level := slog.LevelWarn
	if status == http.StatusInternalServerError {
		level = slog.LevelError
	}
	h.log.LogAttrs(r.Context(), level, "admin dead-letter request failed",
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("error", err))
	writeJSON(w, status, resp)
}

// handleDeadLetters mounts the dead-letter routes on h.api, behind its
// token; h.mu is held.
func (h *Host) handleDeadLetters() {
	h.api.Handle("GET /v1/admin/dlq", http.HandlerFunc(h.serveDeadLetters))
	h.api.Handle("GET /v1/admin/dlq/{id}", http.HandlerFunc(h.serveDeadLetter))
	h.api.Handle("POST /v1/admin/dlq/{id}/retry", http.HandlerFunc(h.serveRedrive))
	h.api.Handle("POST /v1/admin/dlq/retry", http.HandlerFunc(h.serveRedriveAll))
}
