// Package dockerfile checks the repository's Dockerfile without a Docker
// daemon: it parses it with BuildKit's own Dockerfile parser (the one
// `docker build` uses) and checks what the image must be (multi-stage, a
// non-root user, the /data volume, a health check by the binary itself,
// the listener behind a token). It is a module of its own so that BuildKit
// is no dependency of evhost; .ci/test runs its test with the others.
package dockerfile
