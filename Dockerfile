# The operator's container image: `make docker-build IMG=<registry>/prism-operator:<tag>`.
# Needs a Docker (or Podman/BuildKit) engine; none is available in this repository's dev/CI
# environment, so this file is not built by CI.

# Build: the release binary, against the committed Cargo.lock.
FROM rust:1-bookworm AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN cargo build --release --locked -p prism-operator \
 && cp target/release/prism-operator /prism-operator

# Run: glibc, CA certificates and nothing else (no shell, no package manager), as a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /prism-operator /prism-operator
USER 65532:65532
ENTRYPOINT ["/prism-operator"]
CMD ["run"]
