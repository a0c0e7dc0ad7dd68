#!/usr/bin/env bash
# Installs the Debian packages the tests and `make dev` run for real (started on loopback by the
# tests): redis-server (with redis-cli), nats-server, postgresql, rabbitmq-server (the KEDA
# rabbitmq trigger's broker; Erlang comes with it), a JDK's java (Kafka's broker, fetched from
# Maven by tools/kafka/fetch.sh) and python3-venv (moto, tools/moto/install.sh), and setpriv
# (util-linux), which the testkit starts every process through, and prometheus (it scrapes the
# request rate kwok emulates for pods, which the KEDA prometheus trigger scales on), and for the
# operator's image umoci and skopeo (assemble it without a Docker engine) and runc (the image test
# runs the operator from it). As root it installs what is missing with apt-get; otherwise it stops
# at once with the one command to run. Quiet when everything is there.
set -euo pipefail
missing=()
command -v setpriv >/dev/null || missing+=(util-linux)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v nats-server >/dev/null || [[ -x /usr/sbin/nats-server ]] || missing+=(nats-server)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
command -v prometheus >/dev/null || missing+=(prometheus)
# The image: assembled without a Docker engine (umoci, skopeo) and run by an OCI runtime (runc).
command -v umoci >/dev/null || missing+=(umoci)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v runc >/dev/null || missing+=(runc)
((${#missing[@]})) || exit 0
if [[ $(id -u) != 0 ]]; then
  echo "missing packages for the tests: run  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "--- installing ${missing[*]} (apt-get)" >&2
log="${TMPDIR:-/tmp}/prism-operator-apt.log"
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
  tail -20 "$log" >&2
  echo "apt-get install ${missing[*]} failed (log: $log)" >&2
  exit 1
fi
# The Debian packages start their services; the tests run their own servers on free ports.
for service in redis-server nats-server postgresql rabbitmq-server epmd prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$service" 2>/dev/null; then
    systemctl stop "$service" >/dev/null 2>&1 || true
  fi
done
