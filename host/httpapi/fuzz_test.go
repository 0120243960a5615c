package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/evhost/evhost/host/event"
)

// The fuzz targets feed the ingest decoders untrusted bytes and check that
// they never panic, that every refusal is a renderable 4xx naming a field
// consistent with its batch index, and that every event they accept is
// valid for the bus and survives a round trip through its encoding
// unchanged.

var fuzzStamp = stamper{source: DefaultSource, now: func() time.Time { return time.Unix(1700000000, 5).UTC() }}

var structuredSeeds = []string{
	`{"specversion":"1.0","id":"1","source":"s","type":"order.placed","time":"2024-05-01T12:34:56.789+02:00",` +
		`"subject":"x","dataschema":"urn:s","datacontenttype":"application/json","ext":5,"flag":true,"data":{"a":[1,2]}}`,
	`{"type":"a","datacontenttype":"text/plain","data":"héllo"}`,
	`{"type":"a","datacontenttype":"application/octet-stream","data_base64":"//4AgA=="}`,
	`{"type":"a","data":"x","data_base64":"eA=="}`,
	`{"type":"a","time":"yesterday"}`,
	`{"type":"a","Bad":"x"}`,
	`{"type":"a","specversion":"0.3"}`,
	`{"type":"a.*"}`,
	`{"type":"a","subject":"\u0000"}`,
	`{"type":"a","data":null,"id":null}`,
	`{"id":"1"}`,
	`[{"type":"a"}]`,
	`{"type":"a"} {}`,
	`null`,
	``,
}

