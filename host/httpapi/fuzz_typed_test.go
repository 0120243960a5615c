package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/event"
)

// FuzzDecodeTyped feeds POST /v1/events/{type}'s decoder a path type,
// headers and a body. Properties: it never panics; a refusal is a
// renderable 4xx naming the path, a header or the body; an accepted event
// is valid for the bus, has the path's type and the body as its data
// (JSON data valid and without duplicate keys when its type says JSON),
// and posting it again in binary mode gives the same event. Seeds are in
// testdata/fuzz/FuzzDecodeTyped.
func FuzzDecodeTyped(f *testing.F) {
	f.Add("order.placed", "Content-Type: application/json\nce-id: 1\nce-source: /shop", []byte(`{"id":42}`))
	f.Add("a", "", []byte(`{"a":1,"a":2}`))
	f.Add("a.*", "", []byte(nil))
	f.Add("a", "ce-type: b", []byte(nil))
	f.Add("a", "Content-Type: application/cloudevents+json", []byte(`{}`))
	f.Add("a", "Content-Type: text/plain; charset=utf-8\nce-subject: 50% off", []byte("x"))
	f.Fuzz(func(t *testing.T, typ, headers string, body []byte) {
		h := make(http.Header)
		for line := range strings.SplitSeq(headers, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}
		e, rerr := decodeTyped(typ, h, body)
		if rerr == nil {
			rerr = fuzzStamp.finish(e, origin{binary: true, index: -1})
		}
		if rerr != nil {
			checkRefusal(t, rerr)
			if f := rerr.field; f != "" && f != "path" && f != "body" && f != "Content-Type" && !strings.HasPrefix(f, "ce-") {
				t.Fatalf("field %q is not the path, a header or the body", f)
			}
			return
		}
		checkAccepted(t, e)
		if e.Type != typ {
			t.Fatalf("type %q, the path said %q", e.Type, typ)
		}
		if len(body) > 0 && !bytes.Equal(e.Data, body) {
			t.Fatalf("data %q, the body was %q", e.Data, body)
		}
		if len(body) > 0 && event.IsJSONContentType(e.DataContentType) {
			if !json.Valid(body) {
				t.Fatalf("accepted invalid JSON data with Content-Type %q: %q", e.DataContentType, body)
			}
			if _, msg, ok := strictJSON(body); !ok {
				t.Fatalf("accepted JSON data that strictJSON refuses (%s): %q", msg, body)
			}
		}
		again, rerr := decodeTyped(e.Type, encodeBinary(e), e.Data)
		if rerr == nil {
			rerr = fuzzStamp.finish(again, origin{binary: true, index: -1})
		}
		if rerr != nil {
			t.Fatalf("re-posted event refused: %v\n%v", rerr, encodeBinary(e))
		}
		if d := diff(again, e); d != "" {
			t.Fatalf("round trip: %s", d)
		}
	})
}
