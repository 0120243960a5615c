package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/evhost/evhost/host/api"

	"github.com/evhost/evhost/host"
	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/bus/membus"
	"github.com/evhost/evhost/host/config"
	"github.com/evhost/evhost/host/dispatch"
	"github.com/evhost/evhost/host/event"
)

// handled is one delivery as the dispatcher's observer saw it; the
// observer is told after the delivery is settled, so a dead letter made by
// a Reject exists by then.
type handled struct {
	route, id string
	status    dispatch.Status
}

type handledChan chan handled

func (c handledChan) Handled(route string, ev *event.Event, _ int, out dispatch.Outcome, _ time.Duration) {
	c <- handled{route, ev.ID, out.Status}
}

// next returns the next n deliveries handled.
func (c handledChan) next(t *testing.T, n int) []handled {
	t.Helper()
	out := make([]handled, 0, n)
	for len(out) < n {
		select {
		case h := <-c:
			out = append(out, h)
		case <-time.After(waitLimit):
			t.Fatalf("%d of %d deliveries handled: %+v", len(out), n, out)
		}
	}
	return out
}

// dlqHost is a started host on the memory bus with two native handlers:
// "orders" (order.*) rejects every event until fixed is set, except those
// with data "block", which wait for unblock (after a send on blocked);
// "audit" (audit.*) rejects every event.
type dlqHost struct {
	h       *host.Host
	api     http.Handler
	obs     handledChan
	fixed   atomic.Bool
	blocked chan string
	unblock chan struct{}
}

// newDLQHost returns a started dlqHost on the broker kind ("memory" or
// "embedded"), with the config text toml (keys of [host], then tables).
func newDLQHost(t *testing.T, broker, toml string) *dlqHost {
	t.Helper()
	dir := t.TempDir()
	opts := host.Options{Logger: slog.New(slog.DiscardHandler)}
	if broker == config.BrokerMemory {
		opts.Bus = membus.New(membus.Options{})
	} else {
		toml += "[broker]\nkind = \"" + broker + "\"\n"
	}
	cfg, err := config.Parse(filepath.Join(dir, "config.toml"), []byte("[host]\ndata_dir = \"data\"\n"+toml))
	if err != nil {
		t.Fatal(err)
	}
	d := &dlqHost{obs: make(handledChan, 1024), blocked: make(chan string, 16), unblock: make(chan struct{})}
	opts.Observer = d.obs
	d.h, err = host.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := d.h.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	d.h.Handle("orders", []string{"order.*"}, func(ctx context.Context, ev *event.Event, _ func(*event.Event)) error {
		switch {
		case string(ev.Data) == `"block"`:
			d.blocked <- ev.ID
			<-d.unblock
			return nil
		case d.fixed.Load():
			return nil
		}
		return host.Reject(fmt.Errorf("bad order %s", ev.ID))
	})
	d.h.Handle("audit", []string{"audit.*"}, func(context.Context, *event.Event, func(*event.Event)) error {
		return host.Reject(errors.New("audit is broken"))
	})
	if err := d.h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	d.api = d.h.Handler()
	return d
}

// eachBroker runs test on the memory bus and on the embedded NATS
// JetStream bus: the endpoints rely on the bus contract only.
func eachBroker(t *testing.T, test func(t *testing.T, broker string)) {
	for _, broker := range []string{config.BrokerMemory, config.BrokerEmbedded} {
		t.Run(broker, func(t *testing.T) { test(t, broker) })
	}
}

// publish publishes an event of type typ with id id and data data (JSON).
func (d *dlqHost) publish(t *testing.T, typ, id, data string) {
	t.Helper()
	if _, err := d.h.Publish(context.Background(), &event.Event{Type: typ, ID: id, DataContentType: "application/json", Data: []byte(data)}); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
}

