#!/usr/bin/env bash
# Shared by tools/<component>/build.sh: builds Go commands pinned in a tools/<component> module
# into a cache outside the repository, keyed by the pinned version and a hash of the module files
# and the calling script, and prints the bin directory. A warm cache returns at once.
#
#   gobuild <module dir> <cache name> <version> <ldflags> <output>=<package> ...
#
# Cache root: $PRISM_TOOLS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator.
# The seconds the build took are kept in <bin>/.build-seconds.
set -euo pipefail
gobuild() {
  local dir="$1" name="$2" version="$3" ldflags="$4"
  shift 4
  export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0
  local key root bin complete=1 spec
  key="$(cat "$dir/go.mod" "$dir/go.sum" "$dir/build.sh" "${BASH_SOURCE[0]}" | sha256sum | cut -c1-12)"
  root="${PRISM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator}/$name"
  bin="$root/$version-$key/bin"
  for spec in "$@"; do [[ -x "$bin/${spec%%=*}" ]] || complete=0; done
  if [[ $complete == 1 ]]; then echo "$bin"; return 0; fi

  local start tmp
  start=$(date +%s)
  echo "building $name $version into $bin (first build only; takes a while)" >&2
  tmp="$bin.tmp.$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # shellcheck disable=SC2064 # expand now: the trap must remove this build's directory
  trap "rm -rf '$tmp'" EXIT
  (cd "$dir" && go mod download) >&2
  for spec in "$@"; do
    (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/${spec%%=*}" "${spec#*=}") >&2
  done
  mkdir -p "$(dirname "$bin")"
  rm -rf "$bin" && mv "$tmp" "$bin"
  trap - EXIT
  echo "$(( $(date +%s) - start ))" > "$bin/.build-seconds"
  echo "built $name $version in $(( $(date +%s) - start ))s: $*" >&2
  echo "$bin"
}
