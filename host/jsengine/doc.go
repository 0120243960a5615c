// Package jsengine owns the JavaScript engine module that a plugin with
// engine = "js" runs (QuickJS compiled with clang for wasm32-wasi, with the
// C kit; its source is in src): it gives the module's
// bytes for a plugin's grants (a Variant: with or without the KV and HTTP
// imports), so that a JavaScript handler is deployed as its source alone,
// and it builds the module (Build).
//
// Where the bytes come from:
//
//   - A release build (`make engine`, then go build -tags evhost_jsengine)
//     embeds the four variants, gzip-compressed: a daemon needs no C
//     compiler and no npm.
//   - Any other build embeds the engine's source, src: the engine
//     (src/js/engine: engine.c over the C kit, prelude.js with the evhost
//     object, the headers WASI lacks), the vendored QuickJS 2021-03-27
//     (src/js/quickjs, unchanged, checked against its SHA256SUMS by
//     TestVendoredQuickJS) and a copy of plugins/c/evhost.h (src/c;
//     TestSourceMatchesPlugins keeps it equal, `go generate
//     ./host/jsengine` copies it again); and it builds the four variants with
//     clang, wasm-ld and wasi-libc the first time one is needed, into a
//     cache keyed by the source's hash
//     (os.UserCacheDir()/evhost/jsengine); later loads read the cached
//     file. Without clang the error says what to install.
//
// It imports the standard library only; it must not import host/config,
// host/registry or the wasm runtime.
package jsengine
