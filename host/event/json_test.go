package event_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/evhost/evhost/host/event"
)

func TestJSONRoundTrip(t *testing.T) {
	for name, e := range map[string]*event.Event{
		"json data":   sample(),
		"text data":   {ID: "1", Source: "s", Type: "t", SpecVersion: "1.0", DataContentType: "text/plain", Data: []byte("hello\n")},
		"binary data": {ID: "1", Source: "s", Type: "t", SpecVersion: "1.0", DataContentType: "application/octet-stream", Data: []byte{0, 1, 0xff}},
		"no data":     {ID: "1", Source: "s", Type: "t", SpecVersion: "1.0"},
	} {
		t.Run(name, func(t *testing.T) {
			b := event.AppendJSON(nil, e)
			got, err := event.DecodeJSON(b)
			if err != nil {
				t.Fatalf("%s: %v", b, err)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
			if got.ID != e.ID || got.Type != e.Type || !got.Time.Equal(e.Time) || !bytes.Equal(got.Data, e.Data) ||
				got.DataContentType != e.DataContentType || len(got.Extensions) != len(e.Extensions) {
				t.Fatalf("round trip of %s:\n got %+v\nwant %+v", b, got, e)
			}
		})
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for name, in := range map[string]string{
		"not json":         `{`,
		"array":            `[1]`,
		"trailing":         `{"id":"1"} {}`,
		"both data":        `{"id":"1","data":1,"data_base64":"AA=="}`,
		"bad base64":       `{"id":"1","data_base64":"!!"}`,
		"core not string":  `{"id":1}`,
		"bad ext name":     `{"id":"1","Bad-Name":"x"}`,
		"ext object value": `{"id":"1","ext":{}}`,
		"bad time":         `{"id":"1","time":"noon"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := event.DecodeJSON([]byte(in)); !errors.Is(err, event.ErrInvalidJSON) {
				t.Fatalf("err = %v, want ErrInvalidJSON", err)
			}
		})
	}
}

func TestDecodeJSONBatch(t *testing.T) {
	evs, err := event.DecodeJSONBatch([]byte(`[{"specversion":"1.0","id":"a","source":"s","type":"t"},{"specversion":"1.0","id":"b","source":"s","type":"t","n":3}]`))
	if err != nil || len(evs) != 2 || evs[1].ID != "b" {
		t.Fatalf("%v %v", evs, err)
	}
	if v, _ := evs[1].Ext("n"); v != "3" {
		t.Fatalf("numeric extension = %q", v)
	}
	if _, err := event.DecodeJSONBatch([]byte(`[{"id":"a"}, 3]`)); err == nil {
		t.Fatal("want an error for a non-object element")
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(event.AppendJSON(nil, sample()))
	f.Add([]byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"AAE="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.DecodeJSON(b)
		if err != nil {
			return
		}
		again, err := event.DecodeJSON(event.AppendJSON(nil, e))
		if err != nil {
			t.Fatalf("re-decoding %s: %v", event.AppendJSON(nil, e), err)
		}
		if again.ID != e.ID || again.Type != e.Type {
			t.Fatalf("round trip changed the event")
		}
	})
}
