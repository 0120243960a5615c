# Two commands for a newcomer: `make run` starts the daemon on ./config.toml
# (embedded broker, first-party plugins built from source); `make test` runs
# the tests of every Go module in the tree.

.PHONY: run test bench bench-peers

run:
	go run ./cmd/evhost run

test:
	./.ci/test

bench:
	go test -run XXX -bench . -benchtime 200000x ./host/wasm

# evhost beside Extism, Watermill and watermill-nats, interleaved (examples/bench).
bench-peers:
	cd examples/bench && go run . -rounds 5
