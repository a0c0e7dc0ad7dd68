#!/usr/bin/env bash
# Builds KEDA's three programs from the Go module pinned in this directory (tools/gobuild.sh):
# keda (the operator), keda-adapter (the external.metrics.k8s.io API server) and
# keda-admission-webhooks. Prints the bin directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
version="$(awk '$1=="require" && $2=="github.com/kedacore/keda/v2" {print $3}' "$here/go.mod")"
ldflags="-X github.com/kedacore/keda/v2/version.Version=$version -X github.com/kedacore/keda/v2/version.GitCommit=$version"
gobuild "$here" keda "$version" "$ldflags" \
  keda=github.com/kedacore/keda/v2/cmd/operator \
  keda-adapter=github.com/kedacore/keda/v2/cmd/adapter \
  keda-admission-webhooks=github.com/kedacore/keda/v2/cmd/webhooks
