// Command smallorder is the small handler of the JavaScript benchmark
// (host/wasm's BenchmarkKits, handler json) in Go: it decodes the event's JSON
// data, reads two fields and emits one event with them.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	var o struct {
		ID        int    `json:"id"`
		ProductID string `json:"product_id"`
	}
	if err := e.Decode(&o); err != nil {
		return pdk.Reject(err)
	}
	return pdk.EmitJSON("order.seen", struct {
		ID      int    `json:"id"`
		Product string `json:"product"`
	}{o.ID, o.ProductID})
}
