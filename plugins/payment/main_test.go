package main

import (
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

func TestPaymentCharges(t *testing.T) {
	h := &pdktest.Host{}
	res := h.Run(pdk.Event{ID: "1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		DataContentType: "application/json", Data: []byte(`{"id":42,"product_id":"sku-1"}`)})
	if res.Status != pdk.StatusDone || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	if e.Type != "payment.charged" || e.Subject != "42" || string(e.Data) != `{"order_id":42,"product_id":"sku-1","amount":0}` {
		t.Fatalf("emitted %+v %s", e, e.Data)
	}
}

func TestPaymentRejectsBadOrders(t *testing.T) {
	h := &pdktest.Host{}
	for _, data := range []string{`{"product_id":"sku-1"}`, `not json`} {
		res := h.Run(pdk.Event{ID: "1", Source: "/shop", Type: "order.placed", SpecVersion: "1.0", Data: []byte(data)})
		if res.Status != pdk.StatusReject || len(res.Emits) != 0 {
			t.Fatalf("%s: %+v", data, res)
		}
	}
}
