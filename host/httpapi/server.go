package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
)

// Publisher is what ingest needs of the bus: bus.Bus's PublishBatch, with
// its contract (events[:len(acks)] accepted, the error about
// events[len(acks)]).
type Publisher interface {
	PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error)
}

// Readiness reports whether the daemon is ready to take events: Ready
// returns nil when it is, and an error saying why not otherwise (starting,
// draining). It must be safe for concurrent use and quick.
type Readiness interface {
	Ready() error
}

// Defaults of Options' zero fields.
const (
	DefaultMaxBody    = 1 << 20 // 1 MiB
	DefaultSource     = "evhost://ingest/http"
	DefaultRetryAfter = time.Second
	DefaultMaxBatch   = 1000
)

// Options configure a Server.
type Options struct {
	// Publisher receives the events accepted. Required.
	Publisher Publisher
	// Ready gates ingest and /readyz; nil means always ready.
	Ready Readiness
	// Token, when not empty, is a bearer token with every scope: with it,
	// or one of Tokens, every route but /healthz, /readyz and those
	// mounted with HandlePublic requires a token.
	Token string
	// Tokens are bearer tokens with scopes (see ScopePublish): a request
	// without a token or with an unknown one gets a 401, one whose token
	// lacks the route's scope, or may not publish the event's type, a 403.
	Tokens []Token
	// MaxBody caps the body of a request, in bytes; a larger one gets 413.
	// Zero or less means DefaultMaxBody.
	MaxBody int64
	// MaxBatch caps the events of one batch; a larger one gets 413. Zero
	// or less means DefaultMaxBatch.
	MaxBatch int
	// Source is stamped on events that have no source. Empty means
	// DefaultSource.
	Source string
	// RetryAfter is the delay that 429 and 503 responses ask producers to
	// wait (Retry-After, whole seconds, at least 1). Zero or less means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Logger receives the package's log lines; nil discards them.
	Logger *slog.Logger
	// Now is the clock that stamps the time of events without one; nil
	// means time.Now.
	Now func() time.Time
	// Refused, if set, is told the status of every request to an ingest
	// route refused before its events reach the Publisher: 400 and 415
	// (malformed), 401 (no or a wrong token), 413 (too large) and 503 (not
	// ready). Refusals of the Publisher's are the Publisher's to count.
	Refused func(status int)

	// Hostnames are the names, beyond IP addresses, localhost and names
	// under .localhost, that the Host header of a request may carry: the
	// names clients reach the daemon by. "*.example.com" matches the
	// names under example.com, and "*" any name (no check). A request for
	// another name gets a 403: it is how a DNS rebinding attack arrives.
	Hostnames []string
	// TrustedOrigins are the origins ("https://ops.example.com") whose web
	// pages may send unsafe requests (POST...) to the API; those of any
	// other origin get a 403 (http.CrossOriginProtection). Requests that
	// no browser sent (no Sec-Fetch-Site, no Origin) are not affected.
	TrustedOrigins []string
	// Denied, if set, is told every request refused with a 401 or a 403
	// by the guard or the token check: the name of the token presented
	// ("" for none or an unknown one) and the reason, one of "host",
	// "cross_origin", "unauthorized", "scope" and "event_type".
	Denied func(token, reason string)
}

// Server is the daemon's HTTP handler. It is safe for concurrent use; Handle
// and HandlePublic may be called while it serves.
type Server struct {
	mux        *http.ServeMux
	pub        Publisher
	ready      Readiness
	creds      []*credential // none: no token needed
	maxBody    int64
	maxBatch   int
	retryAfter string // seconds, for the Retry-After header
	stamp      stamper
	log        *slog.Logger
	onRefused  func(status int)
	onDenied   func(token, reason string)
	hosts      *hostGuard
	cop        *http.CrossOriginProtection
}

var _ http.Handler = (*Server)(nil)

// Log attribute keys, shared with the rest of the host.
const (
	logEventID      = "event_id"
	logEventType    = "event_type"
	logSubscription = "subscription"
)

