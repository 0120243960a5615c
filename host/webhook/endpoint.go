package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds one request when Options.Timeout is zero.
	DefaultTimeout = 5 * time.Second
	// MaxRetryAfter caps the delay a Retry-After header may ask for.
	MaxRetryAfter = time.Hour
	// maxBody is how much of an answer's body is read (then the
	// connection is dropped rather than drained further).
	maxBody = 64 << 10
	// maxSnippet is how much of an answer's body a failure's reason quotes.
	maxSnippet = 256
)

// UserAgent is the User-Agent of every request unless Options.Headers sets
// one.
const UserAgent = "evhost"

// ContentType is the Content-Type of every request: CloudEvents
// structured mode.
const ContentType = "application/cloudevents+json"

// Headers of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Doer sends an HTTP request: an *http.Client, or the daemon's SSRF
// guarded client. It must be safe for concurrent use.
type Doer interface {
	Do(req *http.Request) (*http.Response, error)
}

// Options configures an Endpoint.
type Options struct {
	// Name names the endpoint (its subscription), in logs and records.
	Name string
	// URL is the http or https URL the events are posted to (required).
	URL string
	// Secrets sign every request, one signature each (required; see
	// ParseSecrets).
	Secrets [][]byte
	// Headers are extra request headers. The webhook-* headers and
	// Content-Type are the delivery's own and refused; User-Agent may be
	// overridden.
	Headers map[string]string
	// Timeout bounds one request, from dialing to the end of the answer's
	// body (default DefaultTimeout).
	Timeout time.Duration
	// Client sends the requests (nil: http.DefaultClient). The daemon
	// passes its SSRF guarded client (a netguard.Client). Redirects must
	// not be followed, so that a 3xx answer is a rejection: an
	// *http.Client is copied with a CheckRedirect that follows none; any
	// other Doer must be built that way (netguard: MaxRedirects -1).
	Client Doer
	// Logger receives the endpoint's state changes (disabled, enabled).
	// Nil means slog.Default().
	Logger *slog.Logger
	// Now gives the time of the webhook-timestamp header and of the
	// disabled state (nil: time.Now).
	Now func() time.Time
	// Observe, if set, is called after every attempt, from the
	// dispatcher's workers: it must be safe for concurrent use and quick.
	Observe func(Attempt)
}

// Attempt describes one delivery attempt, for a delivery log.
type Attempt struct {
	// Endpoint is the endpoint's name.
	Endpoint string
	// Event is the event delivered; treat it as read-only.
	Event *event.Event
	// Attempt is the dispatcher's attempt number, from 1.
	Attempt int
	// HTTPStatus is the answer's status code, zero when there was none
	// (a timeout, a refused or reset connection, a disabled endpoint).
	HTTPStatus int
	// Outcome is what the dispatcher was told to do.
	Outcome dispatch.Outcome
	// Start is when the attempt started, Latency how long it took.
	Start   time.Time
	Latency time.Duration
}

