package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

// fixedNow is the clock of the tests: events without a time get it.
var fixedNow = time.Date(2025, 3, 4, 5, 6, 7, 890, time.FixedZone("X", 3600))

// harness is a Server over a real in-memory bus, behind a real HTTP server,
// with one subscription "all" that receives every event.
type harness struct {
	url string
	bus *membus.Bus
	sub bus.Subscriber
}

func newHarness(t *testing.T, opts httpapi.Options, queue int) *harness {
	t.Helper()
	b := membus.New(membus.Options{})
	t.Cleanup(func() { b.Close(context.Background()) })
	sub, err := b.Subscribe(context.Background(), bus.Subscription{Name: "all", Patterns: []string{">"}, Queue: queue})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Publisher == nil {
		opts.Publisher = b
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	srv := httptest.NewServer(httpapi.New(opts))
	t.Cleanup(srv.Close)
	return &harness{url: srv.URL, bus: b, sub: sub}
}

// next returns the next event the subscription holds, and acks it.
func (h *harness) next(t *testing.T) *event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := h.sub.Next(ctx)
	if err != nil {
		t.Fatalf("no event delivered: %v", err)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	return d.Event()
}

// empty asserts that the subscription holds no event.
func (h *harness) empty(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if d, err := h.sub.Next(ctx); err == nil {
		t.Fatalf("an event was published: %+v", d.Event())
	} else if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

// response is a decoded response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) accepted(t *testing.T) httpapi.Accepted {
	t.Helper()
	if r.status != http.StatusAccepted {
		t.Fatalf("status %d, want 202: %s", r.status, r.body)
	}
	var a httpapi.Accepted
	if err := json.Unmarshal(r.body, &a); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return a
}

func (r *response) errorBody(t *testing.T, status int) httpapi.ErrorResponse {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var e httpapi.ErrorResponse
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if e.Error == "" {
		t.Fatalf("no error message: %s", r.body)
	}
	return e
}

// do sends a request; header holds pairs of names and values.
func do(t *testing.T, method, url string, body []byte, header ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" { // Go sends req.Host, not a Host header
			req.Host = header[i+1]
			continue
		}
		req.Header.Add(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &response{status: res.StatusCode, header: res.Header, body: b}
}

func post(t *testing.T, url string, body string, header ...string) *response {
	t.Helper()
	return do(t, http.MethodPost, url, []byte(body), header...)
}

// diffEvents reports the differences between two events, or "".
func diffEvents(got, want *event.Event) string {
	var d []string
	str := func(name, g, w string) {
		if g != w {
			d = append(d, name+": got "+q(g)+", want "+q(w))
		}
	}
	str("id", got.ID, want.ID)
	str("source", got.Source, want.Source)
	str("type", got.Type, want.Type)
	str("specversion", got.SpecVersion, want.SpecVersion)
	str("subject", got.Subject, want.Subject)
	str("datacontenttype", got.DataContentType, want.DataContentType)
	str("dataschema", got.DataSchema, want.DataSchema)
	if !got.Time.Equal(want.Time) {
		d = append(d, "time: got "+got.Time.String()+", want "+want.Time.String())
	}
	if len(got.Extensions) != len(want.Extensions) {
		d = append(d, "extensions: got "+extString(got)+", want "+extString(want))
	} else {
		for i := range got.Extensions {
			if got.Extensions[i] != want.Extensions[i] {
				d = append(d, "extensions: got "+extString(got)+", want "+extString(want))
				break
			}
		}
	}
	if !bytes.Equal(got.Data, want.Data) {
		d = append(d, "data: got "+q(string(got.Data))+", want "+q(string(want.Data)))
	}
	return strings.Join(d, "; ")
}

func extString(e *event.Event) string {
	b, _ := json.Marshal(e.Extensions)
	return string(b)
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

// fakePublisher accepts the first `room` events of its lifetime, then
// refuses with err.
type fakePublisher struct {
	mu        sync.Mutex
	room      int
	err       error
	published []*event.Event
}

func (f *fakePublisher) PublishBatch(ctx context.Context, events []*event.Event, buf []bus.PubAck) ([]bus.PubAck, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	acks := buf[:0]
	for _, e := range events {
		if f.room <= 0 {
			return acks, f.err
		}
		f.room--
		f.published = append(f.published, e)
		acks = append(acks, bus.PubAck{Seq: uint64(len(f.published))})
	}
	return acks, nil
}

func (f *fakePublisher) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.published)
}

// readiness is a settable Readiness.
type readiness struct {
	mu  sync.Mutex
	err error
}

func (r *readiness) Ready() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *readiness) set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}
