#!/usr/bin/env bash
# Prints the paths of KEDA's own CRD files (keda.sh_*.yaml), taken from the KEDA Go module's
# config/crd/bases through the Go module proxy (cached by Go; nothing is committed). The version
# matches the one the tests use (crates/prism-testkit/src/keda.rs).
set -euo pipefail
version="${KEDA_VERSION:-v2.21.0}"
dir="$(cd "${TMPDIR:-/tmp}" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "github.com/kedacore/keda/v2@$version" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -n "$dir" ]] || { echo "failed to download github.com/kedacore/keda/v2@$version" >&2; exit 1; }
ls "$dir"/config/crd/bases/keda.sh_*.yaml
