package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/evhost/evhost/host/api"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/filter"
	"github.com/evhost/evhost/host/netguard"
	"github.com/evhost/evhost/host/webhook"
)

// Why a KV bucket of the broker, applied as a route change: see
// host/RATIONALE.md.

// Store keeps the records of the webhooks created over the API: a
// natsbus.Table on a NATS broker, a MemoryStore otherwise.
type Store interface {
	// Create stores value under key unless the key holds one; it reports
	// whether it stored it.
	Create(ctx context.Context, key string, value []byte) (bool, error)
	// Delete deletes key; it reports whether it held a value.
	Delete(ctx context.Context, key string) (bool, error)
	// Watch calls fn with every record, then after every change, until
	// ctx ends; it returns once fn had the first set.
	Watch(ctx context.Context, fn func(map[string][]byte)) error
}

// Record is a webhook created over the API, as the store keeps it.
type Record struct {
	Name    string            `json:"name"`
	URL     string            `json:"url"`
	Events  []string          `json:"events"`
	Secret  string            `json:"secret"`
	Headers map[string]string `json:"headers,omitempty"`
	Timeout time.Duration     `json:"timeout,omitempty"`
	Filter  string            `json:"filter,omitempty"`
	Created time.Time         `json:"created"`
}

// RuntimeOptions configure a Runtime.
type RuntimeOptions struct {
	// Open opens the store. Required.
	Open func(context.Context) (Store, error)
	// InProcess says that the store lives in this process only (the
	// memory broker): a creation's answer warns about it.
	InProcess bool
	// Subscriptions returns the subscriptions of the daemon: the config's
	// plugins and webhooks (enabled or not), the native handlers, and these.
	Subscriptions func() []api.SubscriptionStatus
	// Changed applies the routes again: the set of records changed.
	Changed func() error
	// DeleteSubscription drops the subscription of a deleted webhook.
	DeleteSubscription func(ctx context.Context, name string) error
	// Allow returns [host] allow_networks, the forbidden networks a
	// webhook may reach.
	Allow  func() []netip.Prefix
	Logger *slog.Logger
}

// Runtime holds the webhooks created over the admin API, as the store
// says now, and serves POST /v1/admin/webhooks and DELETE
// /v1/admin/webhooks/{name}. A nil *Runtime holds none. It is safe for
// concurrent use.
type Runtime struct {
	opts   RuntimeOptions
	store  Store
	cancel context.CancelFunc

	mu   sync.Mutex
	recs map[string]Record
}

