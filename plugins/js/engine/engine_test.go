package main

import (
	"strings"
	"testing"

	"github.com/evhost/evhost/plugins/pdk"
	"github.com/evhost/evhost/plugins/pdk/pdktest"
)

// run runs the engine natively (the PDK's test harness stands in for the
// host) on a fresh instance with src as the handler's source.
func run(t *testing.T, src string, e pdk.Event) *pdktest.Result {
	t.Helper()
	eng = nil
	h := &pdktest.Host{Config: map[string]string{"source": src}}
	return h.RunHandler(handle, e)
}

func TestEngine(t *testing.T) {
	const order = `function handle(event) {
		const o = event.data;
		evhost.log.info("order " + o.id + " for " + o.product);
		evhost.emit("order.seen", {id: o.id, product: o.product}, {subject: "order/" + o.id});
	}`
	res := run(t, order, pdk.Event{Type: "order.placed", DataContentType: "application/json",
		Data: []byte(`{"id":42,"product":"sku-1","qty":3}`)})
	if res.Status != pdk.StatusDone || len(res.Emits) != 1 {
		t.Fatalf("%+v", res)
	}
	e := res.Emits[0]
	if string(e.Data) != `{"id":42,"product":"sku-1"}` || e.DataContentType != "application/json" || e.Subject != "order/42" {
		t.Errorf("emitted %+v data %s", e, e.Data)
	}
	if len(res.Logs) != 1 || res.Logs[0].String() != "info: order 42 for sku-1" {
		t.Errorf("logs %v", res.Logs)
	}

	// Data that is not JSON arrives as a string; the bundle form works.
	bundle := `var evhostHandler = (() => ({ handle(e) { evhost.emit("len", String(e.data.length)); } }))();`
	res = run(t, bundle, pdk.Event{Type: "t", Data: []byte("hello")})
	if res.Status != pdk.StatusDone || string(res.Emits[0].Data) != "5" {
		t.Fatalf("%+v", res)
	}

	for _, c := range []struct {
		src    string
		status pdk.Status
		reason string
	}{
		{`function handle() { throw evhost.reject("bad") }`, pdk.StatusReject, "bad"},
		{`function handle() { throw evhost.retry("later") }`, pdk.StatusRetry, "later"},
		{`function handle() { null.x }`, pdk.StatusRetry, "TypeError"},
		{`function handle() { throw "a string" }`, pdk.StatusRetry, "a string"},
		{`function handle( {`, pdk.StatusRetry, "compile"},
		{`var x = 1`, pdk.StatusRetry, "defines no function handle"},
		{`function handle(e) { JSON.stringify(e.data) }`, pdk.StatusDone, ""},
	} {
		res := run(t, c.src, pdk.Event{Type: "t"})
		if res.Status != c.status || !strings.Contains(res.Reason, c.reason) {
			t.Errorf("%s: status %v reason %q, want %v %q", c.src, res.Status, res.Reason, c.status, c.reason)
		}
	}

	// Invalid JSON data under a JSON content type is rejected.
	res = run(t, `function handle() {}`, pdk.Event{Type: "t", DataContentType: "application/json", Data: []byte("{")})
	if res.Status != pdk.StatusReject {
		t.Errorf("%+v", res)
	}
}

// The source is compiled once per instance: top-level state persists.
func TestCompiledOnce(t *testing.T) {
	eng = nil
	h := &pdktest.Host{Config: map[string]string{"source": `let n = 0; function handle() { evhost.emit("n", String(++n)) }`}}
	for _, want := range []string{"1", "2", "3"} {
		res := h.RunHandler(handle, pdk.Event{Type: "t"})
		if res.Status != pdk.StatusDone || string(res.Emits[0].Data) != want {
			t.Fatalf("%+v, want %s", res, want)
		}
	}
}
