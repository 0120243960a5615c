# syntax=docker/dockerfile:1
#
# The evhost container image: the static binary and the order pipeline's plugins
# (as .wasm files) on distroless/static (CA certificates, no shell, no package
# manager), run as a non-root user, with its state in the /data volume.
#
#   docker build -t evhost --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) --build-arg DATE=$(git log -1 --format=%cI) .
#   docker run -d -p 8080:8080 -v evhost-data:/data -e EVHOST_TOKEN=$(openssl rand -hex 32) evhost
#
# The API listens on 0.0.0.0:8080 inside the container and requires the token in
# EVHOST_TOKEN: without it the container refuses to start.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Dependencies first, so that a change of the sources reuses their layer.
COPY go.mod go.sum ./
COPY plugins/go.mod plugins/
RUN go mod download && cd plugins && go mod download
COPY . .
ARG VERSION=""
ARG COMMIT=""
ARG DATE=""
# As make release builds it: static, -trimpath, the version stamped in.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/evhost/evhost/internal/buildinfo.version=${VERSION} -X github.com/evhost/evhost/internal/buildinfo.commit=${COMMIT} -X github.com/evhost/evhost/internal/buildinfo.date=${DATE}" \
      -o /out/usr/local/bin/evhost ./cmd/evhost
# The order pipeline's plugins, built as reactor modules: the image has no Go toolchain.
RUN cd plugins && for p in payment email inventory audit; do \
      GOOS=wasip1 GOARCH=wasm go build -trimpath -buildmode=c-shared -o /out/etc/evhost/plugins/$p.wasm ./$p || exit 1; \
    done
RUN mkdir -p /out/data && cp examples/container/config.toml /out/etc/evhost/config.toml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/usr/local/bin/evhost /usr/local/bin/evhost
COPY --from=build /out/etc/evhost /etc/evhost
COPY --from=build --chown=65532:65532 /out/data /data
# distroless's nonroot user (65532), never root.
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# The image has no curl: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/evhost", "health", "--config", "/etc/evhost/config.toml"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/evhost"]
CMD ["run", "--config", "/etc/evhost/config.toml"]
