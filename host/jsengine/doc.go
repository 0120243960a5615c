// Package jsengine owns the JavaScript engine module that a plugin with
// engine = "js" runs (the Go wasm plugin of plugins/js/engine, with goja):
// it gives the module's bytes for a plugin's grants (a Variant: with or
// without the KV and HTTP imports), so that a JavaScript handler is
// deployed as its source alone.
//
// Where the bytes come from:
//
//   - A release build (`make engine`, then go build -tags evhost_jsengine)
//     embeds the four variants, gzip-compressed: a daemon needs no Go
//     toolchain, no module proxy and no npm.
//   - Any other build embeds the engine's source (a copy of
//     plugins/js/engine and the Go PDK under _src; TestSourceMatchesPlugins
//     keeps it equal, `go generate ./host/jsengine` copies it again) and
//     builds a variant with the Go toolchain the first time it is needed,
//     as the daemon builds a Go source plugin, into a cache keyed by the
//     source's hash (os.UserCacheDir()/evhost/jsengine); later loads read
//     the cached file.
//
// It imports host/gobuild (to find the go command) and the standard
// library only; it must not import host/config, host/registry or the wasm
// runtime.
package jsengine