func FuzzDecodeStructured(f *testing.F) {
	for _, s := range structuredSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, rerr := decodeStructured(b)
		if rerr == nil {
			rerr = fuzzStamp.finish(e, single)
		}
		if rerr != nil {
			checkRefusal(t, rerr)
			return
		}
		checkAccepted(t, e)
		again, rerr := decodeStructured(event.AppendJSON(nil, e))
		if rerr == nil {
			rerr = fuzzStamp.finish(again, single)
		}
		if rerr != nil {
			t.Fatalf("re-encoded event refused: %v\n%s", rerr, event.AppendJSON(nil, e))
		}
		if d := diff(again, e); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"type":"a"},{"type":"b","id":"2","data":[1]},{"type":"c","datacontenttype":"text/plain","data":"x"}]`))
	f.Add([]byte(`[{"type":"a"}, 7]`))
	f.Add([]byte(`[{"type":"a"},{"time":"x","type":"b"}]`))
	f.Add([]byte(`{"type":"a"}`))
	f.Add([]byte(`[null]`))
	for _, s := range structuredSeeds[:4] {
		f.Add([]byte("[" + s + "," + s + "]"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		events, rerr := decodeBatch(b, 0)
		for i := 0; rerr == nil && i < len(events); i++ {
			rerr = fuzzStamp.finish(events[i], origin{index: i})
		}
		if rerr != nil {
			checkRefusal(t, rerr)
			return
		}
		buf := []byte{'['}
		for i, e := range events {
			checkAccepted(t, e)
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = event.AppendJSON(buf, e)
		}
		buf = append(buf, ']')
		again, rerr := decodeBatch(buf, 0)
		for i := 0; rerr == nil && i < len(again); i++ {
			rerr = fuzzStamp.finish(again[i], origin{index: i})
		}
		if rerr != nil {
			t.Fatalf("re-encoded batch refused: %v\n%s", rerr, buf)
		}
		if len(again) != len(events) {
			t.Fatalf("round trip: %d events, want %d", len(again), len(events))
		}
		for i := range events {
			if d := diff(again[i], events[i]); d != "" {
				t.Fatalf("round trip, event %d: %s", i, d)
			}
		}
	})
}

// FuzzDecodeBinary takes headers as lines of "Name: value" and the body.
func FuzzDecodeBinary(f *testing.F) {
	f.Add("ce-specversion: 1.0\nce-id: 1\nce-source: /s\nce-type: order.placed\nce-time: 2024-05-01T10:00:00Z\n"+
		"ce-subject: Euro%20%E2%82%AC\nce-dataschema: urn:x\nce-traceparent: 00-ab-cd-01\nContent-Type: application/json",
		[]byte(`{"a":1}`))
	f.Add("ce-type: a\nContent-Type: application/octet-stream", []byte{0xff, 0, 0x80})
	f.Add("ce-type: a\nce-quoted: \"a \\\"b\\\" c\"\nce-pct: 50% off", []byte(nil))
	f.Add("ce-type: a\nce-subject: %C0%A0", []byte(nil))
	f.Add("ce-type: a\nce-subject: x\nce-subject: y", []byte(nil))
	f.Add("ce-type: a\nce-datacontenttype: text/plain", []byte("x"))
	f.Add("ce-type: a\nce-Bad_Ext: x\nce-time: noon", []byte(nil))
	f.Add("ce-id: 1\nContent-Type: application/json", []byte(`{"a":`))
	f.Add("ce-type: a\nce-specversion: 0.3\nce-x: a%07b", []byte(nil))
	f.Fuzz(func(t *testing.T, headers string, body []byte) {
		h := make(http.Header)
		for line := range strings.SplitSeq(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		e, rerr := decodeBinary(h, body)
		if rerr == nil {
			rerr = fuzzStamp.finish(e, origin{binary: true, index: -1})
		}
		if rerr != nil {
			checkRefusal(t, rerr)
			if f := rerr.field; f != "" && f != "body" && f != "Content-Type" && !strings.HasPrefix(f, "ce-") {
				t.Fatalf("field %q is not a header", f)
			}
			return
		}
		checkAccepted(t, e)
		again, rerr := decodeBinary(encodeBinary(e), e.Data)
		if rerr == nil {
			rerr = fuzzStamp.finish(again, origin{binary: true, index: -1})
		}
		if rerr != nil {
			t.Fatalf("re-encoded event refused: %v\n%v", rerr, encodeBinary(e))
		}
		if d := diff(again, e); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}

// encodeBinary returns the headers of e in binary mode, percent-encoded
// as the HTTP binding says.
func encodeBinary(e *event.Event) http.Header {
	h := make(http.Header)
	set := func(name, v string) {
		if v != "" {
			h.Set("ce-"+name, percentEncode(v))
		}
	}
	set("id", e.ID)
	set("source", e.Source)
	set("type", e.Type)
	set("specversion", e.SpecVersion)
	set("time", e.Time.Format(event.TimeFormat))
	set("subject", e.Subject)
	set("dataschema", e.DataSchema)
	for _, a := range e.Extensions {
		set(a.Name, a.Value)
	}
	if e.DataContentType != "" {
		h.Set("Content-Type", e.DataContentType)
	}
	return h
}

func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '"' || c == '%' || c >= 0x7f {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// checkRefusal checks a refusal: a 4xx with a message, rendered as JSON,
// and its batch index (if any) named by its field.
func checkRefusal(t *testing.T, rerr *requestError) {
	t.Helper()
	if rerr.status < 400 || rerr.status > 499 || rerr.msg == "" {
		t.Fatalf("refusal %d %q", rerr.status, rerr.msg)
	}
	if rerr.index >= 0 {
		prefix := "[" + strconv.Itoa(rerr.index) + "]"
		if !strings.HasPrefix(rerr.field, prefix) {
			t.Fatalf("index %d, field %q", rerr.index, rerr.field)
		}
	}
	if _, err := json.Marshal(rerr.response()); err != nil {
		t.Fatal(err)
	}
}

// checkAccepted checks that e is what the bus accepts.
func checkAccepted(t *testing.T, e *event.Event) {
	t.Helper()
	if err := e.Validate(); err != nil {
		t.Fatalf("accepted an invalid event: %v", err)
	}
	if err := event.ValidType(e.Type); err != nil {
		t.Fatalf("accepted an invalid type: %v", err)
	}
	if e.Time.IsZero() {
		t.Fatal("no time stamped")
	}
	for _, v := range []string{e.ID, e.Source, e.Subject, e.DataContentType, e.DataSchema} {
		if badValue(v) != "" {
			t.Fatalf("accepted a bad value %q", v)
		}
	}
	for _, a := range e.Extensions {
		if event.ValidExtensionName(a.Name) != nil || badValue(a.Value) != "" || !utf8.ValidString(a.Value) {
			t.Fatalf("accepted a bad extension %q=%q", a.Name, a.Value)
		}
	}
	event.AppendEnvelope(nil, e) // what crosses into plugins
}

// diff reports the first difference between got and want, comparing JSON
// data by its compact form.
func diff(got, want *event.Event) string {
	switch {
	case got.ID != want.ID, got.Source != want.Source, got.Type != want.Type,
		got.SpecVersion != want.SpecVersion, got.Subject != want.Subject,
		got.DataContentType != want.DataContentType, got.DataSchema != want.DataSchema:
		return "attributes differ: " + string(event.AppendJSON(nil, got)) + " vs " + string(event.AppendJSON(nil, want))
	case !got.Time.Equal(want.Time) || got.Time.Format(event.TimeFormat) != want.Time.Format(event.TimeFormat):
		return "time " + got.Time.String() + " vs " + want.Time.String()
	case len(got.Extensions) != len(want.Extensions):
		return "extensions differ"
	}
	for i := range got.Extensions {
		if got.Extensions[i] != want.Extensions[i] {
			return "extension " + got.Extensions[i].Name + " differs"
		}
	}
	if bytes.Equal(got.Data, want.Data) {
		return ""
	}
	if event.IsJSONContentType(want.DataContentType) && json.Valid(got.Data) && json.Valid(want.Data) {
		var a, b bytes.Buffer
		json.Compact(&a, got.Data)
		json.Compact(&b, want.Data)
		if bytes.Equal(a.Bytes(), b.Bytes()) {
			return ""
		}
	}
	return "data " + strconv.Quote(string(got.Data)) + " vs " + strconv.Quote(string(want.Data))
}

func TestDecodeHeaderValue(t *testing.T) {
	cases := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀", ""},
		{"lower%e2%82%ac", "lower€", ""},
		{"%41", "A", ""}, // needlessly encoded: accepted
		{"50% off", "50% off", ""},
		{"100%", "100%", ""},
		{"%zz", "%zz", ""},
		{`"a \"b\" c"`, `a "b" c`, ""},
		{`"%22"`, `"`, ""},
		{`"`, `"`, ""},
		{`"a"b"`, "", "double quote"},
		{`"a\"`, "", "trailing backslash"},
		{"%C0%A0", "", "UTF-8"},
		{"%FF", "", "UTF-8"},
		{"raw ü", "raw ü", ""},
		{"\xff", "", "UTF-8"},
	}
	for _, c := range cases {
		got, err := decodeHeaderValue(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("%q: %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		u := event.NewID()
		if len(u) != 36 || u[14] != '4' || !strings.ContainsRune("89ab", rune(u[19])) || seen[u] {
			t.Fatalf("bad or repeated UUIDv4 %q", u)
		}
		seen[u] = true
	}
}
