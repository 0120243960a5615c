package orderkey

import (
	"testing"

	"github.com/evhost/evhost/host/event"
)

func TestKeys(t *testing.T) {
	e := &event.Event{Subject: "acct/7", Source: "/shop", Type: "order.placed",
		Extensions: []event.Attr{{Name: "tenantid", Value: "t1"}},
		Data:       []byte(`{"customer":{"id":"c-42","n":7,"tags":["x",{"k":true}]},"skip":[1,{"a":[2]}],"id":3}`)}
	for spec, want := range map[string]string{
		"subject":                 "acct/7",
		"source":                  "/shop",
		"type":                    "order.placed",
		"tenantid":                "t1",
		"other":                   "",
		"data.customer.id":        "c-42",
		"data.customer.n":         "7",
		"data.customer.tags.0":    "x",
		"data.customer.tags.1":    `{"k":true}`,
		"data.customer.tags.1.k":  "true",
		"data.customer.tags.2":    "",
		"data.id":                 "3",
		"data.customer":           `{"id":"c-42","n":7,"tags":["x",{"k":true}]}`,
		"data.missing":            "",
		"data.customer.id.deeper": "",
	} {
		f, err := Compile(spec)
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if got := f(e); got != want {
			t.Errorf("%s: %q, want %q", spec, got, want)
		}
	}
	notJSON := &event.Event{Data: []byte("not json")}
	if f, _ := Compile("data.customer.id"); f(notJSON) != "" {
		t.Error("data that is not JSON has a key")
	}
	for _, bad := range []string{"", "id", "data", "data.", "data.a..b", "Tenant", "with space"} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
}
