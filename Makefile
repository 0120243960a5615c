# Two commands for a newcomer: `make run` starts the daemon on ./config.toml
# (embedded broker, first-party plugins built from source); `make test` runs
# the tests of every Go module in the tree. `make release` builds the static,
# reproducible binaries of a release into dist/, with SHA256SUMS.

.PHONY: run test bench bench-peers release release-assets release-check

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
# RELEASE_ASSETS: the targets that build what the binary embeds, run first.
# >>> The JavaScript engine's wasm target goes here (issue 17), e.g.
# >>> RELEASE_ASSETS = js-engine
RELEASE_ASSETS ?=

release-assets: $(RELEASE_ASSETS)

release: release-assets
	./.ci/release

# make release twice, the second with an empty build cache: the same
# SHA256SUMS or a failure (slow: not part of .ci/run).
release-check: release-assets
	./.ci/release-reproducible
