#!/usr/bin/env bash
# `make dev`: the whole thing on this machine in one command. Builds what is missing, starts the
# local control plane with its autoscalers (metrics-server, KEDA) unless one is already up in
# .local/, installs the Prism CRDs, starts a Redis for the queue example, runs the operator,
# applies the quickstart PrismStack, the README's HPA and KEDA examples, a KEDA Redis example and
# the KEDA prometheus example (on the control plane's Prometheus),
# waits until they are Ready, prints what is running and how to watch them scale, and keeps
# running until Ctrl-C; then it stops what it started.
#
#   DEV_EXIT_AFTER_READY=1  exit (and clean up) once everything is Ready (CI)
#   DEV_E2E=1               then also apply every sample (kubectl apply -f config/samples/), wait
#                           for the sample stack prism-dev and the memstore pattern, and run the
#                           Makefile's local-* targets against it (make test-e2e)
#   DEV_METRICS_ADDR        operator metrics address (default 127.0.0.1:8090: not 8080, which
#                           `kubectl port-forward svc/<pattern> 8080:8080` wants)
#   DEV_HEALTH_ADDR         operator health address (default 127.0.0.1:8081)
#   DEV_REDIS_PORT          port of the example queue's Redis (default 16379)
#   LOG_LEVEL               operator log filter (default info)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
local_dir="$root/.local"
mkdir -p "$local_dir"

# GET /readyz over bash's /dev/tcp (no curl needed): 0 when it answers 200. Refused connections
# while the operator starts are expected; the group's redirection keeps bash from printing them.
ready_probe() {
  local addr="${DEV_HEALTH_ADDR:-127.0.0.1:8081}" line
  { exec 3<>"/dev/tcp/${addr%:*}/${addr##*:}"; } 2>/dev/null || return 1
  printf 'GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n' >&3
  read -r line <&3 || true
  exec 3<&- 3>&-
  [[ "$line" == *" 200 "* ]]
}

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

hack/toolchain.sh   # Rust and Go new enough, or one line saying what to install
hack/deps.sh   # redis-server for the queue example, prometheus, setpriv for the control plane
step "building the control plane and autoscaler binaries (cached after the first time) and the operator"
k8s_bin="$(tools/k8s/build.sh)"
export PATH="$k8s_bin:$PATH"
PRISM_METRICS_SERVER_BIN="$(tools/metrics-server/build.sh)"
PRISM_KEDA_BIN="$(tools/keda/build.sh)"
export PRISM_METRICS_SERVER_BIN PRISM_KEDA_BIN
cargo build -q -p prism-operator -p prism-testkit --bins
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

started_cluster=0
operator_pid=""
redis_pid=""
cleanup() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n "$redis_pid" ]]; then
    kill -TERM "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    rm -f "$local_dir/redis.port"
  fi
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
  step "starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok nodes, metrics-server, KEDA)"
  PRISM_K8S_BIN="$k8s_bin" "$bin/prism-cluster" up --dir "$local_dir" --detach
  started_cluster=1
fi
export KUBECONFIG="$local_dir/kubeconfig"

step "installing the Prism CRDs (KEDA's come with KEDA)"
kubectl apply --server-side --force-conflicts -f config/crd/bases/ >/dev/null
kubectl wait --for condition=Established --timeout=60s crd --all >/dev/null

redis_port="${DEV_REDIS_PORT:-16379}"
if command -v redis-server >/dev/null; then
  step "starting redis-server on 127.0.0.1:$redis_port for the queue example (log: .local/redis.log)"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$local_dir/redis.log" 2>&1 &
  redis_pid=$!
  echo "$redis_port" >"$local_dir/redis.port"
else
  echo "redis-server is not installed (apt-get install redis-server): skipping the KEDA Redis queue example"
fi

step "starting the operator (log: .local/operator.log)"
"$bin/prism-operator" run \
  --metrics-bind-address "${DEV_METRICS_ADDR:-127.0.0.1:8090}" \
  --health-probe-bind-address "${DEV_HEALTH_ADDR:-127.0.0.1:8081}" \
  >"$local_dir/operator.log" 2>&1 &
operator_pid=$!
echo "waiting for the operator's /readyz on ${DEV_HEALTH_ADDR:-127.0.0.1:8081} (its caches synced)"
for _ in $(seq 1 120); do
  if ready_probe; then break; fi
  if ! kill -0 "$operator_pid" 2>/dev/null; then echo "the operator exited:"; tail -20 "$local_dir/operator.log"; exit 1; fi
  sleep 0.5
done

step "applying the quickstart PrismStack, the README's HPA and KEDA examples, a KEDA Redis queue example and the Prometheus example"
kubectl apply -f config/samples/prismstack_quickstart.yaml \
  -f config/samples/prismpattern_hpa_example.yaml \
  -f config/samples/prismpattern_keda_kafka_example.yaml
patterns=(prismpattern/producer-kafka-events prismpattern/consumer-kafka-orders)
if [[ -n "$redis_pid" ]]; then
  # Scales on the length of the list `jobs` (5 items per replica, 0 to 10 replicas): `make local-queue`.
  kubectl apply -f - <<YAML
