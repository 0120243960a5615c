package natsbus

import (
	"reflect"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/evhost/evhost/host/event"
)

// wire returns what a consumer receives for h: the header block encoded
// and decoded by the NATS client, as on the wire.
func wire(t testing.TB, h nats.Header) nats.Header {
	t.Helper()
	var block []byte
	block = append(block, "NATS/1.0\r\n"...)
	for k, vs := range h {
		for _, v := range vs {
			block = append(block, k+": "+v+"\r\n"...)
		}
	}
	block = append(block, "\r\n"...)
	got, err := nats.DecodeHeadersMsg(block)
	if err != nil {
		t.Fatalf("DecodeHeadersMsg: %v", err)
	}
	return got
}

func TestCodecRoundTrip(t *testing.T) {
	e := &event.Event{
		ID:              "id with spaces and \"quotes\" %41",
		Source:          "https://example.com/shop?q=a%20b",
		Type:            "order.placed",
		SpecVersion:     event.SpecVersion,
		Time:            time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		Subject:         " café\r\nline two ",
		DataContentType: "application/json; charset=utf-8",
		DataSchema:      "https://example.com/schema",
		Extensions: []event.Attr{
			{Name: "correlationid", Value: "c-1"},
			{Name: "depth", Value: "2"},
			{Name: "zeta", Value: "\x00\x7f"},
		},
		Data: []byte("{ \"spaced\" : true }\n"),
	}
	h := eventHeader(e, "", 0)
	for k, vs := range h {
		for _, c := range []byte(vs[0]) {
			if c <= ' ' || c >= 0x7f {
				t.Errorf("header %s carries byte %#x as is: %q", k, c, vs[0])
			}
		}
	}
	got, err := decodeEvent(wire(t, h), e.Data)
	if err != nil {
		t.Fatalf("decodeEvent: %v", err)
	}
	if !got.Time.Equal(e.Time) {
		t.Errorf("time %v, want %v", got.Time, e.Time)
	}
	got.Time, e.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, e) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, e)
	}
}

func TestDecodeOtherProducers(t *testing.T) {
	// Binary mode as the CloudEvents SDK writes it, with content-type.
	h := nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/x"}, "ce-type": {"a.b"}, "content-type": {"text/plain"}}
	e, err := decodeEvent(h, []byte("hi"))
	if err != nil || e.DataContentType != "text/plain" || string(e.Data) != "hi" {
		t.Errorf("binary with content-type: %+v, %v", e, err)
	}
	// Structured mode.
	e, err = decodeEvent(nats.Header{"Nats-Msg-Id": {"x"}}, []byte(`{"specversion":"1.0","id":"2","source":"/x","type":"a.b","data":{"n":1}}`))
	if err != nil || e.ID != "2" || string(e.Data) != `{"n":1}` {
		t.Errorf("structured: %+v, %v", e, err)
	}
	for name, tc := range map[string]struct {
		h    nats.Header
		data string
	}{
		"no event":      {nil, "hello"},
		"no id":         {nats.Header{"ce-specversion": {"1.0"}, "ce-source": {"/x"}, "ce-type": {"a"}}, ""},
		"bad time":      {nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/x"}, "ce-type": {"a"}, "ce-time": {"noon"}}, ""},
		"wildcard type": {nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/x"}, "ce-type": {"a.*"}}, ""},
		"bad extension": {nats.Header{"ce-specversion": {"1.0"}, "ce-id": {"1"}, "ce-source": {"/x"}, "ce-type": {"a"}, "ce-no_underscores": {"x"}}, ""},
	} {
		if e, err := decodeEvent(tc.h, []byte(tc.data)); err == nil {
			t.Errorf("%s: decoded %+v", name, e)
		}
	}
}

func TestMsgID(t *testing.T) {
	a, b := msgID("/a", "b"), msgID("/ab", "")
	if a == b || len(a) != 22 || msgID("/a", "b") != a {
		t.Errorf("msgID: %q, %q", a, b)
	}
	long := string(make([]byte, 1000))
	if len(msgID(long, long)) != 22 {
		t.Error("msgID of long attributes")
	}
}

// FuzzDecodeEvent feeds arbitrary header blocks and bodies, as anyone
// allowed to publish on the bus's subjects could, to the decoder.
func FuzzDecodeEvent(f *testing.F) {
	f.Add("ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /x\r\nce-type: a.b\r\nce-time: 2026-01-02T03:04:05Z\r\n", []byte("data"))
	f.Add("ce-specversion: 1.0\r\nce-id: %zz%4\r\nce-source: %20\r\nce-type: a\r\nce-x: %C3%A9\r\n", []byte{})
	f.Add("content-type: application/cloudevents+json\r\n", []byte(`{"specversion":"1.0","id":"1","source":"/","type":"t","data_base64":"AAE="}`))
	f.Fuzz(func(t *testing.T, hdr string, data []byte) {
		h, err := nats.DecodeHeadersMsg([]byte("NATS/1.0\r\n" + hdr + "\r\n\r\n"))
		if err != nil {
			return
		}
		e, err := decodeEvent(h, data)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded an invalid event: %v", err)
		}
		// What decodes encodes and decodes to the same event.
		again, err := decodeEvent(wire(t, eventHeader(e, "", 0)), e.Data)
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", e, err)
		}
		if !again.Time.Equal(e.Time) {
			t.Fatalf("time %v, then %v", e.Time, again.Time)
		}
		again.Time, e.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", again, e)
		}
	})
}

func FuzzEscape(f *testing.F) {
	f.Add("plain")
	f.Add(" %41\r\n\"é\x00")
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescape(escape(s)); got != s {
			t.Fatalf("unescape(escape(%q)) = %q", s, got)
		}
	})
}

func BenchmarkMsgID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		msgID("https://example.com/shop", "0a1b2c3d-4e5f-6789-abcd-ef0123456789")
	}
}

func BenchmarkEventHeader(b *testing.B) {
	e := &event.Event{ID: "0a1b2c3d-4e5f-6789-abcd-ef0123456789", Source: "/shop", Type: "order.placed",
		SpecVersion: "1.0", Time: time.Now().UTC(), DataContentType: "application/json"}
	b.ReportAllocs()
	for b.Loop() {
		eventHeader(e, "x", 0)
	}
}
