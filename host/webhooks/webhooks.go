package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/netguard"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/webhook"
)

// maxResponse is the guarded client's cap on an answer's body. The
// endpoint reads at most 64KiB of it and drops the rest, so the cap is set
// high: the guard refuses an answer whose Content-Length is over it before
// its status is seen, and a 2xx with a large body is still a delivery.
const maxResponse = 1 << 50

// Spec is one [[webhooks]] entry, or a webhook created over the API.
type Spec struct {
	Name    string
	URL     string
	Secret  string // whsec_ secrets, separated by spaces
	Headers map[string]string
	Timeout time.Duration
	Events  []string
	Enabled bool
	// FromAPI is true for a webhook created over the API, made at
	// Created; false for a [[webhooks]] entry.
	FromAPI bool
	Created time.Time
	// Route is the subscription's delivery settings; Subscriptions sets
	// its Name, Patterns, Kind and Handler.
	Route dispatch.Route
}

// sameEndpoint reports whether a and b build the same endpoint; events and
// delivery limits are the subscription's, applied by the dispatcher.
func sameEndpoint(a, b *Spec) bool {
	return a.URL == b.URL && a.Secret == b.Secret && maps.Equal(a.Headers, b.Headers) && a.Timeout == b.Timeout
}

// Options configure a Set.
type Options struct {
	// Specs returns the entries the daemon runs now (for the admin
	// routes). Required.
	Specs func() []Spec
	// Runs keeps the attempts' run records (and serves the delivery
	// log); Recorder appends them. Either may be nil.
	Runs     runlog.Store
	Recorder *runlog.Recorder
	// Counted, if set, is told every attempt: the endpoint and the HTTP
	// status of its answer (0: none).
	Counted func(endpoint string, httpStatus int)
	// Logger receives the endpoints' state changes; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Set holds the endpoints of the [[webhooks]] entries by name, across
// reloads: an entry whose url, secret, headers and timeout are unchanged
// keeps its endpoint, and so its disabled state; a changed one gets a new,
// enabled endpoint. It is safe for concurrent use.
type Set struct {
	opts Options

	mu  sync.Mutex
	eps map[string]*entry
}

type entry struct {
	spec Spec // what ep was built from
	ep   *webhook.Endpoint
	err  error // why no endpoint could be built
}

// New returns an empty Set.
func New(opts Options) *Set {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Set{opts: opts, eps: map[string]*entry{}}
}

// Subscriptions returns the dispatcher's routes of the enabled entries of specs, each
// named after its entry, with its delivery settings, served by its
// endpoint (built now if the entry is new or changed), sending through the
// SSRF guard (allow lets some forbidden networks through).
func (s *Set) Subscriptions(specs []Spec, allow []netip.Prefix) []dispatch.Route {
	var rs []dispatch.Route
	for i := range specs {
		w := &specs[i]
		if !w.Enabled {
			continue
		}
		r := w.Route
		r.Name, r.Patterns, r.Kind, r.Handler = w.Name, w.Events, api.KindWebhook, s.handler(w, allow)
		rs = append(rs, r)
	}
	return rs
}

// handler returns the endpoint of w, built now if w is new or changed. An
// entry whose endpoint cannot be built (the config validates what New
// checks, so this is a bug) dead-letters its events with why.
func (s *Set) handler(w *Spec, allow []netip.Prefix) dispatch.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.eps[w.Name]
	if e == nil || !sameEndpoint(&e.spec, w) {
		e = &entry{spec: *w}
		e.ep, e.err = s.newEndpoint(w, allow)
		if e.err != nil {
			s.opts.Logger.Error("webhook endpoint not usable; its events are dead-lettered", slog.String("webhook", w.Name), slog.Any("err", e.err))
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

// newEndpoint builds the endpoint of w, sending through the SSRF guard.
func (s *Set) newEndpoint(w *Spec, allow []netip.Prefix) (*webhook.Endpoint, error) {
	secrets, err := webhook.ParseSecrets(w.Secret)
	if err != nil {
		return nil, fmt.Errorf("webhooks: webhook %q: %w", w.Name, err)
	}
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = webhook.DefaultTimeout
	}
	client := netguard.New(netguard.Options{
		Allow:            allow,
		MaxResponseBytes: maxResponse,
		// The endpoint's own deadline (its context) ends the request and
		// words the failure; the client's is a backstop.
		Timeout:      timeout + time.Second,
		MaxRedirects: -1, // a 3xx is the receiver's answer
	})
	ep, err := webhook.New(webhook.Options{
		Name: w.Name, URL: w.URL, Secrets: secrets, Headers: w.Headers, Timeout: timeout,
		Client: client, Logger: s.opts.Logger, Observe: s.record,
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return ep, nil
}

// endpoint returns the endpoint of the webhook name, or nil.
func (s *Set) endpoint(name string) *webhook.Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.eps[name]; e != nil {
		return e.ep
	}
	return nil
}

// record keeps one attempt as a run record of KindWebhook, whose Reason
// starts with "HTTP <status>" when the endpoint answered.
func (s *Set) record(a webhook.Attempt) {
	if s.opts.Counted != nil {
		s.opts.Counted(a.Endpoint, a.HTTPStatus)
	}
	if s.opts.Recorder == nil {
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
	s.opts.Recorder.Add(&runlog.Record{
		Kind: runlog.KindWebhook, Subscription: a.Endpoint,
		EventID: a.Event.ID, EventSource: a.Event.Source, EventType: a.Event.Type,
		EventTime: a.Event.Time, Attempt: a.Attempt, Status: a.Outcome.Status.String(), Reason: reason,
		Start: a.Start, Duration: a.Latency,
	})
}

// Webhooks returns the entries the daemon runs and their endpoints' state.
func (s *Set) Webhooks() []api.WebhookInfo {
	specs := s.opts.Specs()
	out := make([]api.WebhookInfo, 0, len(specs))
	for i := range specs {
		w := &specs[i]
		info := api.WebhookInfo{Name: w.Name, URL: api.RedactURL(w.URL), Events: w.Events, Enabled: w.Enabled, Source: api.WebhookFromConfig}
		if w.FromAPI {
			info.Source, info.Created = api.WebhookFromAPI, w.Created
		}
		if ep := s.endpoint(w.Name); ep != nil && w.Enabled {
			st := ep.State()
			info.Disabled, info.DisabledSince, info.DisabledReason = st.Disabled, st.DisabledSince, st.DisabledReason
		}
		out = append(out, info)
	}
	return out
}

// Enable enables the endpoint of the webhook name after a 410 Gone
// disabled it; it reports whether it was disabled. The events
// dead-lettered meanwhile stay dead letters (retry them with the DLQ
// API).
func (s *Set) Enable(name string) (bool, error) {
	enabled := false
	for _, w := range s.opts.Specs() {
		enabled = enabled || (w.Name == name && w.Enabled)
	}
	ep := s.endpoint(name)
	if ep == nil || !enabled {
		return false, fmt.Errorf("webhooks: no enabled webhook %q", name)
	}
	return ep.Enable(), nil
}

// known reports whether name is an entry the daemon runs (enabled or not).
func (s *Set) known(name string) bool {
	for _, w := range s.opts.Specs() {
		if w.Name == name {
			return true
		}
	}
	return false
}
