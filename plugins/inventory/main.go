// Command inventory reduces the stock of the product of a charged order:
// it logs "Reducing stock for product P".
package main

import "github.com/evhost/evhost/plugins/pdk"

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	var p struct {
		OrderID   int    `json:"order_id"`
		ProductID string `json:"product_id"`
	}
	if err := e.Decode(&p); err != nil {
		return pdk.Rejectf("payment.charged: %v", err)
	}
	pdk.Infof("Reducing stock for product %s", p.ProductID)
	return nil
}
