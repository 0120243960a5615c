# Two commands for a newcomer: `make run` starts the daemon on ./config.toml
# (embedded broker, first-party plugins built from source); `make test` runs
# the tests of every Go module in the tree. `make release` builds the static,
# reproducible binaries of a release into dist/, with SHA256SUMS.

.PHONY: run test bench bench-peers engine evhost-release release release-assets release-check

# The JavaScript engine (QuickJS, host/jsengine/src), every variant built
# with clang for wasm32-wasi and gzip-compressed into host/jsengine/wasm
# (ignored by git, never committed), for a build of evhost that carries it:
# `go build -tags evhost_jsengine ./cmd/evhost`. Without it, evhost builds
# the engine with clang when a plugin says engine = "js" (once, cached).
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

# Static binaries (CGO_ENABLED=0, -trimpath, version and commit date stamped
# in) for linux/amd64, linux/arm64, darwin/arm64 and windows/amd64, and
# dist/SHA256SUMS; the same commit gives the same bytes (.ci/release).
#
# RELEASE_ASSETS: the targets that build what the binary embeds, run first:
# the JavaScript engine (make engine), which .ci/release embeds with the build
# tag evhost_jsengine, so that a release runs engine = "js" plugins with no C
# toolchain. RELEASE_ASSETS= TAGS= make release builds without it.
RELEASE_ASSETS ?= engine

release-assets: $(RELEASE_ASSETS)

release: release-assets
	./.ci/release

# make release twice, the second with an empty build cache: the same
# SHA256SUMS or a failure (slow: not part of .ci/run).
release-check: release-assets
	./.ci/release-reproducible