// do serves one request and returns the response.
func (d *dlqHost) do(method, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	req.Host = "localhost" // httptest's example.com is a name the API does not answer to
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	d.api.ServeHTTP(rec, req)
	return rec
}

// call serves a request that must answer status, and decodes its body into v.
func (d *dlqHost) call(t *testing.T, method, target string, status int, v any) *httptest.ResponseRecorder {
	t.Helper()
	rec := d.do(method, target)
	if rec.Code != status {
		t.Fatalf("%s %s: %d, want %d: %s", method, target, rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s %s: Content-Type %q", method, target, ct)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s %s: %v: %s", method, target, err, rec.Body)
		}
	}
	return rec
}

func (d *dlqHost) list(t *testing.T, query string) api.DeadLetterPage {
	t.Helper()
	var p api.DeadLetterPage
	d.call(t, "GET", "/v1/admin/dlq"+query, http.StatusOK, &p)
	return p
}

// eventIDs returns the ids of the events of dls.
func eventIDs(t *testing.T, dls []api.DeadLetterInfo) []string {
	t.Helper()
	var ids []string
	for _, dl := range dls {
		ev, err := event.DecodeJSON(dl.Event)
		if err != nil {
			t.Fatalf("dead letter %d: event: %v: %s", dl.ID, err, dl.Event)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

// compact returns the JSON text b without insignificant spaces.
func compact(b []byte) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

func statuses(hs []handled) map[string]dispatch.Status {
	m := map[string]dispatch.Status{}
	for _, h := range hs {
		m[h.route+"/"+h.id] = h.status
	}
	return m
}

// GET /v1/admin/dlq lists, filters and pages the dead letters; GET
// /v1/admin/dlq/{id} shows one; bad parameters get a 400 naming them.
func TestAdminDeadLetterList(t *testing.T) { eachBroker(t, testAdminDeadLetterList) }

func testAdminDeadLetterList(t *testing.T, broker string) {
	d := newDLQHost(t, broker, "[defaults]\nconcurrency = 1\n") // dead-lettered in order
	for i := 1; i <= 5; i++ {
		d.publish(t, "order.placed", fmt.Sprintf("o%d", i), fmt.Sprintf(`{"n":%d}`, i))
	}
	d.publish(t, "audit.seen", "a1", `{}`)
	d.publish(t, "audit.seen", "a2", `{}`)
	d.obs.next(t, 7)

	all := d.list(t, "")
	if len(all.DeadLetters) != 7 || all.NextAfter != 0 {
		t.Fatalf("all: %+v", all)
	}
	for i := 1; i < len(all.DeadLetters); i++ {
		if all.DeadLetters[i].ID <= all.DeadLetters[i-1].ID {
			t.Fatalf("not oldest first: %+v", all.DeadLetters)
		}
	}

	orders := d.list(t, "?subscription=orders")
	if got := eventIDs(t, orders.DeadLetters); !slices.Equal(got, []string{"o1", "o2", "o3", "o4", "o5"}) {
		t.Fatalf("orders: %v", got)
	}
	dl := orders.DeadLetters[2]
	ev, _ := event.DecodeJSON(dl.Event)
	if dl.Subscription != "orders" || dl.Reason != "bad order o3" || dl.Attempts != 1 || !dl.Terminated ||
		dl.Time.IsZero() || ev.Type != "order.placed" || compact(ev.Data) != `{"n":3}` || ev.Source != "evhost://go" {
		t.Fatalf("dead letter: %+v, event %s", dl, dl.Event)
	}
	// The wire form: snake_case names, RFC 3339 time, the event structured.
	raw := d.call(t, "GET", fmt.Sprintf("/v1/admin/dlq/%d", dl.ID), http.StatusOK, nil).Body.String()
	var fields map[string]json.RawMessage
	json.Unmarshal([]byte(raw), &fields)
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"attempts", "event", "id", "reason", "subscription", "terminated", "time"}) {
		t.Fatalf("fields %v: %s", keys, raw)
	}
	var ts string
	json.Unmarshal(fields["time"], &ts)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Fatalf("time %s: %v", ts, err)
	}
	if ce := compact(fields["event"]); !strings.Contains(ce, `"data":{"n":3}`) || !strings.Contains(ce, `"specversion":"1.0"`) {
		t.Fatalf("event: %s", fields["event"])
	}

	if got := eventIDs(t, d.list(t, "?event_id=a2").DeadLetters); !slices.Equal(got, []string{"a2"}) {
		t.Fatalf("event_id=a2: %v", got)
	}
	if body := d.call(t, "GET", "/v1/admin/dlq?subscription=audit&event_id=o3", http.StatusOK, nil).Body.String(); !strings.Contains(body, `"dead_letters":[]`) {
		t.Fatalf("no match: %s", body)
	}

	// Pages of 2, following next_after, give the whole list.
	var paged []api.DeadLetterInfo
	after, pages := uint64(0), 0
	for {
		p := d.list(t, fmt.Sprintf("?subscription=orders&limit=2&after=%d", after))
		paged = append(paged, p.DeadLetters...)
		pages++
		if p.NextAfter == 0 {
			break
		}
		if p.NextAfter != p.DeadLetters[len(p.DeadLetters)-1].ID || pages > 3 {
			t.Fatalf("page %d: %+v", pages, p)
		}
		after = p.NextAfter
	}
	if got := eventIDs(t, paged); pages != 3 || !slices.Equal(got, eventIDs(t, orders.DeadLetters)) {
		t.Fatalf("%d pages: %v", pages, got)
	}
	if p := d.list(t, "?limit=5&subscription=orders"); len(p.DeadLetters) != 5 || p.NextAfter != 0 {
		t.Fatalf("a full last page says there is more: %+v", p.NextAfter)
	}

	var shown api.DeadLetterInfo
	d.call(t, "GET", fmt.Sprintf("/v1/admin/dlq/%d", dl.ID), http.StatusOK, &shown)
	if shown.ID != dl.ID || compact(shown.Event) != compact(dl.Event) || !shown.Time.Equal(dl.Time) || shown.Reason != dl.Reason {
		t.Fatalf("show: %+v %s, want %+v %s", shown, shown.Event, dl, dl.Event)
	}
	var e struct{ Error, Field string }
	d.call(t, "GET", "/v1/admin/dlq/999", http.StatusNotFound, &e)
	if !strings.Contains(e.Error, "no dead letter 999") {
		t.Fatalf("404: %+v", e)
	}

	for _, c := range []struct{ target, field string }{
		{"/v1/admin/dlq?limit=0", "limit"},
		{"/v1/admin/dlq?limit=1001", "limit"},
		{"/v1/admin/dlq?limit=ten", "limit"},
		{"/v1/admin/dlq?after=-1", "after"},
		{"/v1/admin/dlq?after=x", "after"},
		{"/v1/admin/dlq?subscription=no%20such!", "subscription"},
		{"/v1/admin/dlq?subscriptoin=orders", "subscriptoin"},
		{"/v1/admin/dlq?limit=1&limit=2", "limit"},
		{"/v1/admin/dlq/abc", "path"},
		{"/v1/admin/dlq/0", "path"},
	} {
		e.Error, e.Field = "", ""
		d.call(t, "GET", c.target, http.StatusBadRequest, &e)
		if e.Error == "" || e.Field != c.field {
			t.Errorf("GET %s: %+v, want field %q", c.target, e, c.field)
		}
	}
}

