# The operator's container image with a Docker engine: `make docker-build IMG=<registry>/prism-operator:<tag>`.
# Without one, `make image` (hack/image.sh) assembles the same image (the release binary, glibc and
# libgcc_s, CA certificates, user 65532, this ENTRYPOINT, CMD and USER) with umoci; tests/image/
# checks that both agree and runs that image with runc.

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
