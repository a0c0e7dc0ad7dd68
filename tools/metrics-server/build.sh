#!/usr/bin/env bash
# Builds metrics-server from the Go module pinned in this directory (tools/gobuild.sh). Prints
# the bin directory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../gobuild.sh
source "$here/../gobuild.sh"
version="$(awk '$1=="require" && $2=="sigs.k8s.io/metrics-server" {print $3}' "$here/go.mod")"
gobuild "$here" metrics-server "$version" "-X k8s.io/client-go/pkg/version.gitVersion=$version" \
  metrics-server=sigs.k8s.io/metrics-server/cmd/metrics-server