// OpenRuntime opens the store and reads its records; it watches the store
// until Close, calling Changed after every change.
func OpenRuntime(ctx context.Context, o RuntimeOptions) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	store, err := o.Open(ctx)
	if err != nil {
		return nil, fmt.Errorf("webhooks: the store of the webhooks created over the API: %w", err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{opts: o, store: store, cancel: cancel, recs: map[string]Record{}}
	first := true
	err = store.Watch(wctx, func(m map[string][]byte) {
		if r.set(m) && !first && o.Changed != nil {
			if err := o.Changed(); err != nil && wctx.Err() == nil {
				o.Logger.Error("applying the webhooks created over the API", slog.Any("err", err))
			}
		}
		first = false
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	return r, nil
}

// set makes m the records; it reports whether they changed.
func (r *Runtime) set(m map[string][]byte) bool {
	recs := make(map[string]Record, len(m))
	for k, v := range m {
		var rec Record
		if err := json.Unmarshal(v, &rec); err != nil || rec.Name != k {
			r.opts.Logger.Error("a webhook record of the store is unreadable; it is ignored", slog.String("webhook", k), slog.Any("err", err))
			continue
		}
		recs[k] = rec
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	same := maps.EqualFunc(r.recs, recs, func(a, b Record) bool {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return string(ja) == string(jb)
	})
	r.recs = recs
	return !same
}

// Close stops watching the store.
func (r *Runtime) Close() {
	if r != nil {
		r.cancel()
	}
}

// Records returns the webhooks created over the API, by name.
func (r *Runtime) Records() []Record {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Collect(maps.Values(r.recs))
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (r *Runtime) has(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.recs[name]
	return ok
}

// taken reports whether name is a subscription of the config or a native
// handler, not one of these.
func (r *Runtime) taken(name string) bool {
	if r.has(name) || r.opts.Subscriptions == nil {
		return false
	}
	return slices.ContainsFunc(r.opts.Subscriptions(), func(s api.SubscriptionStatus) bool { return s.Name == name })
}

// Errors of Create and Delete.
var (
	// ErrInvalid is a request that is not a valid webhook (400).
	ErrInvalid = errors.New("invalid webhook")
	// ErrConfig names a webhook of config.toml, read-only through the API
	// (409).
	ErrConfig = errors.New("read-only through the API")
	// ErrExists names a webhook that exists, or the limit is reached (409).
	ErrExists = errors.New("conflict")
	// ErrNotFound names no webhook (404).
	ErrNotFound = errors.New("no such webhook")
)

// Create validates nw as the config validates a [[webhooks]] entry, stores
// it, and applies the routes (on return this daemon serves it; the others
// on seeing the change). It returns the record and whether its secret was
// made here.
func (r *Runtime) Create(ctx context.Context, nw *api.NewWebhook) (Record, bool, error) {
	rec, err := r.check(nw)
	if err != nil {
		return Record{}, false, err
	}
	made := false
	if rec.Secret == "" {
		key := make([]byte, 32)
		rand.Read(key)
		rec.Secret, made = webhook.SecretPrefix+base64.StdEncoding.EncodeToString(key), true
	}
	switch {
	case r.taken(rec.Name):
		return Record{}, false, fmt.Errorf("%w: %q names a subscription of config.toml (or a native handler); change it there", ErrConfig, rec.Name)
	case r.has(rec.Name):
		return Record{}, false, fmt.Errorf("%w: a webhook %q was already created over the API; delete it first", ErrExists, rec.Name)
	case len(r.Records()) >= api.MaxRuntimeWebhooks:
		return Record{}, false, fmt.Errorf("%w: %d webhooks were created over the API, the most there may be; delete one first", ErrExists, api.MaxRuntimeWebhooks)
	}
	rec.Created = time.Now().UTC()
	b, err := json.Marshal(rec)
	if err != nil {
		return Record{}, false, err
	}
	ok, err := r.store.Create(ctx, rec.Name, b)
	if err != nil {
		return Record{}, false, fmt.Errorf("webhooks: storing %q: %w", rec.Name, err)
	}
	if !ok {
		return Record{}, false, fmt.Errorf("%w: a webhook %q was already created over the API; delete it first", ErrExists, rec.Name)
	}
	r.mu.Lock()
	r.recs[rec.Name] = rec
	r.mu.Unlock()
	if r.opts.Changed != nil {
		if err := r.opts.Changed(); err != nil {
			return rec, made, fmt.Errorf("webhooks: %q is stored but could not be applied here: %w", rec.Name, err)
		}
	}
	attrs := []any{slog.String("webhook", rec.Name), slog.String("url", api.RedactURL(rec.URL)), slog.Any("events", rec.Events)}
	if r.opts.InProcess {
		r.opts.Logger.Warn("webhook created over the API, in this process only (memory broker): it is lost when the daemon stops", attrs...)
	} else {
		r.opts.Logger.Info("webhook created over the API", attrs...)
	}
	return rec, made, nil
}

// Delete deletes the webhook name created over the API, applies the routes
// without it, and drops its subscription (with the events it holds).
func (r *Runtime) Delete(ctx context.Context, name string) error {
	if r.taken(name) {
		return fmt.Errorf("%w: %q is a subscription of config.toml (or a native handler); remove it there", ErrConfig, name)
	}
	ok, err := r.store.Delete(ctx, name)
	if err != nil {
		return fmt.Errorf("webhooks: deleting %q: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("%w %q created over the API", ErrNotFound, name)
	}
	r.mu.Lock()
	delete(r.recs, name)
	r.mu.Unlock()
	if r.opts.Changed != nil {
		if err := r.opts.Changed(); err != nil {
			return fmt.Errorf("webhooks: %q is deleted but this daemon could not stop it: %w", name, err)
		}
	}
	if r.opts.DeleteSubscription != nil {
		if err := r.opts.DeleteSubscription(ctx, name); err != nil && !errors.Is(err, bus.ErrNotFound) {
			return fmt.Errorf("webhooks: %q is deleted, but not its subscription: %w", name, err)
		}
	}
	r.opts.Logger.Warn("webhook deleted over the API, with its subscription", slog.String("webhook", name))
	return nil
}

// check validates nw, as config validates a [[webhooks]] entry, within the
// bounds of api.
func (r *Runtime) check(nw *api.NewWebhook) (Record, error) {
	bad := func(format string, args ...any) (Record, error) {
		return Record{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	rec := Record{Name: nw.Name, URL: nw.URL, Events: nw.Events, Secret: strings.TrimSpace(nw.Secret), Headers: nw.Headers, Filter: nw.Filter}
	if !bus.ValidName(nw.Name) {
		return bad("name %q: use 1 to 64 of A-Z, a-z, 0-9, '_' and '-'", nw.Name)
	}
	if err := r.checkURL(nw.URL); err != nil {
		return bad("url %q: %v", api.RedactURL(nw.URL), api.RedactURLError(err))
	}
	if len(nw.Events) == 0 {
		return bad("events: list the event types delivered to the endpoint")
	}
	if len(nw.Events) > api.MaxWebhookEvents {
		return bad("events: %d types and patterns, over the limit of %d", len(nw.Events), api.MaxWebhookEvents)
	}
	if _, err := event.ParsePatterns(nw.Events); err != nil {
		return bad("events: %v", err)
	}
	if rec.Secret != "" {
		if _, err := webhook.ParseSecrets(rec.Secret); err != nil {
			return bad("secret: %v", err)
		}
	}
	if len(nw.Headers) > api.MaxWebhookHeaders {
		return bad("headers: %d, over the limit of %d", len(nw.Headers), api.MaxWebhookHeaders)
	}
	for name, val := range nw.Headers {
		lower := strings.ToLower(name)
		switch {
		case !validHeaderName(name) || len(name) > api.MaxWebhookHeaderBytes:
			return bad("header %q: not a header name", name)
		case reservedHeaders[lower] || strings.HasPrefix(lower, "webhook-"):
			return bad("header %s is set by the delivery itself", name)
		case len(val) > api.MaxWebhookHeaderBytes:
			return bad("header %s: a value of %d bytes, over the limit of %d", name, len(val), api.MaxWebhookHeaderBytes)
		case strings.ContainsAny(val, "\r\n\x00"):
			return bad("header %s: the value contains a line break or a NUL byte", name)
		}
	}
	if nw.Timeout != "" {
		d, err := time.ParseDuration(nw.Timeout)
		if err != nil || d <= 0 || d > api.MaxWebhookTimeout {
			return bad("timeout %q: want a duration such as \"5s\", positive and at most %v", nw.Timeout, api.MaxWebhookTimeout)
		}
		rec.Timeout = d
	}
	if len(nw.Filter) > api.MaxWebhookFilterBytes {
		return bad("filter: %d bytes, over the limit of %d", len(nw.Filter), api.MaxWebhookFilterBytes)
	}
	if nw.Filter != "" {
		if _, err := filter.Compile(nw.Filter); err != nil {
			return bad("filter: %v", err)
		}
	}
	return rec, nil
}

// checkURL checks an endpoint's URL as the config does, and refuses an
// address (or localhost) that the SSRF guard would refuse to dial: a
// forbidden network that [host] allow_networks does not list. A name is
// checked when it is dialed.
func (r *Runtime) checkURL(s string) error {
	if len(s) > api.MaxWebhookURLBytes {
		return fmt.Errorf("%d bytes, over the limit of %d", len(s), api.MaxWebhookURLBytes)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("scheme must be http or https")
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("credentials in the URL are not allowed; use headers")
	}
	host := u.Hostname()
	addr, err := netip.ParseAddr(host)
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		addr, err = netip.MustParseAddr("127.0.0.1"), nil
	}
	if err != nil {
		return nil
	}
	var allow []netip.Prefix
	if r.opts.Allow != nil {
		allow = r.opts.Allow()
	}
	if err := netguard.New(netguard.Options{Allow: allow}).Check(addr); err != nil {
		return fmt.Errorf("%v; [host] allow_networks lists the networks webhooks may reach", err)
	}
	return nil
}

// reservedHeaders are the headers that a delivery sets itself.
var reservedHeaders = map[string]bool{
	"content-type": true, "content-length": true, "host": true,
	"webhook-id": true, "webhook-timestamp": true, "webhook-signature": true,
}

// validHeaderName reports whether s is an HTTP header field name (an RFC
// 9110 token).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// MemoryStore is a Store in this process, the memory broker's: the
// daemon that made it is its only reader and writer, so Watch gives the
// first set only. It is safe for concurrent use.
type MemoryStore struct {
	mu   sync.Mutex
	recs map[string][]byte
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{recs: map[string][]byte{}} }

// Create implements Store.
func (m *MemoryStore) Create(_ context.Context, key string, value []byte) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.recs[key]; ok {
		return false, nil
	}
	m.recs[key] = value
	return true, nil
}

// Delete implements Store.
func (m *MemoryStore) Delete(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.recs[key]
	delete(m.recs, key)
	return ok, nil
}

// Watch implements Store.
func (m *MemoryStore) Watch(_ context.Context, fn func(map[string][]byte)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(maps.Clone(m.recs))
	return nil
}
