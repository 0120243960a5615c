package conformance_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/evhost/evhost/host/kv"
	"github.com/evhost/evhost/host/wasm"
	"github.com/evhost/evhost/internal/wasmbuild"
)

// TestModuleShape checks each kit's conformance module without running it:
// a WASI reactor (it exports _initialize, and no _start, which the host
// would refuse beside the evhost exports), the three evhost exports, and
// imports from evhost (all eight: the handler calls every host function) and
// WASI only. An AssemblyScript build without the kit's abort would import
// env.abort; a Rust build wrapped as a command would lack _initialize.
func TestModuleShape(t *testing.T) {
	for _, k := range kits {
		t.Run(k.name, func(t *testing.T) {
			bin := k.build(t)
			ctx := context.Background()
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter()) // no machine code: only the shape is read
			defer r.Close(ctx)
			cm, err := r.CompileModule(ctx, bin)
			if err != nil {
				t.Fatal(err)
			}
			exports := cm.ExportedFunctions()
			for _, name := range []string{"_initialize", "evhost_abi_version", "evhost_alloc", "evhost_handle"} {
				if _, ok := exports[name]; !ok {
					t.Errorf("does not export %s", name)
				}
			}
			if _, ok := exports["_start"]; ok {
				t.Errorf("exports _start: a command, which the host refuses beside the evhost exports")
			}
			evhost := map[string]bool{}
			for _, def := range cm.ImportedFunctions() {
				module, name, _ := def.Import()
				switch module {
				case wasm.HostModule:
					evhost[name] = true
				case "wasi_snapshot_preview1":
				default:
					t.Errorf("imports %s.%s: evhost provides only evhost.* and WASI", module, name)
				}
			}
			if len(evhost) != 8 {
				t.Errorf("imports %d evhost functions, want all 8: %v", len(evhost), evhost)
			}
		})
	}
}

// TestExamples builds each kit's example handler as its README says and
// runs it through evhost's runtime: the same order counter in C, Rust and
// AssemblyScript (each also has native unit tests in its kit).
func TestExamples(t *testing.T) {
	examples := []struct {
		name  string
		build func(t testing.TB) []byte
	}{
		{"c", func(t testing.TB) []byte { return wasmbuild.C(t, filepath.Join(root, "plugins", "c", "example")) }},
		{"rust", func(t testing.TB) []byte { return wasmbuild.Rust(t, filepath.Join(root, "plugins", "rust", "example")) }},
		{"assemblyscript", func(t testing.TB) []byte {
			return wasmbuild.AssemblyScript(t, filepath.Join(root, "plugins", "assemblyscript"), "example/handler.ts")
		}},
	}
	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			bin := ex.build(t)
			r, err := wasm.NewRuntime(context.Background(), wasm.RuntimeOptions{CacheDir: filepath.Join(wasmbuild.CacheDir(), "wazero")})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(context.Background())
			logs, logger := newLogCapture()
			p, err := r.Load(context.Background(), bin, wasm.PluginOptions{
				Name: "orders", KV: kv.NewMemory(1 << 10), Config: map[string]string{"region": "eu-west"}, Logger: logger,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			for i, want := range []string{"orders/1", "orders/2"} {
				ev := testEvent("order.placed", `{"id":7}`)
				out := one(t, p.Call(context.Background(), ev), "order.counted")
				n := want[len(want)-1:]
				if out.Subject != want || out.DataContentType != "application/json" ||
					string(out.Data) != `{"count":`+n+`,"order":{"id":7}}` {
					t.Errorf("call %d: %+v data %s", i, out, out.Data)
				}
				ext(t, out, "region", "eu-west")
				found := false
				for _, l := range logs.forEvent(ev.ID) {
					found = found || l.Msg == "order "+ev.ID+" is number "+n
				}
				if !found {
					t.Errorf("no log line for %s: %+v", ev.ID, logs.forEvent(ev.ID))
				}
			}
			res := p.Call(context.Background(), testEvent("order.placed", ""))
			if res.Status != wasm.Reject || !strings.Contains(res.Reason, "without data") {
				t.Errorf("an empty order: %+v", res)
			}
		})
	}
}
