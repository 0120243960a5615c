package main

import (
	"strings"
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

func TestEmailConfirms(t *testing.T) {
	h := &pdktest.Host{Config: map[string]string{"from": "orders@example.com"}}
	res := h.Run(pdk.Event{ID: "1", Source: "/p", Type: "payment.charged", SpecVersion: "1.0",
		Data: []byte(`{"order_id":42,"product_id":"sku-1"}`)})
	if res.Status != pdk.StatusDone || len(res.Emits) != 1 || res.Emits[0].Type != "email.sent" {
		t.Fatalf("%+v", res)
	}
	if !strings.Contains(string(res.Emits[0].Data), "orders@example.com") {
		t.Fatalf("config value not used: %s", res.Emits[0].Data)
	}
	if len(res.Logs) == 0 || res.Logs[0].Text != "Sending confirmation for order 42" {
		t.Fatalf("logs %+v", res.Logs)
	}
}
