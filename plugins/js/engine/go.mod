module github.com/evhost/evhost/plugins/js/engine

go 1.26.0

require (
	github.com/dop251/goja v0.0.0-20261105002551-2413f2132ac8
	github.com/evhost/evhost/plugins v0.0.0
)

require (
	github.com/dlclark/regexp2/v2 v2.11.0 // indirect
	github.com/go-sourcemap/sourcemap v2.1.3+incompatible // indirect
	github.com/google/pprof v0.0.0-20230207041349-798e818bf904 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/evhost/evhost/plugins => ../..