// New returns a Server with the routes of the package. It panics if
// opts.Publisher is nil, or an origin of opts.TrustedOrigins or a token of
// opts.Tokens is malformed (the config validates them first).
func New(opts Options) *Server {
	if opts.Publisher == nil {
		panic("httpapi: Options.Publisher is nil")
	}
	cop, err := newCrossOrigin(opts.TrustedOrigins)
	if err != nil {
		panic(err)
	}
	creds, err := newCredentials(opts.Token, opts.Tokens)
	if err != nil {
		panic(err)
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.Source == "" {
		opts.Source = DefaultSource
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		mux:        http.NewServeMux(),
		pub:        opts.Publisher,
		ready:      opts.Ready,
		maxBody:    opts.MaxBody,
		maxBatch:   opts.MaxBatch,
		retryAfter: strconv.FormatInt(int64((opts.RetryAfter+time.Second-1)/time.Second), 10),
		stamp:      stamper{source: opts.Source, now: opts.Now},
		log:        opts.Logger.With(slog.String("component", "httpapi")),
		onRefused:  opts.Refused,
		onDenied:   opts.Denied,
		hosts:      newHostGuard(opts.Hostnames),
		cop:        cop,
		creds:      creds,
	}
	s.HandlePublic("GET /healthz", http.HandlerFunc(s.healthz))
	s.HandlePublic("GET /readyz", http.HandlerFunc(s.readyz))
	s.Handle("POST /v1/events", http.HandlerFunc(s.postEvents))
	s.Handle("POST /v1/events/{type}", http.HandlerFunc(s.postTypedEvent))
	return s
}

// Handle mounts h on pattern (an http.ServeMux pattern, such as
// "GET /v1/plugins"), behind the bearer token: one with the scope the
// pattern's method needs (publish for ingest, read for GET and HEAD,
// admin for the others). It panics, as
// http.ServeMux.Handle does, if pattern is invalid or conflicts with a
// pattern already mounted.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, s.requireScope(scopeOf(pattern), h))
}

// HandlePublic mounts h on pattern without the bearer token, for the
// endpoints that the design leaves open, such as /metrics. It panics as
// Handle does.
func (s *Server) HandlePublic(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// ServeHTTP routes r. Unknown paths get a 404 and known paths with another
// method a 405 (with Allow), both in JSON, and both behind the token, so
// that a client without it learns nothing of the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.guard(w, r) {
		return
	}
	h, pattern := s.mux.Handler(r)
	if pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	if !s.authorized(r) {
		s.unauthorized(w, r)
		return
	}
	// The mux's own 404 or 405: keep its status and Allow, render JSON.
	c := &captureWriter{header: make(http.Header)}
	h.ServeHTTP(c, r)
	switch c.status {
	case http.StatusMethodNotAllowed:
		if allow := c.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		WriteError(w, c.status, &ErrorResponse{Error: "method " + r.Method + " is not allowed on " + r.URL.Path +
			" (allowed: " + c.header.Get("Allow") + ")"})
	case http.StatusNotFound, 0:
		WriteError(w, http.StatusNotFound, &ErrorResponse{Error: "no such endpoint: " + r.URL.Path})
	default:
		WriteError(w, c.status, &ErrorResponse{Error: strings.ToLower(http.StatusText(c.status))})
	}
}

// captureWriter records what the mux's internal error handlers write.
type captureWriter struct {
	header http.Header
	status int
}

func (c *captureWriter) Header() http.Header { return c.header }

func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return len(b), nil
}

func (c *captureWriter) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

// authorized reports whether r carries a known token, or no token is
// needed.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.creds) == 0 {
		return true
	}
	c, _ := s.identify(r)
	return c != nil
}

func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	msg := "this endpoint requires Authorization: Bearer <token>"
	challenge := `Bearer realm="evhost"`
	if r.Header.Get("Authorization") != "" {
		msg = "the bearer token is wrong"
		challenge += `, error="invalid_token"`
	}
	s.denied(r, "", "unauthorized")
	if isIngest(r) {
		s.refused(http.StatusUnauthorized)
	}
	w.Header().Set("WWW-Authenticate", challenge)
	WriteError(w, http.StatusUnauthorized, &ErrorResponse{Error: msg, Field: "Authorization"})
}

// denied reports a request refused with a 401 or a 403 to Options.Denied.
func (s *Server) denied(r *http.Request, token, reason string) {
	if s.onDenied != nil {
		s.onDenied(token, reason)
	}
}

// refused reports an ingest request refused with status to Options.Refused.
func (s *Server) refused(status int) {
	if s.onRefused != nil {
		s.onRefused(status)
	}
}

// healthBody is the body of a 200 from /healthz and /readyz.
type healthBody struct {
	Status string `json:"status"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, healthBody{Status: "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.checkReady(); err != nil {
		w.Header().Set("Retry-After", s.retryAfter)
		WriteError(w, http.StatusServiceUnavailable, &ErrorResponse{Error: err.Error()})
		return
	}
	WriteJSON(w, http.StatusOK, healthBody{Status: "ready"})
}

// checkReady returns why the server may not take events, or nil.
func (s *Server) checkReady() error {
	if s.ready == nil {
		return nil
	}
	if err := s.ready.Ready(); err != nil {
		return &notReadyError{err}
	}
	return nil
}

type notReadyError struct{ err error }

func (e *notReadyError) Error() string { return "not ready: " + e.err.Error() }
func (e *notReadyError) Unwrap() error { return e.err }
