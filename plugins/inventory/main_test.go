package main

import (
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

func TestInventoryReducesStock(t *testing.T) {
	res := (&pdktest.Host{}).Run(pdk.Event{ID: "1", Source: "/p", Type: "payment.charged", SpecVersion: "1.0",
		Data: []byte(`{"order_id":42,"product_id":"sku-1"}`)})
	if res.Status != pdk.StatusDone || len(res.Emits) != 0 {
		t.Fatalf("%+v", res)
	}
	if len(res.Logs) != 1 || res.Logs[0].Text != "Reducing stock for product sku-1" {
		t.Fatalf("logs %+v", res.Logs)
	}
}
