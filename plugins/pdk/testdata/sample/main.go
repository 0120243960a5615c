// Command sample is the plugin that the PDK's tests build for wasip1 and run
// natively: it reads its configuration, decodes, logs and emits.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

type order struct {
	ID     string `json:"id"`
	Amount int    `json:"amount"`
}

func handle(e *pdk.Event) error {
	var o order
	if err := e.Decode(&o); err != nil {
		return pdk.Reject(err)
	}
	if o.Amount <= 0 {
		return pdk.Rejectf("order %s: amount %d is not positive", o.ID, o.Amount)
	}
	currency, ok := pdk.Config("currency")
	if !ok {
		currency = "EUR"
	}
	pdk.Infof("order %s: %d %s", o.ID, o.Amount, currency)
	return pdk.EmitJSON("order.accepted", map[string]any{"id": o.ID, "amount": o.Amount, "currency": currency},
		pdk.WithSubject("order/"+o.ID), pdk.WithID("accepted-"+o.ID))
}
