package pdktest_test

import (
	"testing"
	"time"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

// WithDelay and WithDeliverAt set the extensions the host reads.
func TestDelayedEmits(t *testing.T) {
	h := pdktest.Host{}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
	res := h.RunHandler(func(*pdk.Event) error {
		if err := pdk.Emit("a", nil, pdk.WithDelay(90*time.Second)); err != nil {
			return err
		}
		return pdk.Emit("b", nil, pdk.WithDeliverAt(at))
	}, pdk.Event{ID: "e", Type: "t"})
	if res.Status != pdk.StatusDone || len(res.Emits) != 2 {
		t.Fatalf("status %v, %d emits", res.Status, len(res.Emits))
	}
	if got := res.Emits[0].Extensions["delay"]; got != "1m30s" {
		t.Errorf("delay %q; want 1m30s", got)
	}
	if got := res.Emits[1].Extensions["deliverat"]; got != "2030-01-02T02:04:05.000000006Z" {
		t.Errorf("deliverat %q", got)
	}
}
