package webhooks

import (
	"fmt"
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
