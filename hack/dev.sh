#!/usr/bin/env bash
# `make dev`: the whole thing on this machine in one command. Builds what is missing, starts the
# local control plane (unless one is already up in .local/), installs the Prism CRDs and KEDA's,
# runs the operator, applies the quickstart PrismStack and the README's HPA and KEDA examples,
# waits until they are Ready, prints what is running and how to use kubectl against it, and
# keeps running until Ctrl-C; then it stops what it started.
#
#   DEV_EXIT_AFTER_READY=1  exit (and clean up) once everything is Ready (CI)
#   DEV_METRICS_ADDR        operator metrics address (default 127.0.0.1:8080)
#   DEV_HEALTH_ADDR         operator health address (default 127.0.0.1:8081)
#   LOG_LEVEL               operator log filter (default info)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
local_dir="$root/.local"
mkdir -p "$local_dir"

# GET /readyz over bash's /dev/tcp (no curl needed): 0 when it answers 200.
ready_probe() {
  local addr="${DEV_HEALTH_ADDR:-127.0.0.1:8081}" line
  exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}" 2>/dev/null || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n' >&3
  read -r line <&3 || true
  exec 3<&- 3>&-
  [[ "$line" == *" 200 "* ]]
}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "building the control plane binaries (cached after the first time) and the operator"
k8s_bin="$(tools/k8s/build.sh)"
export PATH="$k8s_bin:$PATH"
cargo build -q -p prism-operator -p prism-testkit --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

started_cluster=0
operator_pid=""
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n "$operator_pid" ]] && kill -0 "$operator_pid" 2>/dev/null; then
    step "stopping the operator"
    kill -TERM "$operator_pid" 2>/dev/null || true
    wait "$operator_pid" 2>/dev/null || true
  fi
  if [[ $started_cluster == 1 ]]; then
    step "stopping the local control plane"
    PRISM_K8S_BIN="$k8s_bin" "$bin/prism-cluster" down --dir "$local_dir" || true
  fi
  exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -f "$local_dir/ready" && -f "$local_dir/kubeconfig" ]] && kubectl --kubeconfig "$local_dir/kubeconfig" get --raw /readyz >/dev/null 2>&1; then
  step "reusing the local control plane in .local/"
else
  step "starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes)"
  PRISM_K8S_BIN="$k8s_bin" "$bin/prism-cluster" up --dir "$local_dir" --detach
  started_cluster=1
fi
export KUBECONFIG="$local_dir/kubeconfig"

step "installing the Prism CRDs and KEDA's CRDs"
kubectl apply --server-side --force-conflicts -f config/crd/bases/ >/dev/null
mapfile -t keda_crds < <(tools/keda/crds.sh)
for crd in "${keda_crds[@]}"; do kubectl apply --server-side --force-conflicts -f "$crd" >/dev/null; done
kubectl wait --for condition=Established --timeout=60s crd --all >/dev/null

step "starting the operator (log: .local/operator.log)"
"$bin/prism-operator" run \
  --metrics-bind-address "${DEV_METRICS_ADDR:-127.0.0.1:8080}" \
  --health-probe-bind-address "${DEV_HEALTH_ADDR:-127.0.0.1:8081}" \
  >"$local_dir/operator.log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 120); do
  if ready_probe; then break; fi
  if ! kill -0 "$operator_pid" 2>/dev/null; then echo "the operator exited:"; tail -20 "$local_dir/operator.log"; exit 1; fi
  sleep 0.5
done

step "applying the quickstart PrismStack and the README's HPA and KEDA examples"
kubectl apply -f config/samples/prismstack_quickstart.yaml \
  -f config/samples/prismpattern_hpa_example.yaml \
  -f config/samples/prismpattern_keda_kafka_example.yaml

step "waiting until they are Ready"
kubectl wait --for=condition=Ready prismstack/prism-quickstart --timeout=120s
kubectl wait --for=condition=Ready prismpattern/producer-kafka-events prismpattern/consumer-kafka-orders --timeout=120s

step "running"
kubectl get prism
cat <<INFO

Everything is Ready. Point kubectl at this cluster with:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$k8s_bin:\$PATH    # kubectl v$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "v\([^"]*\)".*/\1/p' | head -1) built for this control plane

  kubectl get prism                       # every Prism resource
  kubectl get pods -l stack=prism-quickstart
  kubectl get hpa,scaledobjects
  curl http://${DEV_METRICS_ADDR:-127.0.0.1:8080}/metrics   # operator metrics
  tail -f .local/operator.log             # operator logs

INFO
if [[ "${DEV_EXIT_AFTER_READY:-0}" == 1 ]]; then
  echo "DEV_EXIT_AFTER_READY=1: cleaning up and exiting."
  exit 0
fi
echo "Press Ctrl-C to stop the operator$( [[ $started_cluster == 1 ]] && echo ' and the control plane')."
wait "$operator_pid"
