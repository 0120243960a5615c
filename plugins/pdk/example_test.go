//go:build !wasip1

package pdk_test

import (
	"fmt"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

// A plugin's handler, tested natively with pdktest. In the plugin itself,
// handle is registered with pdk.Handle(handle) in an init function of
// package main, and the module is built with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
func Example() {
	handle := func(e *pdk.Event) error {
		var order struct {
			ID     string `json:"id"`
			Amount int    `json:"amount"`
		}
		if err := e.Decode(&order); err != nil {
			return pdk.Reject(err) // a bad event: dead-letter, do not retry
		}
		limit := "100"
		if v, ok := pdk.Config("limit"); ok {
			limit = v
		}
		pdk.Infof("order %s: amount %d, limit %s", order.ID, order.Amount, limit)
		return pdk.EmitJSON("order.checked", map[string]any{"id": order.ID, "ok": true},
			pdk.WithSubject("order/"+order.ID))
	}

	h := pdktest.Host{Config: map[string]string{"limit": "50"}}
	res := h.RunHandler(handle, pdk.Event{
		Type: "order.created",
		Data: []byte(`{"id":"42","amount":7}`),
	})
	fmt.Println("status:", res.Status)
	for _, l := range res.Logs {
		fmt.Println("log:", l)
	}
	for _, e := range res.Emits {
		fmt.Printf("emit: %s %s %s %s\n", e.Type, e.Subject, e.DataContentType, e.Data)
	}

	res = h.RunHandler(handle, pdk.Event{Type: "order.created", Data: []byte(`{oops`)})
	fmt.Println("status:", res.Status)
	fmt.Println("reason:", res.Reason)
	// Output:
	// status: done
	// log: info: order 42: amount 7, limit 50
	// emit: order.checked order/42 application/json {"id":"42","ok":true}
	// status: reject
	// reason: pdk: decode order.created event: invalid character 'o' looking for beginning of object key string
}
