#!/usr/bin/env bash
# Builds `helm` from the Go module pinned in this directory, into a cache outside the repository
# keyed by the pinned version, and prints the binary's path. A warm cache returns at once.
#
#   PRISM_HELM_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator/helm)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

version="$(awk '{for (i = 1; i < NF; i++) if ($i == "helm.sh/helm/v4") print $(i + 1)}' "$here/go.mod")"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)"
root="${PRISM_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator/helm}"
bin="$root/$version-$key/bin"
if [[ -x "$bin/helm" ]]; then echo "$bin/helm"; exit 0; fi

start=$(date +%s)
echo "building helm $version into $bin (first build only)" >&2
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
# The version helm reports (`helm version`), as its own Makefile sets it.
ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version"
ldflags+=" -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
cd "$here"
go mod download
go build -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v4/cmd/helm >&2
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$(( $(date +%s) - start ))" > "$bin/.build-seconds"
echo "$bin/helm"
