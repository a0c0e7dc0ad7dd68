#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok) from the Go modules pinned in this directory, into a cache outside the repository
# keyed by the pinned versions, and prints the bin directory. A warm cache returns at once.
#
#   PRISM_K8S_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator/k8s)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

k8s_version="$(awk '$1=="k8s.io/kubernetes"{print $2}' "$here/go.mod")"
key="$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-12)"
root="${PRISM_K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prism-operator/k8s}"
bin="$root/$k8s_version-$key/bin"
tools=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

complete=1
for t in "${tools[@]}"; do [[ -x "$bin/$t" ]] || complete=0; done
if [[ $complete == 1 ]]; then echo "$bin"; exit 0; fi

start=$(date +%s)
echo "building Kubernetes $k8s_version control plane into $bin (first build only; takes a while)" >&2
tmp="$bin.tmp.$$"
rm -rf "$tmp" && mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
minor="${k8s_version#v1.}"; minor="${minor%%.*}"
ver="-X k8s.io/component-base/version.gitVersion=$k8s_version"
ver+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
ver+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version"
ver+=" -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
cd "$here"
go mod download
go build -trimpath -ldflags "-s -w $ver" -o "$tmp/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl >&2
go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3 >&2
go build -trimpath -ldflags "-s -w" -o "$tmp/kwok" sigs.k8s.io/kwok/cmd/kwok >&2
mkdir -p "$(dirname "$bin")"
rm -rf "$bin" && mv "$tmp" "$bin"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s: $(ls "$bin" | tr '\n' ' ')" >&2
echo "$(( $(date +%s) - start ))" > "$bin/.build-seconds"
echo "$bin"