apiVersion: prism.io/v1alpha1
kind: PrismPattern
metadata:
  name: consumer-redis-jobs
  namespace: default
spec:
  pattern: consumer
  backend: redis
  autoscaling:
    enabled: true
    scaler: keda
    minReplicas: 0
    maxReplicas: 10
    pollingInterval: 5
    cooldownPeriod: 30
    behavior:
      scaleDown:
        stabilizationWindowSeconds: 30
    triggers:
      - type: redis
        metadata:
          address: "127.0.0.1:$redis_port"
          listName: jobs
          listLength: "5"
YAML
  patterns+=(prismpattern/consumer-redis-jobs)
fi
if [[ -f "$local_dir/prometheus.url" ]]; then
  # KEDA's prometheus trigger on the request rate kwok emulates (1000 per replica, 3 to 20):
  # `make local-load NAME=keyvalue-requests RPS=5500 TOTAL=1`.
  sed "s#http://prometheus-operated.monitoring.svc:9090#$(cat "$local_dir/prometheus.url")#" \
    config/samples/prismpattern_keda_prometheus_example.yaml | kubectl apply -f -
  patterns+=(prismpattern/keyvalue-requests)
fi

step "waiting until they are Ready (the stack's and each pattern's Ready condition)"
kubectl wait --for=condition=Ready prismstack/prism-quickstart --timeout=120s
kubectl wait --for=condition=Ready "${patterns[@]}" --timeout=120s
echo "waiting for the HPA's first metrics (metrics-server scrapes every 10 s; the HPA syncs every 15 s)"
kubectl wait --for=condition=AutoscalingReady prismpattern/producer-kafka-events --timeout=120s

step "running"
kubectl get prism
echo
# What each autoscaler reports (the KEDA Kafka example's broker, kafka:9092, does not exist here).
kubectl get prismpattern -o custom-columns='PATTERN:.metadata.name,AUTOSCALING:.status.conditions[?(@.type=="AutoscalingReady")].reason,MESSAGE:.status.conditions[?(@.type=="AutoscalingReady")].message'

cat <<INFO

Everything is Ready. Point kubectl at this cluster with:

  export KUBECONFIG=$KUBECONFIG
  export PATH=$k8s_bin:\$PATH    # kubectl v$(kubectl version --client -o json 2>/dev/null | sed -n 's/.*"gitVersion": "v\([^"]*\)".*/\1/p' | head -1) built for this control plane

  kubectl get prism                       # every Prism resource
  kubectl get pods -l stack=prism-quickstart
  kubectl top nodes; kubectl top pods     # metrics-server's figures (kwok simulates the usage)
  curl http://${DEV_METRICS_ADDR:-127.0.0.1:8090}/metrics   # operator metrics
  tail -f .local/operator.log             # operator logs

Watch it scale (in another terminal, after the exports above):

  kubectl get hpa -w                      # producer-kafka-events: CPU target 75 % of 500m
  make local-load NAME=producer-kafka-events CPU=900m      # every pod at 900m until Ctrl-C
  kubectl get scaledobject -w             # consumer-redis-jobs: 5 items per replica, 0 to 10
  make local-queue N=40                   # push 40 items: 8 replicas; make local-queue-drain: back to 0
  make local-load NAME=keyvalue-requests RPS=5500 TOTAL=1  # 5500 requests/s in all (Prometheus): 6 replicas
  kubectl get prismpattern -w             # DESIRED / REPLICAS / AVAILABLE follow the autoscalers

INFO
if [[ "${DEV_E2E:-0}" == 1 ]]; then
  step "end to end: every sample, then the sample stack prism-dev and the memstore pattern Ready"
  kubectl apply -f config/samples/
  kubectl wait --for=condition=Ready prismstack/prism-dev --timeout=120s
  kubectl wait --for=condition=Ready -n prism-system prismpattern/keyvalue-memstore-001 --timeout=120s
  kubectl get all -l stack=prism-dev
  grep -q "Starting workers" "$local_dir/operator.log" || { echo "the operator log has no 'Starting workers' line" >&2; exit 1; }
  step "the Makefile's local-* targets on this cluster"
  for target in local-test local-test-hpa local-test-keda local-test-multi local-status local-install-deps; do
    echo "--- make $target"
    make --no-print-directory "$target" KUBECTL=kubectl
  done
  echo "--- make local-clean"
  make --no-print-directory local-clean KUBECTL=kubectl
  kubectl wait --for=delete prismstack --all -A --timeout=120s
  kubectl wait --for=delete prismpattern --all -A --timeout=120s
  echo "end to end: passed"
fi
if [[ "${DEV_EXIT_AFTER_READY:-0}" == 1 ]]; then
  echo "DEV_EXIT_AFTER_READY=1: cleaning up and exiting."
  exit 0
fi
echo "Press Ctrl-C to stop the operator$( [[ $started_cluster == 1 ]] && echo ' and the control plane')."
wait "$operator_pid"
