package wasm_test

import (
	"context"
	"testing"
	"time"

	"github.com/evhost/evhost/host/event"
	"github.com/evhost/evhost/host/wasm"
)

// A guest's delayed emit (pdk.WithDelay, pdk.WithDeliverAt) comes out with
// deliverat, the delay counted from the emit; a delay that is not a
// duration is refused with -1 (ErrMalformed in the PDK).
func TestDelayedEmit(t *testing.T) {
	r := newRuntime(t)
	p := load(t, r, goPlugin(t, "delayed"), wasm.PluginOptions{Name: "delayed"})
	before := time.Now()
	res := p.Call(context.Background(), testEvent("delay", "90s"))
	if res.Status != wasm.Done || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	at, ok := event.DeliverAt(e)
	if _, has := e.Ext(event.ExtDelay); has || !ok || at.Sub(e.Time) != 90*time.Second || e.Time.Before(before.Add(-time.Second)) {
		t.Errorf("delayed emit: deliverat %v (%v), time %v, extensions %v", at, ok, e.Time, e.Extensions)
	}
	res = p.Call(context.Background(), testEvent("at", "2031-02-03T04:05:06Z"))
	if at, ok := event.DeliverAt(res.Emits[0]); res.Status != wasm.Done || !ok || !at.Equal(time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)) {
		t.Errorf("WithDeliverAt: %+v", res)
	}
	res = p.Call(context.Background(), testEvent("bad", ""))
	if res.Status != wasm.Done || len(res.Emits) != 1 || res.Emits[0].Type != "refused" {
		t.Errorf("a bad delay: %+v", res)
	}
}
