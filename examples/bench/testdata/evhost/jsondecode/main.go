// Command jsondecode decodes the event's data as a JSON order and emits
// nothing: the JSON logic of the per-event call benchmark.
package main

import (
	"encoding/json"

	"github.com/evhost/evhost/plugins/pdk"
)

type order struct {
	ID        int    `json:"id"`
	ProductID string `json:"product_id"`
	Qty       int    `json:"qty"`
}

var total int

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	var o order
	if err := json.Unmarshal(e.Data, &o); err != nil {
		return err
	}
	total += o.Qty
	return nil
}
