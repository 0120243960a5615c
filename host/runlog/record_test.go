package runlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/runlog"
	"github.com/evhost/evhost/host/runlog/runlogtest"
)

func TestJSONShape(t *testing.T) {
	r := &runlog.Record{
		Seq:          7, // not encoded
		Subscription: "payment",
		Plugin:       "charge",
		Version:      "9f86d081884c7d65",
		EventID:      "e1",
		EventSource:  "/shop",
		EventType:    "order.placed",
		EventSeq:     42,
		EventTime:    time.Date(2025, 1, 2, 3, 4, 0, 0, time.FixedZone("CET", 3600)),
		Attempt:      2,
		Status:       runlog.StatusDone,
		Start:        time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600)),
		Duration:     1500 * time.Microsecond,
		Emits: []*event.Event{{
			SpecVersion: "1.0", ID: "c1", Source: "evhost://plugin/charge", Type: "payment.charged",
			DataContentType: "application/json", Data: []byte(`{ "amount": 12 }`),
		}},
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"kind":"delivery","subscription":"payment","plugin":"charge","version":"9f86d081884c7d65",` +
		`"event_id":"e1","event_source":"/shop","event_type":"order.placed","event_seq":42,` +
		`"event_time":"2025-01-02T02:04:00Z","attempt":2,"status":"done","start":"2025-01-02T02:04:05.123456789Z","duration_ns":1500000,` +
		`"emits":[{"specversion":"1.0","id":"c1","source":"evhost://plugin/charge","type":"payment.charged",` +
		`"datacontenttype":"application/json","data":{"amount":12}}]}`
	if string(got) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
	// The smallest record: required members only.
	smallest := runlog.AppendJSON(nil, &runlog.Record{EventID: "x", Status: "retry", Reason: "timeout"})
	wantMin := `{"kind":"delivery","subscription":"","event_id":"x","attempt":0,"status":"retry","reason":"timeout","start":"0001-01-01T00:00:00Z","duration_ns":0}`
	if string(smallest) != wantMin {
		t.Errorf("JSON =\n%s\nwant\n%s", smallest, wantMin)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := runlogtest.Rec("ev/1", "payment", 3)
	r.Kind = runlog.KindReplay
	r.EventSeq = 9
	r.EventTime = time.Date(2025, 1, 2, 3, 4, 0, 5, time.UTC)
	r.Reason = "bad \x00 \xff byte"
	r.Truncated = true
	r.Emits = []*event.Event{runlogtest.Emit("ev/1", "payment", 0)}
	b := runlog.AppendJSON(nil, r)
	got, err := runlog.DecodeJSON(b)
	if err != nil {
		t.Fatalf("DecodeJSON(%s): %v", b, err)
	}
	if got.Reason != "bad \x00 \ufffd byte" {
		t.Errorf("Reason = %q (invalid UTF-8 becomes U+FFFD)", got.Reason)
	}
	got.Reason = r.Reason
	if !got.Start.Equal(r.Start) || got.Duration != r.Duration || got.Kind != r.Kind || got.EventSeq != 9 || !got.EventTime.Equal(r.EventTime) ||
		got.Attempt != 3 || !got.Truncated || got.Plugin != r.Plugin || got.Version != r.Version ||
		got.EventSource != r.EventSource || got.EventType != r.EventType {
		t.Errorf("decoded %+v\nwant %+v", got, r)
	}
	if len(got.Emits) != 1 || got.Emits[0].ID != r.Emits[0].ID || string(got.Emits[0].Data) != string(r.Emits[0].Data) {
		t.Errorf("emits = %+v", got.Emits)
	}
	if again := runlog.AppendJSON(nil, got); !bytes.Equal(again, runlog.AppendJSON(nil, got)) {
		t.Error("encoding is not stable")
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"event_id":1}`, `{}`, `{"event_id":"x","emits":[{"id":5}]}`, `{"event_id":"x","start":"yesterday"}`,
	} {
		if _, err := runlog.DecodeJSON([]byte(in)); !errors.Is(err, runlog.ErrInvalidJSON) {
			t.Errorf("DecodeJSON(%s) = %v, want ErrInvalidJSON", in, err)
		}
	}
}

