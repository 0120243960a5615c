package cplugin_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/evhost/evhost/internal/wasmbuild"
)

// TestModuleShape builds plugin.c as the README says and checks, without
// running it, that it is an ABI v1 reactor: the exports are exactly the ABI's,
// with the ABI's signatures, and the imports are exactly the four host
// functions the plugin calls. The runtime's conformance tests run it.
func TestModuleShape(t *testing.T) {
	bin := wasmbuild.C(t, ".")

	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, bin)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}

	// wazero's CompiledModule lists exported functions and memories; a C
	// module built this way exports no globals or tables.
	wantExports := map[string]string{
		"_initialize":        "() -> ()",
		"evhost_abi_version": "() -> (i32)",
		"evhost_alloc":       "(i32) -> (i32)",
		"evhost_handle":      "(i32, i32) -> (i32)",
	}
	gotExports := map[string]string{}
	for name, def := range cm.ExportedFunctions() {
		gotExports[name] = signature(def)
	}
	if !maps.Equal(gotExports, wantExports) {
		t.Errorf("exported functions = %v, want %v", gotExports, wantExports)
	}
	if _, ok := gotExports["_start"]; ok {
		t.Errorf("exports _start: the host would refuse it; build with -mexec-model=reactor")
	}
	if mems := slices.Sorted(maps.Keys(cm.ExportedMemories())); !slices.Equal(mems, []string{"memory"}) {
		t.Errorf("exported memories = %v, want [memory]", mems)
	}

	// Only what the plugin calls: no kv_* or http_request (they would need
	// capabilities) and nothing from WASI (no stdio is linked in).
	wantImports := map[string]string{
		"evhost.config_get": "(i32, i32) -> (i64)",
		"evhost.emit":       "(i32, i32) -> (i32)",
		"evhost.fail":       "(i32, i32) -> ()",
		"evhost.log":        "(i32, i32, i32) -> ()",
	}
	gotImports := map[string]string{}
	for _, def := range cm.ImportedFunctions() {
		module, name, _ := def.Import()
		gotImports[module+"."+name] = signature(def)
	}
	if !maps.Equal(gotImports, wantImports) {
		t.Errorf("imported functions = %v, want %v", gotImports, wantImports)
	}
	if n := len(cm.ImportedMemories()); n != 0 {
		t.Errorf("imports %d memories, want none: the module must own its memory", n)
	}
}

func signature(def api.FunctionDefinition) string {
	names := func(ts []api.ValueType) string {
		s := make([]string, len(ts))
		for i, vt := range ts {
			s[i] = api.ValueTypeName(vt)
		}
		return "(" + strings.Join(s, ", ") + ")"
	}
	return names(def.ParamTypes()) + " -> " + names(def.ResultTypes())
}
