package host

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
	"github.com/evhost/evhost/host/netguard"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/telemetry"
	"github.com/evhost/evhost/host/webhook"
)

// Pages of GET /v1/webhooks/{name}/deliveries.
const (
	DefaultDeliveryPage = 100
	MaxDeliveryPage     = 1000
)

// maxWebhookResponse is the guarded client's cap on an answer's body. The
// endpoint reads at most 64KiB of it and drops the rest, so the cap is set
// high: the guard refuses an answer whose Content-Length is over it before
// its status is seen, and a 2xx with a large body is still a delivery.
const maxWebhookResponse = 1 << 50

// webhookSet holds the endpoints of the [[webhooks]] entries by name,
// across config reloads: an entry whose url, secret, headers and timeout
// are unchanged keeps its endpoint, and so its disabled state; a changed
// one gets a new, enabled endpoint. The zero value is ready. Its lock is
// its own: it never takes Host.mu, so it may be used under it.
type webhookSet struct {
	mu  sync.Mutex
	eps map[string]*webhookEntry
}

type webhookEntry struct {
	cfg config.Webhook // what ep was built from
	ep  *webhook.Endpoint
	err error // why no endpoint could be built
}

// sameEndpoint reports whether a and b build the same endpoint; events and
// delivery limits are the subscription's, applied by the dispatcher.
func sameEndpoint(a, b *config.Webhook) bool {
	return a.URL == b.URL && a.Secret.Value() == b.Secret.Value() &&
		maps.Equal(a.Headers, b.Headers) && a.Timeout == b.Timeout
}

// webhookRoutes returns the subscriptions of the enabled webhooks of cfg,
// each named after its entry, with its delivery limits. It may be called
// with h.mu held.
func (h *Host) webhookRoutes(cfg *config.Config) []dispatch.Route {
	var rs []dispatch.Route
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		if !w.Enabled {
			continue
		}
		r := h.route(w.Name, w.Events, w.DeliveryLimits)
		r.Handler = h.tracer.Wrap(w.Name, telemetry.KindWebhook, h.webhookHandler(w, cfg.Host.AllowNetworks))
		rs = append(rs, r)
	}
	return rs
}

// webhookHandler returns the endpoint of w, built now if w is new or
// changed. An entry whose endpoint cannot be built (the config validates
// what New checks, so this is a bug) dead-letters its events with why.
func (h *Host) webhookHandler(w *config.Webhook, allow []netip.Prefix) dispatch.Handler {
	s := &h.hooks
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.eps == nil {
		s.eps = map[string]*webhookEntry{}
	}
	e := s.eps[w.Name]
	if e == nil || !sameEndpoint(&e.cfg, w) {
		e = &webhookEntry{cfg: *w}
		e.ep, e.err = h.newEndpoint(w, allow)
		if e.err != nil {
			h.log.Error("webhook endpoint not usable; its events are dead-lettered", slog.String("webhook", w.Name), slog.Any("err", e.err))
		}
		s.eps[w.Name] = e
	}
	if e.err != nil {
		reason := "webhook endpoint not usable: " + e.err.Error()
		return dispatch.HandlerFunc(func(_ context.Context, _ *event.Event, _ int) dispatch.Outcome {
			return dispatch.Outcome{Status: dispatch.Reject, Reason: reason}
		})
	}
	return e.ep
}

// newEndpoint builds the endpoint of w, sending through the SSRF guard
// (allow, [host] allow_networks, lets some forbidden networks through).
func (h *Host) newEndpoint(w *config.Webhook, allow []netip.Prefix) (*webhook.Endpoint, error) {
	secrets, err := webhook.ParseSecrets(w.Secret.Value())
	if err != nil {
		return nil, fmt.Errorf("host: webhook %q: %w", w.Name, err)
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = webhook.DefaultTimeout
	}
	client := netguard.New(netguard.Options{
		Allow:            allow,
		MaxResponseBytes: maxWebhookResponse,
		// The endpoint's own deadline (its context) ends the request and
		// words the failure; the client's is a backstop.
		Timeout:      timeout + time.Second,
		MaxRedirects: -1, // a 3xx is the receiver's answer
	})
	ep, err := webhook.New(webhook.Options{
		Name: w.Name, URL: w.URL, Secrets: secrets, Headers: w.Headers, Timeout: timeout,
		Client: client, Logger: h.log, Observe: h.recordWebhook,
	})
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	return ep, nil
}

// endpoint returns the endpoint of the webhook name, or nil.
func (h *Host) endpoint(name string) *webhook.Endpoint {
	h.hooks.mu.Lock()
	defer h.hooks.mu.Unlock()
	if e := h.hooks.eps[name]; e != nil {
		return e.ep
	}
	return nil
}

// recordWebhook keeps one attempt as a run record of KindWebhook, whose
// Reason starts with "HTTP <status>" when the endpoint answered.
func (h *Host) recordWebhook(a webhook.Attempt) {
	h.metrics.webhook(a)
	if h.recorder == nil {
		return
	}
	reason := a.Outcome.Reason
	if a.HTTPStatus != 0 {
		status := "HTTP " + strconv.Itoa(a.HTTPStatus)
		switch {
		case reason == "":
			reason = status
		case !strings.HasPrefix(reason, status):
			reason = status + ": " + reason
		}
	}
	h.recorder.Add(&runlog.Record{
		Kind: runlog.KindWebhook, Subscription: a.Endpoint,
		EventID: a.Event.ID, EventSource: a.Event.Source, EventType: a.Event.Type,
		EventTime: a.Event.Time, Attempt: a.Attempt, Status: a.Outcome.Status.String(), Reason: reason,
		Start: a.Start, Duration: a.Latency,
	})
}

