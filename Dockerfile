# syntax=docker/dockerfile:1
#
# torii-realtime as a container image: a build stage on the official Rust image, and a small
# Debian runtime that holds the binary, a configuration and a data directory, and runs as a
# numeric non-root user. docs/deployment.md describes the image; scripts/image-check.sh runs
# the same stages with the host toolchain where no container engine is at hand.
#
#   docker build -t torii-realtime .
#   docker run -p 8090:8090 -v realtime-data:/var/lib/torii-realtime torii-realtime

# The toolchain must satisfy `rust-version` in Cargo.toml; bookworm, like the runtime, so the
# binary links against the same glibc it runs with.
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Everything cargo reads to build the binary: the workspace manifests (every member, even
# those not built, must be present), the sources, the .proto files the Torii client is
# generated from, the migrations and demo assets compiled into the binary.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY torii-plugin ./torii-plugin
COPY tests ./tests
COPY migrations ./migrations
# Cache mounts keep the crates.io registry and the compiled dependencies between builds, so
# a change to the sources recompiles the workspace's crates only. The binary is copied out of
# the cache mount, which is not part of the image.
RUN --mount=type=cache,id=torii-realtime-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=torii-realtime-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=torii-realtime-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p realtime-server --bin torii-realtime \
    && install -D -m 0755 target/release/torii-realtime /out/torii-realtime

FROM ${RUNTIME_IMAGE} AS runtime
# CA certificates for https:// endpoints (the Starknet RPC node of wallet sign-in, a Torii
# behind TLS); nothing else: the binary links only glibc and libgcc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed numeric user, so volumes and secret files can be given to it by number, and
# platforms that refuse to run as root (runAsNonRoot) can check it without reading /etc/passwd.
RUN groupadd --system --gid 10001 torii-realtime \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /var/lib/torii-realtime --shell /usr/sbin/nologin torii-realtime \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/torii-realtime
COPY --from=build /out/torii-realtime /usr/local/bin/torii-realtime
COPY deploy/image.toml /etc/torii-realtime/realtime.toml
# Every command (serve, migrate, token, healthcheck) reads this file unless given --config;
# TORII_REALTIME__SECTION__KEY variables override any key of it.
ENV TORII_REALTIME_CONFIG=/etc/torii-realtime/realtime.toml
WORKDIR /var/lib/torii-realtime
USER 10001:10001
EXPOSE 8090
# Readiness, not liveness: 503 while on-chain state is not synced yet, storage does not answer
# or the server drains after SIGTERM (docs/deployment.md). The probe takes the port from the
# same configuration as the server. A first sync of a large world can outlast start-period:
# raise it where the orchestrator allows.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["torii-realtime", "healthcheck", "--timeout", "3s"]
# SIGTERM (the default stop signal) drains connections for up to server.shutdown_timeout
# (30 s): give `docker stop` more than that (--time 40, compose stop_grace_period).
ENTRYPOINT ["torii-realtime"]
CMD ["serve"]
