package main

import (
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

// BenchmarkSmallHandler runs the json handler of host/wasm's BenchmarkKits
// natively (no wasm), for the engine's own cost without the sandbox.
func BenchmarkSmallHandler(b *testing.B) {
	eng = nil
	h := &pdktest.Host{Config: map[string]string{"source": `function handle(event) {
  const o = event.data;
  evhost.emit("order.seen", {id: o.id, product: o.product_id});
}`}}
	e := pdk.Event{ID: "7f3c9a52-2a1b-4a44-9d0e-1c2f3a4b5c6d", Source: "/shop", Type: "order.placed", SpecVersion: "1.0",
		DataContentType: "application/json", Data: []byte(`{"id":42,"product_id":"sku-1","qty":2}`)}
	if res := h.RunHandler(handle, e); res.Status != pdk.StatusDone || string(res.Emits[0].Data) != `{"id":42,"product":"sku-1"}` {
		b.Fatalf("%+v", res)
	}
	b.ReportAllocs()
	for b.Loop() {
		h.RunHandler(handle, e)
	}
}
