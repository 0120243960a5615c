# Two commands for a newcomer: `make run` starts the daemon on ./config.toml
# (embedded broker, first-party plugins built from source); `make test` runs
# the tests of every Go module in the tree.

.PHONY: run test bench bench-peers engine evhost-release

# The JavaScript engine (plugins/js/engine), every variant, gzip-compressed
# into host/jsengine/wasm (ignored by git, never committed), for a build of
# evhost that carries it: `go build -tags evhost_jsengine ./cmd/evhost`.
# Without it, evhost builds the engine with the Go toolchain when a plugin
# says engine = "js" (once, cached).
engine:
	go run ./host/jsengine/mkengine host/jsengine/wasm

# evhost with the JavaScript engine embedded: a daemon that runs JavaScript
# handlers with no Go toolchain or npm.
evhost-release: engine
	go build -tags evhost_jsengine -trimpath -o evhost ./cmd/evhost

run:
	go run ./cmd/evhost run

test:
	./.ci/test

bench:
	go test -run XXX -bench . -benchtime 200000x ./host/wasm

# evhost beside Extism, Watermill and watermill-nats, interleaved (examples/bench).
bench-peers:
	cd examples/bench && go run . -rounds 5