// POST /v1/admin/dlq/{id}/retry puts the event back into its
// subscription: it is handled again, as a fresh event, and the dead letter
// is gone.
func TestAdminDeadLetterRetry(t *testing.T) { eachBroker(t, testAdminDeadLetterRetry) }

func testAdminDeadLetterRetry(t *testing.T, broker string) {
	d := newDLQHost(t, broker, "")
	d.publish(t, "order.placed", "o1", `{"n":1}`)
	d.obs.next(t, 1)
	id := d.list(t, "").DeadLetters[0].ID

	d.fixed.Store(true)
	var ok map[string]uint64
	d.call(t, "POST", fmt.Sprintf("/v1/admin/dlq/%d/retry", id), http.StatusOK, &ok)
	if ok["redriven"] != id || len(ok) != 1 {
		t.Fatalf("retry: %v", ok)
	}
	if h := d.obs.next(t, 1)[0]; h != (handled{"orders", "o1", dispatch.Done}) {
		t.Fatalf("after the retry: %+v", h)
	}
	if p := d.list(t, ""); len(p.DeadLetters) != 0 {
		t.Fatalf("the dead letter is still listed: %+v", p)
	}
	d.call(t, "GET", fmt.Sprintf("/v1/admin/dlq/%d", id), http.StatusNotFound, nil)
	d.call(t, "POST", fmt.Sprintf("/v1/admin/dlq/%d/retry", id), http.StatusNotFound, nil)
	d.call(t, "POST", "/v1/admin/dlq/x/retry", http.StatusBadRequest, nil)
	if rec := d.do("DELETE", fmt.Sprintf("/v1/admin/dlq/%d", id)); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE: %d", rec.Code)
	}
}

