package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/httpapi"
)

// Subscriptions offers the subscription routes: GET /v1/subscriptions (the
// list), POST /v1/admin/subscriptions/{name}/pause and /resume, and DELETE
// /v1/admin/subscriptions/{name}, the explicit act that drops a
// subscription's position and the events it holds. A disabled or removed
// plugin or webhook keeps its subscription (enabled again, it handles what
// arrived meanwhile); only DELETE deletes it.
type Subscriptions struct {
	// List returns the subscriptions, with their state and counters.
	List func() []api.SubscriptionStatus
	// Pause and Resume pause and resume the subscription name for every
	// consumer (bus.ErrNotFound when there is none).
	Pause, Resume func(ctx context.Context, name string) error
	// Delete deletes the subscription name of a route that is not running
	// (dispatch.ErrRunning otherwise, bus.ErrNotFound when there is none).
	Delete func(ctx context.Context, name string) error
	Logger *slog.Logger
}

var _ httpapi.Routes = (*Subscriptions)(nil)

// Routes implements httpapi.Routes.
func (s *Subscriptions) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /v1/subscriptions", Handler: http.HandlerFunc(s.serveList)},
		{Pattern: "POST /v1/admin/subscriptions/{name}/pause", Handler: s.servePause(true)},
		{Pattern: "POST /v1/admin/subscriptions/{name}/resume", Handler: s.servePause(false)},
		{Pattern: "DELETE /v1/admin/subscriptions/{name}", Handler: http.HandlerFunc(s.serveDelete)},
	}
}

// serveList is GET /v1/subscriptions.
func (s *Subscriptions) serveList(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.QueryParams(w, r); !ok {
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"subscriptions": s.List()})
}

// servePause is POST /v1/admin/subscriptions/{name}/pause (or /resume):
// 200 {"name": ..., "paused": ...}, 404 when there is no such
// subscription.
func (s *Subscriptions) servePause(pause bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := httpapi.QueryParams(w, r); !ok {
			return
		}
		name, ok := subscriptionName(w, r)
		if !ok {
			return
		}
		f := s.Resume
		if pause {
			f = s.Pause
		}
		switch err := f(r.Context(), name); {
		case err == nil:
			httpapi.WriteJSON(w, http.StatusOK, map[string]any{"name": name, "paused": pause})
		case errors.Is(err, bus.ErrNotFound):
			httpapi.NotFound(w, fmt.Sprintf("no subscription %q", name))
		default:
			httpapi.BusError(w, r, s.Logger, err)
		}
	})
}

// subscriptionName returns the {name} path element of r; it renders a 400
// and returns false when it is not a valid subscription name.
func subscriptionName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if !bus.ValidName(name) {
		httpapi.BadQuery(w, "path", fmt.Sprintf("subscription %q is not a valid name (1 to 64 of A-Z a-z 0-9 _ -)", name))
		return "", false
	}
	return name, true
}

// serveDelete is DELETE /v1/admin/subscriptions/{name}: 200 when deleted,
// 409 while the subscription runs (disable or remove it in the config
// first), 404 when there is none.
func (s *Subscriptions) serveDelete(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpapi.QueryParams(w, r); !ok {
		return
	}
	name, ok := subscriptionName(w, r)
	if !ok {
		return
	}
	err := s.Delete(r.Context(), name)
	switch {
	case err == nil:
		s.Logger.LogAttrs(r.Context(), slog.LevelWarn, "subscription deleted: its events and position are dropped", slog.String("subscription", name))
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"deleted": name})
	case errors.Is(err, dispatch.ErrRunning):
		httpapi.WriteError(w, http.StatusConflict, &api.ErrorResponse{Error: err.Error(), Subscription: name})
	case errors.Is(err, bus.ErrNotFound):
		httpapi.NotFound(w, fmt.Sprintf("no subscription %q", name))
	default:
		httpapi.BusError(w, r, s.Logger, err)
	}
}
