package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/evhost/evhost/host/bus"
	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/httpapi"
)

const (
	structured = "application/cloudevents+json"
	batch      = "application/cloudevents-batch+json"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestStructuredModeKeepsEveryAttribute(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	for i, ct := range []string{structured, structured + "; charset=utf-8", "Application/CloudEvents+JSON; charset=UTF-8"} {
		t.Run(ct, func(t *testing.T) {
			id := fmt.Sprint("A-", i)
			res := post(t, h.url+"/v1/events", `{
				"specversion": "1.0",
				"id": "`+id+`",
				"source": "https://shop.example/orders",
				"type": "order.placed",
				"time": "2024-05-01T12:34:56.789+02:00",
				"subject": "order/42",
				"dataschema": "https://shop.example/schemas/order.json",
				"datacontenttype": "application/json",
				"correlationid": "c-9",
				"priority": 5,
				"urgent": true,
				"data": {"id": 42, "product_id": "sku-1"}
			}`, "Content-Type", ct)
			a := res.accepted(t)
			if len(a.IDs) != 1 || a.IDs[0] != id || len(a.Duplicates) != 0 {
				t.Fatalf("accepted %+v", a)
			}
			got := h.next(t)
			want := &event.Event{
				ID: id, Source: "https://shop.example/orders", Type: "order.placed", SpecVersion: "1.0",
				Time: mustTime("2024-05-01T12:34:56.789+02:00"), Subject: "order/42",
				DataSchema: "https://shop.example/schemas/order.json", DataContentType: "application/json",
				Extensions: []event.Attr{{Name: "correlationid", Value: "c-9"}, {Name: "priority", Value: "5"}, {Name: "urgent", Value: "true"}},
				Data:       []byte(`{"id": 42, "product_id": "sku-1"}`),
			}
			if d := diffEvents(got, want); d != "" {
				t.Fatal(d)
			}
			if _, off := got.Time.Zone(); off != 2*3600 {
				t.Errorf("time offset %d, want +02:00 kept", off)
			}
			// Accepted again: the bus deduplicates by source and id, and
			// the response says so.
			res = post(t, h.url+"/v1/events", `{"id":"`+id+`","source":"https://shop.example/orders","type":"order.placed"}`,
				"Content-Type", ct)
			if a := res.accepted(t); len(a.Duplicates) != 1 || a.Duplicates[0] != 0 {
				t.Fatalf("duplicate not reported: %s", res.body)
			}
			h.empty(t)
		})
	}
}

func TestStructuredModeBinaryData(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	raw := []byte{0xff, 0xfe, 0x00, 0x80, 'x'}
	res := post(t, h.url+"/v1/events", `{"id":"b","source":"s","type":"blob.stored",
		"datacontenttype":"application/octet-stream","data_base64":"//4AgHg="}`, "Content-Type", structured)
	res.accepted(t)
	got := h.next(t)
	if string(got.Data) != string(raw) || got.DataContentType != "application/octet-stream" {
		t.Fatalf("data %q (%s), want %q", got.Data, got.DataContentType, raw)
	}
	// A string with a text content type is the text itself.
	post(t, h.url+"/v1/events", `{"type":"note.added","datacontenttype":"text/plain","data":"héllo \"there\""}`,
		"Content-Type", structured).accepted(t)
	if got := h.next(t); string(got.Data) != `héllo "there"` {
		t.Fatalf("text data %q", got.Data)
	}
}

func TestBinaryModeKeepsEveryAttribute(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	body := []byte{0xff, 0x00, 0xc3, 0x28, 0x80} // not UTF-8
	res := do(t, http.MethodPost, h.url+"/v1/events", body,
		"ce-specversion", "1.0",
		"CE-ID", "B-1",
		"ce-source", "/sensors/7",
		"ce-type", "reading.taken",
		"ce-time", "2024-05-01T10:00:00Z",
		"ce-subject", "Euro%20%E2%82%AC%20%F0%9F%98%80", // percent-encoded, as the binding says
		"ce-dataschema", "urn:schema:reading",
		"ce-traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"ce-quoted", `"a \"quoted\" value"`, // the older quoted-string form
		"ce-literal", "50% off", // a '%' without hex digits is kept
		"ce-empty", "", // an empty extension is an absent one
		"Content-Type", "application/octet-stream",
	)
	if a := res.accepted(t); len(a.IDs) != 1 || a.IDs[0] != "B-1" {
		t.Fatalf("accepted %+v", a)
	}
	want := &event.Event{
		ID: "B-1", Source: "/sensors/7", Type: "reading.taken", SpecVersion: "1.0",
		Time: mustTime("2024-05-01T10:00:00Z"), Subject: "Euro € 😀", DataSchema: "urn:schema:reading",
		DataContentType: "application/octet-stream",
		Extensions: []event.Attr{
			{Name: "literal", Value: "50% off"},
			{Name: "quoted", Value: `a "quoted" value`},
			{Name: "traceparent", Value: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		},
		Data: body,
	}
	if d := diffEvents(h.next(t), want); d != "" {
		t.Fatal(d)
	}
}

func TestBinaryModeJSONData(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	post(t, h.url+"/v1/events", `{"id":42}`, "ce-type", "order.placed", "Content-Type", "application/json; charset=utf-8").accepted(t)
	got := h.next(t)
	if got.DataContentType != "application/json; charset=utf-8" || string(got.Data) != `{"id":42}` {
		t.Fatalf("got %q %q", got.DataContentType, got.Data)
	}
	// No body, no Content-Type: an event without data.
	post(t, h.url+"/v1/events", ``, "ce-type", "tick").accepted(t)
	if got := h.next(t); got.Data != nil || got.DataContentType != "" {
		t.Fatalf("got %q %q", got.DataContentType, got.Data)
	}
}

func TestStamping(t *testing.T) {
	h := newHarness(t, httpapi.Options{Source: "evhost://test"}, 0)
	check := func(t *testing.T, e *event.Event, id string) {
		t.Helper()
		if !uuidV4.MatchString(e.ID) || e.ID != id {
			t.Errorf("id %q (response %q), want a UUIDv4", e.ID, id)
		}
		if e.Source != "evhost://test" {
			t.Errorf("source %q", e.Source)
		}
		if !e.Time.Equal(fixedNow) || e.Time.Location() != time.UTC {
			t.Errorf("time %v, want %v in UTC", e.Time, fixedNow)
		}
		if e.SpecVersion != "1.0" {
			t.Errorf("specversion %q", e.SpecVersion)
		}
	}
	t.Run("structured", func(t *testing.T) {
		a := post(t, h.url+"/v1/events", `{"type":"a.b","id":null,"time":null}`, "Content-Type", structured).accepted(t)
		check(t, h.next(t), a.IDs[0])
	})
	t.Run("binary", func(t *testing.T) {
		a := post(t, h.url+"/v1/events", `{}`, "ce-type", "a.b", "Content-Type", "application/json").accepted(t)
		check(t, h.next(t), a.IDs[0])
	})
	t.Run("typed", func(t *testing.T) {
		a := post(t, h.url+"/v1/events/a.b", `{}`).accepted(t)
		check(t, h.next(t), a.IDs[0])
	})
	t.Run("distinct ids", func(t *testing.T) {
		a := post(t, h.url+"/v1/events", `[{"type":"a"},{"type":"a"}]`, "Content-Type", batch).accepted(t)
		if a.IDs[0] == a.IDs[1] {
			t.Fatalf("same id twice: %v", a.IDs)
		}
		h.next(t)
		h.next(t)
	})
}

func TestBatch(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	res := post(t, h.url+"/v1/events", `[
		{"specversion":"1.0","id":"1","source":"s","type":"order.placed","data":{"n":1}},
		{"id":"2","source":"s","type":"payment.charged","subject":"x","traceparent":"t"},
		{"source":"s","type":"email.sent","datacontenttype":"text/plain","data":"hi"}
	]`, "Content-Type", batch+"; charset=utf-8")
	a := res.accepted(t)
	if len(a.IDs) != 3 || a.IDs[0] != "1" || a.IDs[1] != "2" || !uuidV4.MatchString(a.IDs[2]) {
		t.Fatalf("ids %v", a.IDs)
	}
	wants := []*event.Event{
		{ID: "1", Source: "s", Type: "order.placed", SpecVersion: "1.0", Time: fixedNow,
			DataContentType: "application/json", Data: []byte(`{"n":1}`)},
		{ID: "2", Source: "s", Type: "payment.charged", SpecVersion: "1.0", Time: fixedNow, Subject: "x",
			Extensions: []event.Attr{{Name: "traceparent", Value: "t"}}},
		{ID: a.IDs[2], Source: "s", Type: "email.sent", SpecVersion: "1.0", Time: fixedNow,
			DataContentType: "text/plain", Data: []byte("hi")},
	}
	for i, want := range wants {
		if d := diffEvents(h.next(t), want); d != "" {
			t.Fatalf("event %d: %s", i, d)
		}
	}
	// An empty batch is valid.
	if a := post(t, h.url+"/v1/events", `[]`, "Content-Type", batch).accepted(t); len(a.IDs) != 0 {
		t.Fatalf("ids %v", a.IDs)
	}
}

func TestTypedEndpoint(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	res := post(t, h.url+"/v1/events/order.placed", `{"id":42,"product_id":"sku-1"}`,
		"ce-id", "T-1", "ce-subject", "order/42", "ce-region", "eu")
	if a := res.accepted(t); a.IDs[0] != "T-1" {
		t.Fatalf("ids %v", a.IDs)
	}
	want := &event.Event{ID: "T-1", Source: httpapi.DefaultSource, Type: "order.placed", SpecVersion: "1.0",
		Time: fixedNow, Subject: "order/42", DataContentType: "application/json",
		Extensions: []event.Attr{{Name: "region", Value: "eu"}}, Data: []byte(`{"id":42,"product_id":"sku-1"}`)}
	if d := diffEvents(h.next(t), want); d != "" {
		t.Fatal(d)
	}
	// Another content type is kept; the data is not checked.
	post(t, h.url+"/v1/events/note.added", "plain words", "Content-Type", "text/plain").accepted(t)
	if got := h.next(t); got.DataContentType != "text/plain" || string(got.Data) != "plain words" {
		t.Fatalf("got %q %q", got.DataContentType, got.Data)
	}
	// A percent-encoded type in the path.
	post(t, h.url+"/v1/events/caf%C3%A9.opened", `{}`).accepted(t)
	if got := h.next(t); got.Type != "café.opened" {
		t.Fatalf("type %q", got.Type)
	}
}

func TestMalformedRequests(t *testing.T) {
	cases := []struct {
		name   string
		path   string // default /v1/events
		body   string
		header []string
		status int
		field  string
		index  int // -1: none
		msg    string
	}{
		{name: "bad JSON", body: `{"type": "a",}`, header: []string{"Content-Type", structured},
			field: "", msg: "invalid JSON at byte"},
		{name: "empty body", body: ``, header: []string{"Content-Type", structured}, msg: "body is empty"},
		{name: "trailing data", body: `{"type":"a"} {}`, header: []string{"Content-Type", structured}, msg: "trailing data"},
		{name: "array as structured", body: `[{"type":"a"}]`, header: []string{"Content-Type", structured},
			msg: "application/cloudevents-batch+json"},
		{name: "missing type", body: `{"id":"1","source":"s"}`, header: []string{"Content-Type", structured},
			field: "type", msg: "type is missing"},
		{name: "type not a string", body: `{"type":5}`, header: []string{"Content-Type", structured},
			field: "type", msg: "must be a string"},
		{name: "wildcard type", body: `{"type":"order.*"}`, header: []string{"Content-Type", structured},
			field: "type", msg: "wildcard"},
		{name: "bad specversion", body: `{"type":"a","specversion":"0.3"}`, header: []string{"Content-Type", structured},
			field: "specversion", msg: `"0.3" is not supported`},
		{name: "bad time", body: `{"type":"a","time":"yesterday"}`, header: []string{"Content-Type", structured},
			field: "time", msg: "RFC 3339"},
		{name: "bad extension name", body: `{"type":"a","Bad_Name":"x"}`, header: []string{"Content-Type", structured},
			field: "Bad_Name", msg: "lower-case"},
		{name: "object extension", body: `{"type":"a","ext":{"a":1}}`, header: []string{"Content-Type", structured},
			field: "ext", msg: "string, a number or a boolean"},
		{name: "data and data_base64", body: `{"type":"a","data":"x","data_base64":"eA=="}`,
			header: []string{"Content-Type", structured}, field: "data_base64", msg: "not both"},
		{name: "bad base64", body: `{"type":"a","data_base64":"!!"}`, header: []string{"Content-Type", structured},
			field: "data_base64", msg: "base64"},
		{name: "control character", body: `{"type":"a","subject":"x\u0007y"}`, header: []string{"Content-Type", structured},
			field: "subject", msg: "control character"},
		{name: "batch not an array", body: `{"type":"a"}`, header: []string{"Content-Type", batch},
			msg: "application/cloudevents+json"},
		{name: "batch element not an object", body: `[{"type":"a"}, 7]`, header: []string{"Content-Type", batch},
			field: "[1]", index: 1, msg: "batch element 1 is not an object"},
		{name: "batch element missing type", body: `[{"type":"a"},{"type":"b"},{"id":"x"}]`, header: []string{"Content-Type", batch},
			field: "[2].type", index: 2, msg: "batch element"},
		{name: "batch element bad time", body: `[{"type":"a","time":"noon"}]`, header: []string{"Content-Type", batch},
			field: "[0].time", index: 0, msg: "batch element 0: time"},
		{name: "plain JSON", body: `{"id":42}`, header: []string{"Content-Type", "application/json"},
			field: "Content-Type", msg: "/v1/events/{type}"},
		{name: "no content type", body: `x`, field: "Content-Type", msg: "ce- headers"},
		{name: "binary missing type", body: `{}`, header: []string{"ce-id", "1", "Content-Type", "application/json"},
			field: "ce-type", msg: "type is missing"},
		{name: "binary bad specversion", body: `{}`, header: []string{"ce-type", "a", "ce-specversion", "2.0"},
			field: "ce-specversion", msg: "not supported"},
		{name: "binary bad time", header: []string{"ce-type", "a", "ce-time", "2024-13-01T00:00:00Z"},
			field: "ce-time", msg: "RFC 3339"},
		{name: "binary bad extension name", header: []string{"ce-type", "a", "ce-my_ext", "x"},
			field: "ce-my_ext", msg: "lower-case"},
		{name: "binary header twice", header: []string{"ce-type", "a", "ce-subject", "x", "ce-subject", "y"},
			field: "ce-subject", msg: "given 2 times"},
		{name: "binary ce-datacontenttype", header: []string{"ce-type", "a", "ce-datacontenttype", "text/plain"},
			field: "ce-datacontenttype", msg: "Content-Type header"},
		{name: "binary overlong UTF-8", header: []string{"ce-type", "a", "ce-subject", "%C0%A0"},
			field: "ce-subject", msg: "UTF-8"},
		{name: "binary control character", header: []string{"ce-type", "a", "ce-subject", "a%07b"},
			field: "ce-subject", msg: "control character"},
		{name: "binary JSON body not JSON", body: `{"id":`, header: []string{"ce-type", "a", "Content-Type", "application/json"},
			field: "body", msg: "not"},
		{name: "unsupported format", body: `x`, header: []string{"Content-Type", "application/cloudevents+avro"},
			status: http.StatusUnsupportedMediaType, field: "Content-Type", msg: "not supported"},
		{name: "unsupported charset", body: `{"type":"a"}`, header: []string{"Content-Type", structured + "; charset=latin1"},
			status: http.StatusUnsupportedMediaType, field: "Content-Type", msg: "UTF-8"},
		{name: "typed bad JSON", path: "/v1/events/a", body: `{"id":`, field: "body", msg: "not"},
		{name: "typed bad type", path: "/v1/events/a..b", body: `{}`, field: "path", msg: "empty token"},
		{name: "typed type mismatch", path: "/v1/events/a", body: `{}`, header: []string{"ce-type", "b"},
			field: "ce-type", msg: "differs"},
		{name: "typed structured body", path: "/v1/events/a", body: `{}`, header: []string{"Content-Type", structured},
			status: http.StatusUnsupportedMediaType, field: "Content-Type", msg: "/v1/events"},
	}
	pub := &fakePublisher{room: 1 << 30}
	srv := newServer(t, httpapi.Options{Publisher: pub})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := c.path
			if path == "" {
				path = "/v1/events"
			}
			status := c.status
			if status == 0 {
				status = http.StatusBadRequest
			}
			e := post(t, srv+path, c.body, c.header...).errorBody(t, status)
			if e.Field != c.field {
				t.Errorf("field %q, want %q (%s)", e.Field, c.field, e.Error)
			}
			wantIndex := c.index
			if !strings.HasPrefix(c.field, "[") {
				wantIndex = -1
			}
			switch {
			case wantIndex < 0 && e.Index != nil:
				t.Errorf("index %d, want none", *e.Index)
			case wantIndex >= 0 && (e.Index == nil || *e.Index != wantIndex):
				t.Errorf("index %v, want %d", e.Index, wantIndex)
			}
			if !strings.Contains(e.Error, c.msg) {
				t.Errorf("error %q does not say %q", e.Error, c.msg)
			}
			t.Logf("%d %s", status, e.Error)
		})
	}
	if n := pub.count(); n != 0 {
		t.Fatalf("%d events published from malformed requests", n)
	}
}

func TestOversizedBody(t *testing.T) {
	pub := &fakePublisher{room: 1 << 30}
	srv := newServer(t, httpapi.Options{Publisher: pub, MaxBody: 100})
	big := `{"type":"a","data":"` + strings.Repeat("x", 200) + `"}`
	post(t, srv+"/v1/events", big, "Content-Type", structured).errorBody(t, http.StatusRequestEntityTooLarge)
	post(t, srv+"/v1/events/a", `"`+strings.Repeat("x", 200)+`"`).errorBody(t, http.StatusRequestEntityTooLarge)
	// Without a Content-Length (chunked), the limit holds while reading.
	req, _ := http.NewRequest(http.MethodPost, srv+"/v1/events", strings.NewReader(big))
	req.ContentLength = -1
	req.Header.Set("Content-Type", structured)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d", res.StatusCode)
	}
	// At the limit is fine.
	exact := `{"type":"a","data":"` + strings.Repeat("x", 100-22) + `"}`
	if len(exact) != 100 {
		t.Fatalf("len %d", len(exact))
	}
	post(t, srv+"/v1/events", exact, "Content-Type", structured).accepted(t)
	if pub.count() != 1 {
		t.Fatalf("%d published", pub.count())
	}
}

func TestBackpressure(t *testing.T) {
	h := newHarness(t, httpapi.Options{RetryAfter: 1500 * time.Millisecond}, 2)
	post(t, h.url+"/v1/events/a", `1`, "ce-id", "1").accepted(t)
	post(t, h.url+"/v1/events/a", `2`, "ce-id", "2").accepted(t)

	res := post(t, h.url+"/v1/events/a", `3`, "ce-id", "3")
	e := res.errorBody(t, http.StatusTooManyRequests)
	if ra := res.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (1.5 s rounded up)", ra)
	}
	if e.Subscription != "all" || !strings.Contains(e.Error, `"all"`) || e.IDs == nil || len(e.IDs) != 0 || e.Index != nil {
		t.Errorf("response %s", res.body)
	}
	// Nothing of the refused event was published.
	h.next(t)
	h.next(t)
	h.empty(t)

	// A batch refused part-way: room for one of three.
	post(t, h.url+"/v1/events/a", `0`, "ce-id", "0").accepted(t)
	body := `[{"id":"b1","type":"a"},{"id":"b2","type":"a"},{"id":"b3","type":"a"}]`
	res = post(t, h.url+"/v1/events", body, "Content-Type", batch)
	e = res.errorBody(t, http.StatusTooManyRequests)
	if res.header.Get("Retry-After") == "" || len(e.IDs) != 1 || e.IDs[0] != "b1" || e.Index == nil || *e.Index != 1 {
		t.Fatalf("response %s", res.body)
	}
	h.next(t)
	if got := h.next(t); got.ID != "b1" {
		t.Fatalf("got %s", got.ID)
	}
	h.empty(t)
	// The producer resends the whole batch: b1 is a duplicate, not doubled.
	a := post(t, h.url+"/v1/events", body, "Content-Type", batch).accepted(t)
	if len(a.IDs) != 3 || len(a.Duplicates) != 1 || a.Duplicates[0] != 0 {
		t.Fatalf("accepted %+v", a)
	}
	for _, id := range []string{"b2", "b3"} {
		if got := h.next(t); got.ID != id {
			t.Fatalf("got %s, want %s", got.ID, id)
		}
	}
	h.empty(t)
}

func TestClosedBusAndReadiness(t *testing.T) {
	ready := &readiness{}
	h := newHarness(t, httpapi.Options{Ready: ready}, 0)
	srv := h.url

	if res := do(t, http.MethodGet, srv+"/readyz", nil); res.status != http.StatusOK {
		t.Fatalf("readyz %d", res.status)
	}
	ready.set(fmt.Errorf("loading plugins"))
	res := do(t, http.MethodGet, srv+"/readyz", nil)
	if e := res.errorBody(t, http.StatusServiceUnavailable); !strings.Contains(e.Error, "loading plugins") || res.header.Get("Retry-After") != "1" {
		t.Fatalf("readyz: %s %v", res.body, res.header)
	}
	res = post(t, srv+"/v1/events/a", `{}`)
	if e := res.errorBody(t, http.StatusServiceUnavailable); !strings.Contains(e.Error, "loading plugins") || res.header.Get("Retry-After") == "" {
		t.Fatalf("ingest while not ready: %s", res.body)
	}
	if res := do(t, http.MethodGet, srv+"/healthz", nil); res.status != http.StatusOK {
		t.Fatalf("healthz %d while not ready", res.status)
	}
	ready.set(nil)

	h.bus.Close(t.Context())
	res = post(t, srv+"/v1/events", `[{"type":"a"}]`, "Content-Type", batch)
	e := res.errorBody(t, http.StatusServiceUnavailable)
	if res.header.Get("Retry-After") != "1" || !strings.Contains(e.Error, "draining") || e.Index == nil || *e.Index != 0 {
		t.Fatalf("closed bus: %s", res.body)
	}
}

func TestPublisherErrors(t *testing.T) {
	pub := &fakePublisher{err: fmt.Errorf("disk on fire")}
	srv := newServer(t, httpapi.Options{Publisher: pub})
	e := post(t, srv+"/v1/events/a", `{}`).errorBody(t, http.StatusInternalServerError)
	if !strings.Contains(e.Error, "disk on fire") {
		t.Fatal(e.Error)
	}
	// A broker that cannot take events for now (a failover): 503, retry.
	pub.err = fmt.Errorf("natsbus: publish: %w: nats: timeout", bus.ErrUnavailable)
	res := post(t, srv+"/v1/events/a", `{}`)
	if e := res.errorBody(t, http.StatusServiceUnavailable); !strings.Contains(e.Error, "retry") || res.header.Get("Retry-After") == "" {
		t.Fatalf("unavailable broker: %s %v", res.body, res.header)
	}
}

// newServer returns the URL of a Server behind a real HTTP server.
func newServer(t *testing.T, opts httpapi.Options) string {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixedNow }
	}
	return newServerFor(t, httpapi.New(opts))
}

// newServerFor returns the URL of a real HTTP server serving h.
func newServerFor(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