// A retry into a full subscription gets 429 with Retry-After and keeps the
// dead letter; it succeeds once there is room.
func TestAdminDeadLetterRetryBackpressure(t *testing.T) {
	eachBroker(t, testAdminDeadLetterRetryBackpressure)
}

func testAdminDeadLetterRetryBackpressure(t *testing.T, broker string) {
	d := newDLQHost(t, broker, "[defaults]\nqueue = 1\nconcurrency = 1\n")
	d.publish(t, "order.placed", "o1", `{}`)
	d.obs.next(t, 1)
	id := d.list(t, "").DeadLetters[0].ID
	d.fixed.Store(true)

	d.publish(t, "order.placed", "hold", `"block"`)
	<-d.blocked // "orders" holds its one event: its queue is full
	var e struct{ Error, Subscription string }
	rec := d.call(t, "POST", fmt.Sprintf("/v1/admin/dlq/%d/retry", id), http.StatusTooManyRequests, &e)
	if rec.Header().Get("Retry-After") == "" || e.Subscription != "orders" || !strings.Contains(e.Error, "full") {
		t.Fatalf("429: %v %+v", rec.Header(), e)
	}
	var rep api.RedriveReport
	rec = d.call(t, "POST", "/v1/admin/dlq/retry?subscription=orders", http.StatusTooManyRequests, &rep)
	if rec.Header().Get("Retry-After") == "" || rep.Redriven != 0 || rep.Remaining != 1 || rep.Error == "" {
		t.Fatalf("bulk 429: %+v", rep)
	}
	if p := d.list(t, ""); len(p.DeadLetters) != 1 || p.DeadLetters[0].ID != id {
		t.Fatalf("the dead letter was not kept: %+v", p)
	}

	close(d.unblock)
	if h := d.obs.next(t, 1)[0]; h.id != "hold" {
		t.Fatalf("%+v", h)
	}
	// A run is reported before its delivery is acked (on the memory bus,
	// with the worker's next fetch): room comes with the ack.
	waitFor(t, "the held event's ack", func() bool { return d.h.Bus().(bus.States).Pending()["orders"] == 0 })
	d.call(t, "POST", fmt.Sprintf("/v1/admin/dlq/%d/retry", id), http.StatusOK, nil)
	if h := d.obs.next(t, 1)[0]; h != (handled{"orders", "o1", dispatch.Done}) {
		t.Fatalf("after the retry: %+v", h)
	}
}

