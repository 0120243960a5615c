// Command bytecount is the benchmark handler: it counts the bytes of the
// event's data and emits nothing.
package main

import "github.com/evhost/evhost/plugins/pdk"

var total int

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	for _, b := range e.Data {
		if b != 0 {
			total++
		}
	}
	return nil
}