// State is an endpoint's state, for the admin API.
type State struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Disabled is true after a 410 Gone answer, until Enable.
	Disabled bool `json:"disabled"`
	// DisabledSince and DisabledReason say when and why it was disabled.
	DisabledSince  time.Time `json:"disabled_since,omitzero"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
}

type disabled struct {
	since  time.Time
	reason string
}

// Endpoint delivers events to one URL. It implements dispatch.Handler and
// is safe for concurrent use.
//
// Outcomes per answer:
//
//	2xx                          Done
//	410 Gone                     Reject, and the endpoint is disabled
//	429, 503 with Retry-After    Retry after that delay (at most MaxRetryAfter)
//	408, 429, 5xx                Retry (the subscription's backoff)
//	timeout, connection error    Retry
//	other 3xx and 4xx            Reject, with the status and a snippet of the body
//
// While disabled, every event is rejected at once without a request: its
// dead letter says "endpoint disabled", and can be retried after Enable.
type Endpoint struct {
	opts   Options
	client Doer
	state  atomic.Pointer[disabled]
	log    *slog.Logger
}

var _ dispatch.Handler = (*Endpoint)(nil)

// New checks opts and returns an enabled Endpoint.
func New(opts Options) (*Endpoint, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("webhook %q: parsing url: %w", opts.Name, api.RedactURLError(err))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %q: url %q is not an absolute http or https URL", opts.Name, api.RedactURL(opts.URL))
	}
	if len(opts.Secrets) == 0 {
		return nil, fmt.Errorf("webhook %q: no signing secret", opts.Name)
	}
	for name := range opts.Headers {
		l := strings.ToLower(name)
		if strings.HasPrefix(l, "webhook-") || l == "content-type" || l == "content-length" || l == "host" {
			return nil, fmt.Errorf("webhook %q: header %s is set by the delivery itself", opts.Name, name)
		}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	client := opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	if hc, ok := client.(*http.Client); ok {
		// A copy that does not follow redirects: a receiver answers for
		// itself, and a redirect would be a way around the URL configured.
		nc := *hc
		nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		client = &nc
	}
	return &Endpoint{
		opts:   opts,
		client: client,
		log:    opts.Logger.With(slog.String("webhook", opts.Name)),
	}, nil
}

// Name returns the endpoint's name.
func (e *Endpoint) Name() string { return e.opts.Name }

// State returns the endpoint's state.
func (e *Endpoint) State() State {
	s := State{Name: e.opts.Name, URL: api.RedactURL(e.opts.URL)}
	if d := e.state.Load(); d != nil {
		s.Disabled, s.DisabledSince, s.DisabledReason = true, d.since, d.reason
	}
	return s
}

// Enable enables a disabled endpoint; it reports whether it was disabled.
func (e *Endpoint) Enable() bool {
	was := e.state.Swap(nil) != nil
	if was {
		e.log.Info("webhook endpoint enabled")
	}
	return was
}

// disable disables the endpoint, unless it is already.
func (e *Endpoint) disable(reason string) {
	if e.state.CompareAndSwap(nil, &disabled{since: e.opts.Now(), reason: reason}) {
		e.log.Warn("webhook endpoint disabled", slog.String("reason", reason))
	}
}

// Handle posts ev to the endpoint and maps the answer to an outcome (see
// Endpoint). The webhook-id is the event's id, the same on every attempt,
// so that a receiver can drop the duplicates of at-least-once delivery;
// the webhook-timestamp is the attempt's.
func (e *Endpoint) Handle(ctx context.Context, ev *event.Event, attempt int) dispatch.Outcome {
	start := e.opts.Now()
	t0 := time.Now()
	out, code := e.deliver(ctx, ev, start)
	if e.opts.Observe != nil {
		e.opts.Observe(Attempt{
			Endpoint: e.opts.Name, Event: ev, Attempt: attempt, HTTPStatus: code,
			Outcome: out, Start: start, Latency: time.Since(t0),
		})
	}
	return out
}

func (e *Endpoint) deliver(ctx context.Context, ev *event.Event, now time.Time) (dispatch.Outcome, int) {
	if d := e.state.Load(); d != nil {
		return dispatch.Outcome{Status: dispatch.Reject, Reason: fmt.Sprintf("endpoint disabled since %s: %s",
			d.since.UTC().Format(time.RFC3339), d.reason)}, 0
	}
	body := event.AppendJSON(nil, ev)
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.opts.URL, bytes.NewReader(body))
	if err != nil {
		return dispatch.Outcome{Status: dispatch.Reject, Reason: fmt.Sprintf("building the request: %v", err)}, 0
	}
	req.Header.Set("User-Agent", UserAgent)
	for k, v := range e.opts.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(HeaderID, ev.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(e.opts.Secrets, ev.ID, now, body))
	setTraceContext(ctx, req.Header, ev)

	resp, err := e.client.Do(req)
	if err != nil {
		return dispatch.Outcome{Status: dispatch.Retry, Reason: e.failure(ctx, err)}, 0
	}
	snippet, rerr := readSnippet(resp.Body)
	resp.Body.Close()
	code := resp.StatusCode
	// The delivery's span, when tracing is on (a no-op otherwise).
	trace.SpanFromContext(ctx).SetAttributes(attribute.Int("http.response.status_code", code))
	status := fmt.Sprintf("HTTP %d", code)
	if snippet != "" {
		status += ": " + snippet
	}
	switch {
	case code >= 200 && code < 300:
		// The receiver has it, whether or not its body arrived whole.
		return dispatch.Outcome{Status: dispatch.Done}, code
	case code == http.StatusGone:
		reason := "endpoint disabled (410 Gone)"
		e.disable(reason)
		return dispatch.Outcome{Status: dispatch.Reject, Reason: reason + ": " + status}, code
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		out := dispatch.Outcome{Status: dispatch.Retry, Reason: status}
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), now); ok {
			out.Delay = d
			out.Reason = fmt.Sprintf("%s (retry after %s)", status, d)
		}
		return out, code
	case code == http.StatusRequestTimeout || code >= 500:
		if rerr != nil {
			status += fmt.Sprintf(" (reading the body: %v)", e.failure(ctx, rerr))
		}
		return dispatch.Outcome{Status: dispatch.Retry, Reason: status}, code
	default: // other 1xx, 3xx, 4xx
		if loc := resp.Header.Get("Location"); code >= 300 && code < 400 && loc != "" {
			status += " (redirect to " + clip(loc) + " not followed)"
		}
		return dispatch.Outcome{Status: dispatch.Reject, Reason: status}, code
	}
}

// failure words a failed request: a timeout says so plainly.
func (e *Endpoint) failure(ctx context.Context, err error) string {
	var ne net.Error
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Sprintf("timed out after %s: %v", e.opts.Timeout, api.RedactURLError(err))
	}
	return api.RedactURLError(err).Error()
}

// readSnippet reads up to maxBody bytes of an answer's body and returns
// the first maxSnippet of them as text.
func readSnippet(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody))
	return clip(string(b)), err
}

// clip cuts s to maxSnippet bytes (at a rune boundary), trims it and
// replaces invalid UTF-8.
func clip(s string) string {
	if len(s) > maxSnippet {
		cut := maxSnippet
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP date,
// into a positive delay from now, capped at MaxRetryAfter.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		d = time.Duration(min(secs, int64(MaxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, MaxRetryAfter), true
}

// setTraceContext gives the request the W3C trace context of the delivery:
// the span of ctx when tracing is on, else the event's own traceparent
// (and tracestate), so that the receiver's spans join the event's trace.
func setTraceContext(ctx context.Context, h http.Header, ev *event.Event) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
		return
	}
	if tp, ok := ev.Ext(event.ExtTraceParent); ok {
		h.Set("Traceparent", tp)
		if ts, ok := ev.Ext(event.ExtTraceState); ok {
			h.Set("Tracestate", ts)
		}
	}
}
