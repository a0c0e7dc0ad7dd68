#!/usr/bin/env bash
# Checks the toolchains `make dev` and `make test` build with (Rust for the operator, Go for the
# control plane and the autoscalers, built from their modules with GOTOOLCHAIN=local) and stops
# with one line saying what to install. The versions come from Cargo.toml's rust-version and the
# newest `go` line of tools/*/go.mod. Quiet when both are there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
need_rust="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$root/Cargo.toml")"
need_go="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$root"/tools/*/go.mod | sort -V | tail -1)"
# version_ge HAVE NEED: HAVE >= NEED
version_ge() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$2" ]]; }

if ! command -v cargo >/dev/null || ! command -v rustc >/dev/null; then
  echo "Rust >= $need_rust is needed (cargo and rustc): install it with rustup (https://rustup.rs)" >&2
  exit 1
fi
have_rust="$(rustc --version | awk '{print $2}')"
if ! version_ge "$have_rust" "$need_rust"; then
  echo "Rust $have_rust is too old: >= $need_rust is needed (rustup update stable)" >&2
  exit 1
fi
if ! command -v go >/dev/null; then
  echo "Go >= $need_go is needed (the control plane and autoscalers are built from Go modules): https://go.dev/dl" >&2
  exit 1
fi
have_go="$(cd / && GOTOOLCHAIN=local go env GOVERSION | sed 's/^go//')"
if ! version_ge "$have_go" "$need_go"; then
  echo "Go $have_go is too old: >= $need_go is needed (builds use GOTOOLCHAIN=local and never download another Go)" >&2
  exit 1
fi
