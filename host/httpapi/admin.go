package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/evhost/evhost/host/bus"
)

// Route is one endpoint that a part of the daemon offers: an
// http.ServeMux pattern such as "GET /v1/admin/dlq", its handler, and
// whether it is served without the bearer token (only endpoints whose
// answers hold no data, such as the status page's assets, or that the
// design leaves open, such as /metrics).
type Route struct {
	Pattern string
	Handler http.Handler
	Public  bool
	// Scope, when set, is the scope the route needs instead of its
	// method's (GET /v1/admin/config needs admin, not read).
	Scope string
}

// Routes is what a part of the daemon (the admin API, replay, metrics)
// implements to offer its endpoints; the daemon mounts each with Mount.
type Routes interface {
	Routes() []Route
}

// Mount mounts every route of rs, behind the token unless it is public. It
// panics as Handle does.
func (s *Server) Mount(rs Routes) {
	for _, r := range rs.Routes() {
		switch {
		case r.Public:
			s.HandlePublic(r.Pattern, r.Handler)
		case r.Scope != "":
			s.mux.Handle(r.Pattern, s.requireScope(r.Scope, r.Handler))
		default:
			s.Handle(r.Pattern, r.Handler)
		}
	}
}

// Protect returns h behind the server's guards (the Host header, requests
// of other sites' pages) and its tokens, with scope: for a handler served
// on a listener of its own, such as the profiles of [host] debug_listen.
func (s *Server) Protect(scope string, h http.Handler) http.Handler {
	inner := s.requireScope(scope, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.guard(w, r) {
			inner.ServeHTTP(w, r)
		}
	})
}

// Protected returns the routes of rs, all behind the token (the metrics
// with [host] protect_metrics).
func Protected(rs Routes) Routes { return protected{rs} }

type protected struct{ rs Routes }

func (p protected) Routes() []Route {
	routes := p.rs.Routes()
	for i := range routes {
		routes[i].Public = false
	}
	return routes
}

// RetryAfter is the Retry-After, in whole seconds, of the admin routes'
// 429 and 503 answers: DefaultRetryAfter, as ingest's by default.
var RetryAfter = strconv.FormatInt(int64((DefaultRetryAfter+time.Second-1)/time.Second), 10)

// BadQuery renders a 400 about the query parameter or path element field.
func BadQuery(w http.ResponseWriter, field, msg string) {
	WriteError(w, http.StatusBadRequest, &ErrorResponse{Error: msg, Field: field})
}

// NotFound renders a 404 saying msg.
func NotFound(w http.ResponseWriter, msg string) {
	WriteError(w, http.StatusNotFound, &ErrorResponse{Error: msg})
}

// QueryParams checks that the query of r has only the parameters allowed,
// each at most once, and returns them; it renders a 400 and returns false
// otherwise.
func QueryParams(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, bool) {
	q := r.URL.Query()
	out := make(map[string]string, len(q))
	for name, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			BadQuery(w, name, fmt.Sprintf("unknown query parameter %q (allowed: %v)", name, allowed))
			return nil, false
		}
		if len(vs) > 1 {
			BadQuery(w, name, fmt.Sprintf("query parameter %q is given %d times", name, len(vs)))
			return nil, false
		}
		out[name] = vs[0]
	}
	return out, true
}

// Page reads the paging parameters of a list: after, the position (what
// names it in the error, such as "a dead letter id") past which the page
// starts (0 when absent), and limit, from 1 to max (def when absent). It
// renders a 400 and returns false for a bad value.
func Page(w http.ResponseWriter, q map[string]string, what string, def, max int) (after uint64, limit int, ok bool) {
	limit = def
	if s, given := q["after"]; given {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			BadQuery(w, "after", fmt.Sprintf("after %q is not %s (an integer, 0 or more)", s, what))
			return 0, 0, false
		}
		after = n
	}
	if s, given := q["limit"]; given {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > max {
			BadQuery(w, "limit", fmt.Sprintf("limit %q is not an integer from 1 to %d", s, max))
			return 0, 0, false
		}
		limit = n
	}
	return after, limit, true
}

// BusErrorStatus maps an error of the bus to an HTTP status, for ingest and
// the admin routes alike: 429 for a full subscription; 503 for a closed
// bus, a broker that cannot answer now, or a request that ended; 400 for
// an event the bus refuses as invalid; 404 for what is not there; 500 for
// the rest.
func BusErrorStatus(err error) int {
	switch {
	case errors.Is(err, bus.ErrBackpressure):
		return http.StatusTooManyRequests
	case errors.Is(err, bus.ErrClosed), errors.Is(err, bus.ErrUnavailable),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, bus.ErrInvalidEvent):
		return http.StatusBadRequest
	case errors.Is(err, bus.ErrNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// WriteStatus renders resp with status, adding Retry-After to a 429 or a
// 503.
func WriteStatus(w http.ResponseWriter, status int, resp any) {
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfter)
	}
	WriteJSON(w, status, resp)
}

// BusError renders an error of the bus met by an admin request (the status
// of BusErrorStatus, Retry-After on a 429 or a 503, the full subscription
// named) and logs it on log: a warning, or an error for a 500.
func BusError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status := BusErrorStatus(err)
	resp := &ErrorResponse{Error: err.Error()}
	if bp, ok := errors.AsType[*bus.BackpressureError](err); ok {
		resp.Subscription = bp.Subscription
		resp.Error = fmt.Sprintf("subscription %q is full; retry after %ss: %v", bp.Subscription, RetryAfter, err)
	}
	level := slog.LevelWarn
	if status == http.StatusInternalServerError {
		level = slog.LevelError
	}
	log.LogAttrs(r.Context(), level, "admin request failed",
		slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("error", err))
	WriteStatus(w, status, resp)
}
