// Command email sends the order confirmation once a payment is charged: it
// logs "Sending confirmation for order N" and emits email.sent.
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	var p struct {
		OrderID int `json:"order_id"`
	}
	if err := e.Decode(&p); err != nil {
		return pdk.Rejectf("payment.charged: %v", err)
	}
	from, ok := pdk.Config("from")
	if !ok {
		from = "shop@example.com"
	}
	pdk.Infof("Sending confirmation for order %d", p.OrderID)
	return pdk.EmitJSON("email.sent", map[string]any{"order_id": p.OrderID, "from": from})
}
