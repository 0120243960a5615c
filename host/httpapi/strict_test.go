package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/evhost/evhost/host/httpapi"
)

// Ingest refuses JSON that encoding/json would take but that a producer
// cannot have meant: data after the event, and a key given twice (which
// of the values counts differs between parsers). The 400 names the field.
func TestStrictJSON(t *testing.T) {
	h := newHarness(t, httpapi.Options{}, 0)
	const ev = `"specversion":"1.0","id":"1","source":"s","type":"x"`
	structured := []string{"Content-Type", "application/cloudevents+json"}
	batch := []string{"Content-Type", "application/cloudevents-batch+json"}
	binary := []string{"Content-Type", "application/json", "ce-specversion", "1.0", "ce-id", "2", "ce-source", "s", "ce-type", "x"}
	typed := []string{"Content-Type", "application/json"}
	for _, tc := range []struct {
		name, path, body string
		hdr              []string
		field, msg       string
	}{
		{"trailing brace", "/v1/events", `{` + ev + `}}`, structured, "body", "trailing data"},
		{"duplicate type", "/v1/events", `{` + ev + `,"type":"y"}`, structured, "type", `duplicate key "type"`},
		{"duplicate in data", "/v1/events", `{` + ev + `,"data":{"order":{"sku":"a","sku":"b"}}}`, structured, "data.order.sku", `duplicate key "sku"`},
		{"duplicate in array", "/v1/events", `{` + ev + `,"data":[{"a":1},{"a":1,"a":2}]}`, structured, "data[1].a", `duplicate key "a"`},
		{"duplicate in batch", "/v1/events", `[{` + ev + `},{` + strings.Replace(ev, `"1"`, `"2"`, 1) + `,"id":"3"}]`, batch, "[1].id", `duplicate key "id"`},
		{"duplicate in binary data", "/v1/events", `{"a":1,"a":2}`, binary, "body", `at a: duplicate key "a"`},
		{"duplicate in typed data", "/v1/events/x", `{"a":{"b":1,"b":1}}`, typed, "body", `at a.b: duplicate key "b"`},
		{"trailing typed data", "/v1/events/x", `{"type":"x"}}`, typed, "body", "not"},
	} {
		e := post(t, h.url+tc.path, tc.body, tc.hdr...).errorBody(t, http.StatusBadRequest)
		if e.Field != tc.field || !strings.Contains(e.Error, tc.msg) {
			t.Errorf("%s: field %q error %q; want field %q and %q", tc.name, e.Field, e.Error, tc.field, tc.msg)
		}
	}
	h.empty(t)
	// The same keys in different objects, and nested equal values, are fine.
	post(t, h.url+"/v1/events", `{`+ev+`,"data":{"a":{"a":1},"b":[{"a":1},{"a":1}]}}`, structured...).accepted(t)
	h.next(t)
}