// WebhookInfo is a webhook as GET /v1/webhooks shows it.
type WebhookInfo struct {
	Name   string   `json:"name"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	// Enabled is the config's enabled key.
	Enabled bool `json:"enabled"`
	// Disabled is true after the endpoint answered 410 Gone, until it is
	// enabled again (POST /v1/admin/webhooks/{name}/enable); its events
	// are dead-lettered meanwhile.
	Disabled       bool      `json:"disabled"`
	DisabledSince  time.Time `json:"disabled_since,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
}

// Webhooks returns the config's webhooks and their endpoints' state.
func (h *Host) Webhooks() []WebhookInfo {
	h.mu.Lock()
	cfg := h.cfg
	h.mu.Unlock()
	out := make([]WebhookInfo, 0, len(cfg.Webhooks))
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		info := WebhookInfo{Name: w.Name, URL: w.URL, Events: w.Events, Enabled: w.Enabled}
		if ep := h.endpoint(w.Name); ep != nil && w.Enabled {
			st := ep.State()
			info.Disabled, info.DisabledSince, info.DisabledReason = st.Disabled, st.DisabledSince, st.DisabledReason
		}
		out = append(out, info)
	}
	return out
}

// EnableWebhook enables the endpoint of the webhook name after a 410 Gone
// disabled it; it reports whether it was disabled. The events
// dead-lettered meanwhile stay dead letters (retry them with the DLQ
// API).
func (h *Host) EnableWebhook(name string) (bool, error) {
	h.mu.Lock()
	enabled := false
	for i := range h.cfg.Webhooks {
		enabled = enabled || (h.cfg.Webhooks[i].Name == name && h.cfg.Webhooks[i].Enabled)
	}
	h.mu.Unlock()
	ep := h.endpoint(name)
	if ep == nil || !enabled {
		return false, fmt.Errorf("host: no enabled webhook %q", name)
	}
	return ep.Enable(), nil
}

// Delivery is one attempt of a webhook, as GET
// /v1/webhooks/{name}/deliveries shows it.
type Delivery struct {
	// Seq is the run record's position: page with after=Seq.
	Seq       uint64    `json:"seq"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type,omitempty"`
	Attempt   int       `json:"attempt"`
	Start     time.Time `json:"start"`
	LatencyMS float64   `json:"latency_ms"`
	// Outcome is done, retry or reject.
	Outcome string `json:"outcome"`
	// HTTPStatus is the answer's status, zero when there was none.
	HTTPStatus int `json:"http_status,omitempty"`
	// Error says why the attempt failed.
	Error string `json:"error,omitempty"`
}

// DeliveryPage is a page of a webhook's delivery log, oldest first.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
	// NextAfter, when not zero, is the after of the next page.
	NextAfter uint64 `json:"next_after,omitempty"`
}

func deliveryOf(r *runlog.Record) Delivery {
	d := Delivery{
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

// handleWebhooks mounts the webhook endpoints of the API.
func (h *Host) handleWebhooks() {
	h.api.Handle("GET /v1/webhooks", http.HandlerFunc(h.serveWebhooks))
	h.api.Handle("POST /v1/admin/webhooks/{name}/enable", http.HandlerFunc(h.serveEnableWebhook))
	h.api.Handle("GET /v1/webhooks/{name}/deliveries", http.HandlerFunc(h.serveDeliveries))
}

// serveWebhooks is GET /v1/webhooks.
func (h *Host) serveWebhooks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": h.Webhooks()})
}

// serveEnableWebhook is POST /v1/admin/webhooks/{name}/enable.
func (h *Host) serveEnableWebhook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	was, err := h.EnableWebhook(name)
	if err != nil {
		writeJSON(w, http.StatusNotFound, &httpapi.ErrorResponse{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "enabled": true, "was_disabled": was})
}

// serveDeliveries is GET /v1/webhooks/{name}/deliveries?after=SEQ&limit=N:
// the webhook's attempts, oldest first, from its run records.
func (h *Host) serveDeliveries(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	h.mu.Lock()
	known := false
	for i := range h.cfg.Webhooks {
		known = known || h.cfg.Webhooks[i].Name == name
	}
	h.mu.Unlock()
	if !known {
		writeJSON(w, http.StatusNotFound, &httpapi.ErrorResponse{Error: fmt.Sprintf("no webhook %q", name)})
		return
	}
	q, ok := queryParams(w, r, "after", "limit")
	if !ok {
		return
	}
	f := runlog.Filter{Subscription: name}
	if s, ok := q["after"]; ok {
		after, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			badQuery(w, "after", fmt.Sprintf("after %q is not a delivery seq (an integer, 0 or more)", s))
			return
		}
		f.After = after
	}
	limit := DefaultDeliveryPage
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxDeliveryPage {
			badQuery(w, "limit", fmt.Sprintf("limit %q is not an integer from 1 to %d", s, MaxDeliveryPage))
			return
		}
		limit = n
	}
	page := DeliveryPage{Deliveries: []Delivery{}}
	// The subscription's records are of two kinds (the dispatcher's
	// delivery record and the webhook's attempt record, per attempt):
	// read on until the page is full or the records end.
	for len(page.Deliveries) <= limit {
		f.Limit = 2 * (limit + 1)
		recs, err := h.runStore.List(r.Context(), f)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, &httpapi.ErrorResponse{Error: fmt.Sprintf("listing the run records of %q: %v", name, err)})
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
	writeJSON(w, http.StatusOK, page)
}
