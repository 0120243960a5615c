// Package conformance holds the conformance suite of evhost's plugin kits
// (its tests; the package has no API). Every kit, the Go PDK, the C, Rust
// and AssemblyScript kits and the JavaScript engine (QuickJS,
// host/jsengine/src, with plugins/js/conformance/handler.js as its
// source), implements the
// same handler (plugins/conformance/SPEC.md) in its own language under
// plugins/; the suite builds each from source with its real toolchain,
// runs it through host/wasm's runtime and asserts the same results, so a
// kit cannot drift from the ABI. TestTypeScriptExample runs the TypeScript
// example of plugins/js/example, bundled by esbuild, the same way.
//
// The suite lives in the root module, not beside the kits, because it
// imports host/wasm: plugins/ is a module of its own
// (github.com/evhost/evhost/plugins) that depends on the standard library
// only, and must stay so for plugin authors. A kit missing its toolchain is
// skipped with a message that says what to install.
package conformance
