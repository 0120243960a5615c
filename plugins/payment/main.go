// Command payment is the first handler of the order pipeline: it charges
// an order and emits payment.charged.
//
// Subscribed to order.placed, it reads {"id":N,"product_id":"P",...},
// rejects an order without an id (a retry would not help), and emits
// payment.charged with the order id, the product and the amount charged.
package main

import (
	"strconv"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

type order struct {
	ID        int     `json:"id"`
	ProductID string  `json:"product_id"`
	Amount    float64 `json:"amount,omitempty"`
}

type charged struct {
	OrderID   int     `json:"order_id"`
	ProductID string  `json:"product_id"`
	Amount    float64 `json:"amount"`
}

func handle(e *pdk.Event) error {
	var o order
	if err := e.Decode(&o); err != nil {
		return pdk.Rejectf("order.placed: %v", err)
	}
	if o.ID == 0 {
		return pdk.Rejectf("order.placed: missing order id")
	}
	pdk.Infof("Charging payment for order %d", o.ID)
	return pdk.EmitJSON("payment.charged", charged{OrderID: o.ID, ProductID: o.ProductID, Amount: o.Amount},
		pdk.WithSubject(strconv.Itoa(o.ID)))
}
