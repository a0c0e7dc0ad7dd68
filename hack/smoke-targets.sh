#!/usr/bin/env bash
# CI smoke of the Makefile targets the README and its examples name that `make test` and
# `make test-e2e` do not already run, so that none can rot: each runs once, for real, against a
# local control plane started through `make kind-create` (which is `cluster-up` here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
local_kubeconfig="$PWD/.local/kubeconfig"
kubectl="$(tools/k8s/build.sh)/kubectl"
m() { echo "--- make $*"; make --no-print-directory "$@"; }

m help >/dev/null
m build
m manifests generate
git diff --exit-code -- config charts || { echo "make manifests changed committed files" >&2; exit 1; }
m helm-lint
m chart >/dev/null
# Without a Docker engine docker-build builds the image without one (make image): the archive
# names the tag for `docker load` and is an OCI archive skopeo reads.
m docker-build-local IMAGE_ARCHIVE=dist/prism-operator-local.oci.tar
if ! docker info >/dev/null 2>&1; then
  tar -xOf dist/prism-operator-local.oci.tar ./manifest.json | grep -q '"RepoTags":\["prism-operator:local"\]'
  skopeo inspect oci-archive:dist/prism-operator-local.oci.tar >/dev/null
fi

m kind-create
trap 'make --no-print-directory kind-delete || true' EXIT
export KUBECONFIG="$local_kubeconfig"
# The local control plane runs no containers: local-deploy refuses it and says what to run.
if make --no-print-directory local-deploy 2>/tmp/local-deploy.err; then
  echo "local-deploy should refuse the local control plane" >&2; exit 1
fi
grep -q "make local-run" /tmp/local-deploy.err
m install
# local-run (install + run) until the operator's caches are synced, then stop it.
echo "--- make local-run"
setsid make --no-print-directory local-run >/tmp/local-run.log 2>&1 &
run_pid=$!
for _ in $(seq 1 300); do
  grep -q "caches synced" /tmp/local-run.log && break
  kill -0 "$run_pid" 2>/dev/null || { tail -20 /tmp/local-run.log; exit 1; }
  sleep 1
done
grep -q "Starting workers" /tmp/local-run.log
m local-test
"$kubectl" wait --for=condition=Ready prismstack/prism-dev --timeout=120s
kill -TERM -- "-$run_pid"
wait "$run_pid" 2>/dev/null || true
m local-clean
m uninstall
m kind-delete
trap - EXIT
echo "smoke: every target ran"
