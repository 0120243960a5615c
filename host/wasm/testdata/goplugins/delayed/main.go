// Command delayed emits, for an event of type "delay", an event delayed by
// the duration its data names (pdk.WithDelay); for "at", one due at the
// time its data names (pdk.WithDeliverAt); for "bad", one whose delay
// extension is not a duration, and reports what emit returned.
package main

import (
	"errors"
	"time"

	"github.com/evhost/evhost/plugins/pdk"
)

func init() { pdk.Handle(handle) }

func main() {}

func handle(e *pdk.Event) error {
	switch e.Type {
	case "delay":
		d, err := time.ParseDuration(string(e.Data))
		if err != nil {
			return pdk.Reject(err)
		}
		return pdk.Emit("later", nil, pdk.WithDelay(d))
	case "at":
		t, err := time.Parse(time.RFC3339, string(e.Data))
		if err != nil {
			return pdk.Reject(err)
		}
		return pdk.Emit("later", nil, pdk.WithDeliverAt(t))
	case "bad":
		err := pdk.Emit("later", nil, pdk.WithExtension("delay", "soon"))
		if errors.Is(err, pdk.ErrMalformed) {
			return pdk.Emit("refused", nil)
		}
		return err
	}
	return nil
}