// POST /v1/admin/dlq/retry?subscription=S redrives the dead letters of S
// only, and only those there when it began: events that fail again become
// new dead letters and are not redriven in a loop.
func TestAdminDeadLetterRetryAll(t *testing.T) { eachBroker(t, testAdminDeadLetterRetryAll) }

func testAdminDeadLetterRetryAll(t *testing.T, broker string) {
	d := newDLQHost(t, broker, "")
	for i := 1; i <= 3; i++ {
		d.publish(t, "order.placed", fmt.Sprintf("o%d", i), `{}`)
	}
	d.publish(t, "audit.seen", "a1", `{}`)
	d.obs.next(t, 4)
	before := d.list(t, "")
	last := before.DeadLetters[3].ID
	audit := d.list(t, "?subscription=audit").DeadLetters[0]

	d.call(t, "POST", "/v1/admin/dlq/retry", http.StatusBadRequest, nil)
	d.call(t, "POST", "/v1/admin/dlq/retry?subscription=bad!", http.StatusBadRequest, nil)
	d.call(t, "POST", "/v1/admin/dlq/retry?subscription=orders&limit=1", http.StatusBadRequest, nil)

	// Still broken: each event fails once more and is dead-lettered again.
	var rep api.RedriveReport
	d.call(t, "POST", "/v1/admin/dlq/retry?subscription=orders", http.StatusOK, &rep)
	if rep != (api.RedriveReport{Subscription: "orders", Redriven: 3}) {
		t.Fatalf("report: %+v", rep)
	}
	if got := statuses(d.obs.next(t, 3)); len(got) != 3 || got["orders/o1"] != dispatch.Reject {
		t.Fatalf("handled: %v", got)
	}
	after := d.list(t, "")
	if len(after.DeadLetters) != 4 || d.list(t, "?subscription=audit").DeadLetters[0].ID != audit.ID {
		t.Fatalf("the audit dead letter changed, or orders' were not dead-lettered again: %+v", after)
	}
	for _, dl := range after.DeadLetters {
		if dl.Subscription == "orders" && (dl.ID <= last || dl.Attempts != 1) {
			t.Fatalf("%+v, last id before %d", dl, last)
		}
	}

	d.fixed.Store(true)
	d.call(t, "POST", "/v1/admin/dlq/retry?subscription=orders", http.StatusOK, &rep)
	if rep.Redriven != 3 {
		t.Fatalf("report: %+v", rep)
	}
	if got := statuses(d.obs.next(t, 3)); got["orders/o1"] != dispatch.Done || got["orders/o2"] != dispatch.Done || got["orders/o3"] != dispatch.Done {
		t.Fatalf("handled: %v", got)
	}
	if p := d.list(t, ""); len(p.DeadLetters) != 1 || p.DeadLetters[0].Subscription != "audit" {
		t.Fatalf("left: %+v", p)
	}
	d.call(t, "POST", "/v1/admin/dlq/retry?subscription=nosuch", http.StatusOK, &rep)
	if rep != (api.RedriveReport{Subscription: "nosuch"}) {
		t.Fatalf("report: %+v", rep)
	}
}

// The dead-letter routes are behind the API's bearer token.
func TestAdminDeadLettersNeedTheToken(t *testing.T) {
	d := newDLQHost(t, config.BrokerMemory, "token = \"s3cret\"\n")
	for _, r := range []struct{ method, target string }{
		{"GET", "/v1/admin/dlq"}, {"GET", "/v1/admin/dlq/1"},
		{"POST", "/v1/admin/dlq/1/retry"}, {"POST", "/v1/admin/dlq/retry?subscription=orders"},
	} {
		if rec := d.do(r.method, r.target); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token: %d", r.method, r.target, rec.Code)
		}
	}
	if rec := d.do("GET", "/v1/admin/dlq", "Authorization", "Bearer s3cret"); rec.Code != http.StatusOK {
		t.Fatalf("with the token: %d %s", rec.Code, rec.Body)
	}
}
