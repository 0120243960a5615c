package pdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func testEvent() *Event {
	e := &Event{
		ID:              "e1",
		Source:          "/orders",
		Type:            "order.created",
		SpecVersion:     "1.0",
		Subject:         "order/42",
		DataContentType: "application/json",
		DataSchema:      "https://example.com/order.json",
		Extensions:      map[string]string{"correlationid": "c1", "depth": "2", "traceparent": "00-abc-def-01"},
		Data:            []byte(`{"id":"42","amount":7}`),
	}
	e.SetTime(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC))
	return e
}

func TestEventRoundTrip(t *testing.T) {
	for _, e := range []*Event{testEvent(), {Type: "t"}, {Type: "t", Data: []byte{0, 1, 0}}} {
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got.Extensions == nil && len(e.Extensions) == 0 {
			got.Extensions = e.Extensions
		}
		if !reflect.DeepEqual(&got, e) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, *e)
		}
		b[len(b)-1] ^= 0xFF // the result must not alias the input
		if e.Data != nil && !bytes.Equal(got.Data, e.Data) {
			t.Error("UnmarshalBinary result aliases its input")
		}
	}
}

func TestEventAttr(t *testing.T) {
	e := testEvent()
	for name, want := range map[string]string{
		"id": "e1", "source": "/orders", "type": "order.created", "specversion": "1.0",
		"time": "2025-01-02T03:04:05.000000006Z", "subject": "order/42",
		"datacontenttype": "application/json", "dataschema": "https://example.com/order.json",
		"correlationid": "c1", "depth": "2",
	} {
		if got, ok := e.Attr(name); !ok || got != want {
			t.Errorf("Attr(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
	for _, name := range []string{"nope", "data"} {
		if v, ok := e.Attr(name); ok {
			t.Errorf("Attr(%q) = %q, true; want absent", name, v)
		}
	}
	var empty Event
	if _, ok := empty.Attr("time"); ok {
		t.Error("zero time present")
	}
	if _, ok := empty.Attr("subject"); ok {
		t.Error("empty subject present")
	}
}

func TestEventDecodeAndClone(t *testing.T) {
	e := testEvent()
	var v struct {
		ID     string
		Amount int
	}
	if err := e.Decode(&v); err != nil || v.ID != "42" || v.Amount != 7 {
		t.Fatalf("Decode: %+v, %v", v, err)
	}
	if err := (&Event{Type: "t", Data: []byte("{")}).Decode(&v); err == nil || !strings.Contains(err.Error(), "decode t event") {
		t.Errorf("Decode of bad JSON: %v", err)
	}
	if err := (&Event{Type: "t"}).Decode(&v); err == nil {
		t.Error("Decode of no data succeeded")
	}
	c := e.Clone()
	c.Data[0] = 'X'
	c.Extensions["depth"] = "9"
	if e.Data[0] == 'X' || e.Extensions["depth"] != "2" {
		t.Error("Clone shares memory")
	}
}

func attr(name, value string) []byte {
	b := []byte{byte(len(name))}
	b = append(b, name...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(value)))
	return append(b, value...)
}

func TestEventUnmarshalRejects(t *testing.T) {
	end := []byte{0}
	tests := map[string][]byte{
		"duplicate context attribute": bytes.Join([][]byte{attr("type", "a"), attr("type", "b"), end}, nil),
		"duplicate extension":         bytes.Join([][]byte{attr("depth", "1"), attr("depth", "2"), end}, nil),
		"bad time":                    bytes.Join([][]byte{attr("time", "yesterday"), end}, nil),
		"truncated":                   attr("type", "a")[:5],
	}
	for name, in := range tests {
		var e Event
		if err := e.UnmarshalBinary(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestEventMarshalRejectsBadExtension(t *testing.T) {
	for _, name := range []string{"", "type", strings.Repeat("x", 256)} {
		e := Event{Type: "t", Extensions: map[string]string{name: "v"}}
		if _, err := e.MarshalBinary(); !errors.Is(err, ErrMalformed) {
			t.Errorf("extension %q: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	req := &HTTPRequest{Method: "POST", URL: "https://api.example.com/x?y=1", Body: []byte("{}"), Header: Header{}}
	req.Header.Add("Content-Type", "application/json")
	req.Header.Add("Accept", "a")
	req.Header.Add("ACCEPT", "b")
	b, err := req.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var got HTTPRequest
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&got, req) || !reflect.DeepEqual(got.Header.Values("accept"), []string{"a", "b"}) {
		t.Fatalf("request round trip: %+v", got)
	}
	b, _ = (&HTTPRequest{URL: "u"}).MarshalBinary()
	if err := got.UnmarshalBinary(b); err != nil || got.Method != "GET" || got.Body != nil && len(got.Body) > 0 {
		t.Fatalf("default method: %+v %v", got, err)
	}

	resp := &HTTPResponse{Status: 404, Header: Header{"x-a": {"1", "2"}}, Body: []byte("not found")}
	b, _ = resp.MarshalBinary()
	var gotResp HTTPResponse
	if err := gotResp.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(&gotResp, resp) {
		t.Fatalf("response round trip: %+v %v", gotResp, err)
	}
	if gotResp.Header.Get("X-A") != "1" {
		t.Errorf("Header.Get is not case-insensitive")
	}
	for _, bad := range [][]byte{
		append(attr("status", "abc"), 0),
		append(attr("status", "20"), 0),
		{0},
		append(append(attr("status", "200"), attr("bogus", "x")...), 0),
	} {
		if err := gotResp.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("response %q: err = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestStatusOf(t *testing.T) {
	base := errors.New("boom")
	tests := []struct {
		err  error
		want Status
	}{
		{nil, StatusDone},
		{base, StatusRetry},
		{Retry(base), StatusRetry},
		{Reject(base), StatusReject},
		{Rejectf("bad %d", 1), StatusReject},
		{Retryf("later %d", 1), StatusRetry},
		{Reject(nil), StatusReject},
		{Retry(Reject(base)), StatusRetry},
		{errors.Join(errors.New("x"), Reject(base)), StatusReject},
	}
	for _, tt := range tests {
		if got := StatusOf(tt.err); got != tt.want {
			t.Errorf("StatusOf(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	if !errors.Is(Reject(base), base) || Reject(base).Error() != "boom" {
		t.Error("Reject does not wrap transparently")
	}
}

func TestHostErrorMessages(t *testing.T) {
	err := error(&HostError{Op: "kv_get a", Code: -1})
	if !errors.Is(err, ErrNotFound) || err.Error() != "pdk: kv_get a: not found (-1)" {
		t.Errorf("got %q", err)
	}
	err = &HostError{Op: "emit", Code: -9}
	if errors.Unwrap(err) != nil || err.Error() != "pdk: emit: host error -9" {
		t.Errorf("got %q", err)
	}
}

// padded returns the envelope of e with the spare capacity that the
// decoder's fast path reads, as evhost_alloc and pdktest give it.
func padded(e *Event) []byte {
	b, err := e.MarshalBinary()
	if err != nil {
		panic(err)
	}
	return slices.Grow(b, envelopePadding)
}

// The hot path: an event that emits nothing allocates nothing.
func TestDispatchAllocs(t *testing.T) {
	for _, e := range []*Event{testEvent(), {Type: "t", ID: "1"}} {
		env := padded(e)
		noop := func(*Event) error { return nil }
		dispatch(noop, env)
		allocs := testing.AllocsPerRun(100, func() {
			if st := dispatch(noop, env); st != StatusDone {
				t.Fatal(st)
			}
		})
		if allocs != 0 {
			t.Errorf("dispatch allocates %v times per event, want 0", allocs)
		}
	}
}

func TestDispatchReusesAndAliases(t *testing.T) {
	env := padded(testEvent())
	inEnv := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		start := uintptr(unsafe.Pointer(&env[0]))
		return p >= start && p+uintptr(len(s)) <= start+uintptr(len(env))
	}
	var seen *Event
	dispatch(func(e *Event) error {
		seen = e
		if &e.Data[0] != &env[len(env)-len(e.Data)] {
			t.Error("Data does not alias the event buffer")
		}
		for _, s := range []string{e.ID, e.Type, e.DataSchema, e.Extensions["depth"]} {
			if !inEnv(s) {
				t.Errorf("%q does not alias the event buffer", s)
			}
		}
		for k := range e.Extensions {
			if !inEnv(k) {
				t.Errorf("extension name %q does not alias the event buffer", k)
			}
		}
		if got := e.Time(); !got.Equal(time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)) {
			t.Errorf("Time() = %v", got)
		}
		return nil
	}, env)
	if seen.Data != nil {
		t.Error("Data kept after the call")
	}
	other := padded(&Event{Type: "other"})
	dispatch(func(e *Event) error {
		if e != seen || e.Type != "other" || len(e.Extensions) != 0 || e.Subject != "" || !e.Time().IsZero() {
			t.Errorf("second event: %+v", e)
		}
		return nil
	}, other)
}

func BenchmarkDispatch(b *testing.B) {
	env := padded(testEvent())
	noop := func(e *Event) error { return nil }
	b.ReportAllocs()
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		dispatch(noop, env)
	}
}

// FuzzUnmarshalEvent checks the guest's event decoder: no panics, only
// ErrMalformed errors, and what it accepts survives a re-encoding.
func FuzzUnmarshalEvent(f *testing.F) {
	b, _ := testEvent().MarshalBinary()
	f.Add(b)
	f.Add([]byte{0})
	f.Add(append(attr("time", "2025-01-02T03:04:05+02:00"), 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		var e Event
		if err := e.UnmarshalBinary(in); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		out, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", e, err)
		}
		var again Event
		if err := again.UnmarshalBinary(out); err != nil {
			t.Fatalf("decode re-encoding: %v", err)
		}
		if !again.Time().Equal(e.Time()) {
			t.Fatalf("time %v, want %v", again.Time(), e.Time())
		}
		if len(again.Extensions) == 0 && len(e.Extensions) == 0 {
			again.Extensions, e.Extensions = nil, nil
		}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, e)
		}
	})
}