// TestStringsLikeEncodingJSON checks the hand-written string encoder
// against encoding/json's.
func TestStringsLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\"\\/", "\x00\x01\x1f\x7f", "\n\r\t\b\f", "é🙂", "\xff\xfe", "a\u2028b\u2029", "<&>"} {
		checkString(t, s)
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	got := runlog.AppendJSON(nil, &runlog.Record{EventID: "x", Reason: s})
	var w struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(got, &w); err != nil {
		t.Fatalf("reason %q: invalid JSON %s: %v", s, got, err)
	}
	want := strings.ToValidUTF8(s, "\ufffd")
	if !utf8.ValidString(s) {
		// encoding/json replaces each invalid byte.
		var b strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += n
		}
		want = b.String()
	}
	if w.Reason != want {
		t.Errorf("reason %q came back as %q, want %q", s, w.Reason, want)
	}
}

func FuzzJSONString(f *testing.F) {
	for _, s := range []string{"", "a\"b", "\xff", "\u2028", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkString(t, s) })
}

func FuzzDecodeJSON(f *testing.F) {
	r := runlogtest.Rec("e", "s", 1)
	r.Emits = []*event.Event{runlogtest.Emit("e", "s", 0)}
	f.Add(runlog.AppendJSON(nil, r))
	f.Add([]byte(`{"event_id":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := runlog.DecodeJSON(b)
		if err != nil {
			return
		}
		again, err := runlog.DecodeJSON(runlog.AppendJSON(nil, r))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", r, err)
		}
		if again.EventID != r.EventID || again.Reason != r.Reason || len(again.Emits) != len(r.Emits) {
			t.Fatalf("round trip changed %+v into %+v", r, again)
		}
	})
}

func TestAppendJSONLimit(t *testing.T) {
	r := runlogtest.Rec("big", "payment", 1)
	for i := 0; i < 10; i++ {
		e := runlogtest.Emit("big", "payment", i)
		e.Data = []byte(`"` + strings.Repeat("x", 1000) + `"`)
		r.Emits = append(r.Emits, e)
	}
	full := runlog.AppendJSON(nil, r)
	if got := runlog.AppendJSONLimit(nil, r, len(full)); !bytes.Equal(got, full) {
		t.Error("a record that fits was changed")
	}
	// Data dropped, every emit kept.
	got := runlog.AppendJSONLimit([]byte("prefix"), r, len(full)-100)
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatal("dst lost")
	}
	got = got[len("prefix"):]
	if len(got) > len(full)-100 {
		t.Errorf("%d bytes, over the limit of %d", len(got), len(full)-100)
	}
	d, err := runlog.DecodeJSON(got)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Truncated || len(d.Emits) != 10 || d.Emits[9].ID != r.Emits[9].ID || len(d.Emits[0].Data) != 0 {
		t.Errorf("truncated to %s", got)
	}
	if len(r.Emits[0].Data) == 0 {
		t.Error("AppendJSONLimit modified the record's emits")
	}
	// Room for three bare emits.
	base := len(runlog.AppendJSON(nil, &runlog.Record{
		Subscription: r.Subscription, Plugin: r.Plugin, Version: r.Version, EventID: r.EventID,
		EventSource: r.EventSource, EventType: r.EventType, Attempt: 1, Status: r.Status,
		Start: r.Start, Duration: r.Duration, Truncated: true,
	}))
	bare := *r.Emits[0]
	bare.Data = nil
	per := len(event.AppendJSON(nil, &bare)) + 1
	limit := base + len(`,"emits":[]`) + 3*per + per/2
	got = runlog.AppendJSONLimit(nil, r, limit)
	if d, err = runlog.DecodeJSON(got); err != nil {
		t.Fatal(err)
	}
	if len(got) > limit || len(d.Emits) != 3 || !d.Truncated {
		t.Errorf("limit %d: %d bytes, %d emits", limit, len(got), len(d.Emits))
	}
	// A reason too long on its own.
	f := runlogtest.Rec("big", "payment", 1)
	f.Status, f.Reason = runlog.StatusRetry, strings.Repeat("é\n", 5000)
	got = runlog.AppendJSONLimit(nil, f, 2000)
	if d, err = runlog.DecodeJSON(got); err != nil {
		t.Fatal(err)
	}
	if len(got) > 2000 || len(got) < 1990 || !d.Truncated || !strings.HasPrefix(f.Reason, d.Reason) || !utf8.ValidString(d.Reason) {
		t.Errorf("limit 2000: %d bytes, reason of %d bytes", len(got), len(d.Reason))
	}
}
