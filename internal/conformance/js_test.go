package conformance_test

import (
	"context"
	"log/slog"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/evhost/evhost/host/jsengine"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// TestTypeScriptExample runs plugins/js/example as its README says: its
// own unit tests with node --test (the handler bundled by esbuild, run
// against testing/host.js), then the handler.ts bundled by esbuild as the
// source of the engine plugin, through evhost's runtime: the same results.
func TestTypeScriptExample(t *testing.T) {
	dir := filepath.Join(root, "plugins", "js", "example")
	src := wasmbuild.Esbuild(t, dir, "handler.ts") // npm ci, when needed
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm not found: apt-get install nodejs npm (Node 20 or later)")
	}
	cmd := exec.Command(npm, "test")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}

	// The engine without KV and HTTP: the handler uses neither, and the
	// host refuses a module that imports capabilities it is not granted.
	bin := wasmbuild.JSEngine(t, root, jsengine.Variant{})
	r, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{
		CacheDir: filepath.Join(wasmbuild.CacheDir(), "wazero"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	logs, logger := newLogCapture()
	p, err := r.Load(context.Background(), bin, wasm.PluginOptions{Name: "orders", Config: map[string]string{"source": src},
		Logger: logger, MaxInstances: 1, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	ev := testEvent("order.placed", `{"id":42,"product_id":"sku-1","qty":2}`)
	ev.DataContentType = "application/json"
	e := one(t, p.Call(context.Background(), ev), "order.seen")
	if string(e.Data) != `{"id":42,"product":"sku-1"}` || e.Subject != "order/42" || e.DataContentType != "application/json" {
		t.Errorf("emitted %+v data %s", e, e.Data)
	}
	found := false
	for _, l := range logs.forEvent(ev.ID) {
		found = found || l.Level == slog.LevelInfo && l.Msg == "order 42 for sku-1"
	}
	if !found {
		t.Errorf("no info line: %+v", logs.forEvent(ev.ID))
	}

	ev = testEvent("order.placed", `{"product_id":"sku-1"}`)
	ev.DataContentType = "application/json"
	if res := p.Call(context.Background(), ev); res.Status != wasm.Reject || res.Reason != "an order needs a numeric id" {
		t.Errorf("%+v", res)
	}
}
