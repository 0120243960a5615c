package wasm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/tetratelabs/wazero/api"
)

// ModuleInfo is what Inspect finds in a plugin module: what `evhost
// plugins inspect` prints.
type ModuleInfo struct {
	Size   int    `json:"size"`   // bytes
	SHA256 string `json:"sha256"` // the hex digest: the plugin's version
	// Kind is "reactor", "command" or "unknown" (neither: refused).
	Kind string `json:"kind"`
	// ABIVersion is the version a reactor's evhost_abi_version returns
	// (0 when it could not be called), and ABIVersion for a command,
	// whose protocol (WASI stdin and stdout) ABI v1 defines.
	ABIVersion int        `json:"abi_version"`
	Exports    []FuncInfo `json:"exports"`
	Imports    []FuncInfo `json:"imports"`
	// Grants are what the plugin's table must grant for its imports,
	// such as "kv = true"; none for a module that imports no capability.
	Grants   []string     `json:"grants"`
	Memories []MemoryInfo `json:"memories"`
	// LimitPages are the 64KiB pages its memory may reach under the memory
	// limit Inspect was given (its tables' share taken off).
	LimitPages uint32 `json:"limit_pages"`
	// Refused is why this host refuses the module with every grant given
	// ("" when it loads).
	Refused string `json:"refused,omitempty"`
}

// FuncInfo is an exported or imported function.
type FuncInfo struct {
	Module    string `json:"module,omitempty"` // imports only
	Name      string `json:"name"`
	Signature string `json:"signature"`
	Grant     string `json:"grant,omitempty"` // the grant an import needs
}

// MemoryInfo is a memory the module defines or imports.
type MemoryInfo struct {
	Name     string  `json:"name"`
	Imported bool    `json:"imported,omitempty"`
	MinPages uint32  `json:"min_pages"`
	MaxPages *uint32 `json:"max_pages,omitempty"` // nil: none declared
}

// grantKeys says how a plugin's table grants each capability.
var grantKeys = map[string]string{"kv": "kv = true", "http": "allowed_hosts"}

// Inspect reads a plugin module without serving it: its kind, exports,
// imports and the grants they need, its memories, size and digest. Then it
// loads it as a daemon would, with every capability granted and
// memoryLimit (0: DefaultMemoryLimit), which runs a reactor's _initialize
// and evhost_abi_version, and records in Refused why it is refused, if it
// is. The error is for a file that is not a WebAssembly module at all.
func (r *Runtime) Inspect(ctx context.Context, wasmBytes []byte, memoryLimit uint64) (*ModuleInfo, error) {
	if memoryLimit == 0 {
		memoryLimit = DefaultMemoryLimit
	}
	cm, err := r.rt.CompileModule(ctx, wasmBytes)
	if err != nil {
		return nil, fmt.Errorf("not a valid WebAssembly module: %w", err)
	}
	defer cm.Close(ctx)
	m := &ModuleInfo{Size: len(wasmBytes), SHA256: Hash(wasmBytes), Kind: "unknown",
		Exports: []FuncInfo{}, Imports: []FuncInfo{}, Grants: []string{}, Memories: []MemoryInfo{}}
	exps := cm.ExportedFunctions()
	for name, d := range exps {
		m.Exports = append(m.Exports, FuncInfo{Name: name, Signature: sigOf(d).String()})
	}
	sort.Slice(m.Exports, func(i, j int) bool { return m.Exports[i].Name < m.Exports[j].Name })
	grants := map[string]bool{}
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		f := FuncInfo{Module: mod, Name: name, Signature: sigOf(d).String()}
		if g := hostGrant[name]; mod == HostModule && g != "" {
			f.Grant = grantKeys[g]
			grants[f.Grant] = true
		}
		m.Imports = append(m.Imports, f)
	}
	for g := range grants {
		m.Grants = append(m.Grants, g)
	}
	sort.Strings(m.Grants)
	for name, d := range cm.ExportedMemories() {
		m.Memories = append(m.Memories, memoryInfo(name, false, d))
	}
	for _, d := range cm.ImportedMemories() {
		mod, name, _ := d.Import()
		m.Memories = append(m.Memories, memoryInfo(mod+"."+name, true, d))
	}
	m.LimitPages, _ = budget(memoryLimit)
	if _, ok := exps["_start"]; ok {
		m.Kind = Command.String()
	} else if _, ok := exps["evhost_abi_version"]; ok {
		m.Kind = Reactor.String()
	}

	p, err := r.Load(ctx, wasmBytes, PluginOptions{Name: "inspect", MemoryLimit: memoryLimit, MinInstances: 1, MaxInstances: 1,
		KV: denyAll{}, HTTP: denyAll{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		m.Refused = strings.TrimPrefix(err.Error(), `wasm: plugin "inspect" refused: `)
		if le, ok := errors.AsType[*LoadError](err); ok && le.abi != 0 {
			m.ABIVersion = int(le.abi)
		}
		return m, nil
	}
	defer p.Close()
	m.Kind = p.Kind().String()
	m.ABIVersion = ABIVersion // a reactor's was called and checked at load
	m.LimitPages = p.c.memPages
	return m, nil
}

func memoryInfo(name string, imported bool, d api.MemoryDefinition) MemoryInfo {
	mi := MemoryInfo{Name: name, Imported: imported, MinPages: d.Min()}
	if max, ok := d.Max(); ok {
		mi.MaxPages = &max
	}
	return mi
}

// denyAll grants the capabilities to a module being inspected and refuses
// every use of them.
type denyAll struct{}

func (denyAll) Get(context.Context, string) ([]byte, error)             { return nil, ErrNotAllowed }
func (denyAll) Set(context.Context, string, []byte) error               { return ErrNotAllowed }
func (denyAll) Delete(context.Context, string) error                    { return ErrNotAllowed }
func (denyAll) Do(context.Context, *HTTPRequest) (*HTTPResponse, error) { return nil, ErrNotAllowed }
