package webhooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/runlog"
)

// Routes implements httpapi.Routes: the webhook routes of the admin API,
// behind the token.
func (s *Set) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "GET /v1/webhooks", Handler: http.HandlerFunc(s.serveList)},
		{Pattern: "POST /v1/admin/webhooks/{name}/enable", Handler: http.HandlerFunc(s.serveEnable)},
		{Pattern: "GET /v1/webhooks/{name}/deliveries", Handler: http.HandlerFunc(s.serveDeliveries)},
	}
}

// serveList is GET /v1/webhooks.
func (s *Set) serveList(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": s.Webhooks()})
}

// serveEnable is POST /v1/admin/webhooks/{name}/enable.
func (s *Set) serveEnable(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	was, err := s.Enable(name)
	if err != nil {
		httpapi.NotFound(w, err.Error())
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"name": name, "enabled": true, "was_disabled": was})
}

// serveDeliveries is GET /v1/webhooks/{name}/deliveries?after=SEQ&limit=N:
// the webhook's attempts, oldest first, from its run records.
func (s *Set) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.known(name) {
		httpapi.NotFound(w, fmt.Sprintf("no webhook %q", name))
		return
	}
	q, ok := httpapi.QueryParams(w, r, "after", "limit")
	if !ok {
		return
	}
	f := runlog.Filter{Subscription: name}
	var limit int
	if f.After, limit, ok = httpapi.Page(w, q, "a delivery seq", api.DefaultDeliveryPage, api.MaxDeliveryPage); !ok {
		return
	}
	page := api.DeliveryPage{Deliveries: []api.Delivery{}}
	if s.opts.Runs == nil {
		httpapi.WriteJSON(w, http.StatusOK, page)
		return
	}
	// The subscription's records are of two kinds (the dispatcher's
	// delivery record and the webhook's attempt record, per attempt):
	// read on until the page is full or the records end.
	for len(page.Deliveries) <= limit {
		f.Limit = 2 * (limit + 1)
		recs, err := s.opts.Runs.List(r.Context(), f)
		if err != nil {
			httpapi.WriteStatus(w, http.StatusServiceUnavailable, &api.ErrorResponse{Error: fmt.Sprintf("listing the run records of %q: %v", name, err)})
			return
		}
		for i := range recs {
			if recs[i].Kind == runlog.KindWebhook {
				page.Deliveries = append(page.Deliveries, deliveryOf(&recs[i]))
			}
		}
		if len(recs) < f.Limit {
			break
		}
		f.After = recs[len(recs)-1].Seq
	}
	if len(page.Deliveries) > limit {
		page.Deliveries = page.Deliveries[:limit]
		page.NextAfter = page.Deliveries[limit-1].Seq
	}
	httpapi.WriteJSON(w, http.StatusOK, page)
}

func deliveryOf(r *runlog.Record) api.Delivery {
	d := api.Delivery{
		Seq: r.Seq, EventID: r.EventID, EventType: r.EventType, Attempt: r.Attempt, Start: r.Start,
		LatencyMS: float64(r.Duration) / float64(time.Millisecond), Outcome: r.Status, Error: r.Reason,
	}
	if rest, ok := strings.CutPrefix(r.Reason, "HTTP "); ok {
		digits, tail, _ := strings.Cut(rest, ":")
		if n, err := strconv.Atoi(strings.TrimSpace(digits)); err == nil {
			d.HTTPStatus = n
			d.Error = strings.TrimSpace(tail)
		}
	}
	return d
}

// Routes implements httpapi.Routes: the creation and deletion of webhooks
// over the admin API (the list is the Set's GET /v1/webhooks).
func (r *Runtime) Routes() []httpapi.Route {
	return []httpapi.Route{
		{Pattern: "POST /v1/admin/webhooks", Handler: http.HandlerFunc(r.serveCreate)},
		{Pattern: "DELETE /v1/admin/webhooks/{name}", Handler: http.HandlerFunc(r.serveDelete)},
	}
}

// inProcessWarning is the warning of a creation on the memory broker.
const inProcessWarning = "the broker is \"memory\": this webhook lives in this daemon's process only; it is lost when the daemon stops, and no other daemon serves it"

// serveCreate is POST /v1/admin/webhooks: 201 and api.CreatedWebhook;
// 400 for an invalid webhook, 409 for a name of config.toml, a name
// already created, or past api.MaxRuntimeWebhooks.
func (r *Runtime) serveCreate(w http.ResponseWriter, req *http.Request) {
	if _, ok := httpapi.QueryParams(w, req); !ok {
		return
	}
	var nw api.NewWebhook
	dec := json.NewDecoder(http.MaxBytesReader(w, req.Body, api.MaxNewWebhookBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nw); err != nil {
		msg := "the body is not a webhook's JSON object (name, url, events, secret, headers, timeout, filter): " + err.Error()
		if big := new(http.MaxBytesError); errors.As(err, &big) {
			msg = fmt.Sprintf("the body is over %d bytes", api.MaxNewWebhookBytes)
		}
		httpapi.WriteError(w, http.StatusBadRequest, &api.ErrorResponse{Error: msg, Field: "body"})
		return
	}
	if dec.More() {
		httpapi.WriteError(w, http.StatusBadRequest, &api.ErrorResponse{Error: "the body holds more than one JSON value", Field: "body"})
		return
	}
	rec, made, err := r.Create(req.Context(), &nw)
	if err != nil {
		r.writeErr(w, req, nw.Name, err)
		return
	}
	out := api.CreatedWebhook{WebhookInfo: rec.info()}
	if made {
		out.Secret = rec.Secret
	}
	if r.opts.InProcess {
		out.Warning = inProcessWarning
	}
	httpapi.WriteJSON(w, http.StatusCreated, out)
}

// serveDelete is DELETE /v1/admin/webhooks/{name}: 200 when deleted, 404
// when no webhook of that name was created over the API, 409 for a
// webhook of config.toml.
func (r *Runtime) serveDelete(w http.ResponseWriter, req *http.Request) {
	if _, ok := httpapi.QueryParams(w, req); !ok {
		return
	}
	name := req.PathValue("name")
	if err := r.Delete(req.Context(), name); err != nil {
		r.writeErr(w, req, name, err)
		return
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]string{"deleted": name})
}

func (r *Runtime) writeErr(w http.ResponseWriter, req *http.Request, name string, err error) {
	status := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, ErrConfig), errors.Is(err, ErrExists):
		status = http.StatusConflict
	case errors.Is(err, ErrNotFound):
		status = http.StatusNotFound
	default:
		r.opts.Logger.LogAttrs(req.Context(), slog.LevelError, "webhooks created over the API", slog.String("webhook", name), slog.Any("err", err))
	}
	httpapi.WriteError(w, status, &api.ErrorResponse{Error: err.Error(), Subscription: name})
}

// info is the webhook as GET /v1/webhooks shows it, without its secret.
func (rec *Record) info() api.WebhookInfo {
	return api.WebhookInfo{Name: rec.Name, URL: api.RedactURL(rec.URL), Events: rec.Events, Enabled: true,
		Source: api.WebhookFromAPI, Created: rec.Created}
}
