package jsengine

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"
)

// checkVariant compiles b (with wazero's interpreter: no machine code, a
// few seconds) and checks that it imports evhost's KV and HTTP functions
// exactly when v grants them, and exports evhost_handle.
func checkVariant(t *testing.T, v Variant, b []byte) {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	m, err := rt.CompileModule(ctx, b)
	if err != nil {
		t.Fatalf("%s: %v", v.File(), err)
	}
	imports := map[string]bool{}
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod == "evhost" {
			imports[name] = true
		}
	}
	if imports["kv_get"] != v.KV || imports["http_request"] != v.HTTP {
		t.Errorf("%s imports %v: want kv_get %v, http_request %v", v.File(), imports, v.KV, v.HTTP)
	}
	if _, ok := m.ExportedFunctions()["evhost_handle"]; !ok {
		t.Errorf("%s does not export evhost_handle", v.File())
	}
}
