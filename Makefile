# prism-operator: build, test and run the Prism Kubernetes operator.
# `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CARGO      ?= cargo
LOCAL_DIR  ?= .local
# The local control plane's binaries (etcd, kube-apiserver, ..., kubectl, kwok), built once from
# the Go modules pinned in tools/k8s and cached outside the repository.
K8S_BIN     = $(shell tools/k8s/build.sh)
LOCAL_KUBECONFIG = $(abspath $(LOCAL_DIR))/kubeconfig
# kubectl: for the local control plane the one built with it (same version); for a cluster of
# yours, yours when it is on PATH (no control-plane build), else that same built one.
KUBECTL    ?= $(if $(filter $(LOCAL_KUBECONFIG),$(KUBECONFIG)),$(K8S_BIN)/kubectl,$(or $(shell command -v kubectl 2>/dev/null),$(K8S_BIN)/kubectl))
CLUSTER    := $(CARGO) run -q -p prism-testkit --bin prism-cluster --
# helm: yours when it is on PATH, else built once from the Go module pinned in tools/helm (cached
# outside the repository).
HELM       ?= $(or $(shell command -v helm 2>/dev/null),$(shell tools/helm/build.sh))
# The autoscalers the local control plane runs (metrics-server, KEDA), built the same way.
AUTOSCALER_BINS = PRISM_METRICS_SERVER_BIN="$$(tools/metrics-server/build.sh)" PRISM_KEDA_BIN="$$(tools/keda/build.sh)"
# Brokers no Debian package has: Kafka from Maven, moto (SQS) from PyPI; cached like the Go builds.
BROKER_TOOLS = PRISM_KAFKA_HOME="$$(tools/kafka/fetch.sh)" PRISM_MOTO_BIN="$$(tools/moto/install.sh)"
# What `make test` and `make test-integration` hand the tests: where the built servers are.
TEST_ENV    = PRISM_K8S_BIN="$$(tools/k8s/build.sh)" PRISM_HELM="$$(tools/helm/build.sh)" $(AUTOSCALER_BINS) $(BROKER_TOOLS) \
              PRISM_OPERATOR_IMAGE="$(abspath $(IMAGE_ARCHIVE))" PRISM_OPERATOR_IMG="$(IMG)"
# Where `make run` serves the operator's metrics: not 8080, which `kubectl port-forward
# svc/<pattern> 8080:8080` wants on the same machine (METRICS_BIND_ADDRESS or ARGS override it).
RUN_METRICS_ADDR ?= 127.0.0.1:8090
CHART      := charts/prism-operator
# The operator's version (the workspace's), its image (image, deploy, docker-build, docker-push;
# config/manager/manager.yaml and the chart name the same by default), the OCI archive `make image`
# writes, and the engine docker-build uses when there is one.
VERSION    := $(shell sed -n 's/^version = "\(.*\)"$$/\1/p' Cargo.toml | head -1)
DEFAULT_IMG := ghcr.io/prism/prism-operator:v$(VERSION)
IMG        ?= $(DEFAULT_IMG)
IMAGE_ARCHIVE ?= dist/prism-operator.oci.tar
CONTAINER_TOOL ?= docker
# KEDA release whose CRDs local-install-deps installs (the tests' prism_testkit::KEDA_VERSION).
KEDA_VERSION ?= v2.21.0
# metrics-server release local-install-deps installs on other clusters (tools/metrics-server pins the same).
METRICS_SERVER_VERSION ?= v0.9.0
OPERATOR_NS := prism-system

# The local-* targets use the local control plane (make cluster-up) unless KUBECONFIG is set.
ifeq ($(KUBECONFIG),)
ifneq ($(wildcard $(LOCAL_DIR)/kubeconfig),)
local-%: export KUBECONFIG := $(abspath $(LOCAL_DIR))/kubeconfig
endif
endif

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the operator and tools
	$(CARGO) build --workspace --all-targets

.PHONY: k8s-bin
k8s-bin: ## Build (once) and print the local control plane's bin directory
	@tools/k8s/build.sh

.PHONY: helm-bin
helm-bin: ## Build (once) and print the path of helm (pinned in tools/helm)
	@tools/helm/build.sh

.PHONY: test
test: ## Run every test: unit tests, CRD drift, and integration tests on a local control plane
	@hack/toolchain.sh
	hack/deps.sh
	$(MAKE) --no-print-directory image
	$(TEST_ENV) $(CARGO) test --workspace --all-targets

.PHONY: test-integration
test-integration: ## Only the integration tests (crates/*/tests: real control plane, autoscalers, brokers)
	@hack/toolchain.sh
	hack/deps.sh
	$(MAKE) --no-print-directory image
	$(TEST_ENV) $(CARGO) test --workspace --test '*'

.PHONY: test-e2e
test-e2e: ## End to end on the local control plane: make dev, then every sample (kubectl apply -f config/samples/) and the sample stack prism-dev Ready
	DEV_EXIT_AFTER_READY=1 DEV_E2E=1 hack/dev.sh

.PHONY: lint
lint: ## Formatting and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: manifests
manifests: ## Regenerate config/crd/bases and the RBAC (config/rbac/role.yaml, config/namespaced/) from the code, and the chart's copies (of those, the alert rules and the dashboard)
	$(CARGO) run -q -p prism-operator -- crd --out-dir config/crd/bases
	$(CARGO) run -q -p prism-operator -- rbac > config/rbac/role.yaml.tmp && mv config/rbac/role.yaml.tmp config/rbac/role.yaml
	$(CARGO) run -q -p prism-operator -- rbac --namespaced-role > config/namespaced/role/role.yaml.tmp \
	  && mv config/namespaced/role/role.yaml.tmp config/namespaced/role/role.yaml
	$(CARGO) run -q -p prism-operator -- rbac --cluster-reader-role > config/namespaced/cluster_reader.yaml.tmp \
	  && mv config/namespaced/cluster_reader.yaml.tmp config/namespaced/cluster_reader.yaml
	rm -f $(CHART)/crds/*.yaml && cp config/crd/bases/*.yaml $(CHART)/crds/
	{ echo '# Copied from config/rbac/role.yaml by `make manifests`; do not edit.'; \
	  sed -n '/^rules:/,$$p' config/rbac/role.yaml; } > $(CHART)/files/clusterrole-rules.yaml
	{ echo '# Copied from config/namespaced/role/role.yaml by `make manifests`; do not edit.'; \
	  sed -n '/^rules:/,$$p' config/namespaced/role/role.yaml; } > $(CHART)/files/role-rules.yaml
	{ echo '# Copied from config/namespaced/cluster_reader.yaml by `make manifests`; do not edit.'; \
	  sed -n '/^rules:/,$$p' config/namespaced/cluster_reader.yaml; } > $(CHART)/files/cluster-reader-rules.yaml
	cp config/prometheus/rules.yaml $(CHART)/files/prometheus-rules.yaml
	cp config/grafana/prism-operator.json $(CHART)/files/grafana-dashboard.json

.PHONY: generate
generate: manifests ## Alias of manifests (the guide's `make manifests generate`)

.PHONY: install
install: manifests ## Install the CRDs into the current kubeconfig's cluster
	$(KUBECTL) apply --server-side --force-conflicts -f config/crd/bases/
	$(KUBECTL) wait --for condition=Established --timeout=60s -f config/crd/bases/

.PHONY: uninstall
uninstall: ## Remove the CRDs (and with them every Prism resource) from the current cluster
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases/

.PHONY: cluster-up
cluster-up: ## Start the local control plane (with metrics-server, KEDA and Prometheus) in the background; kubeconfig in .local/kubeconfig
	@hack/toolchain.sh
	@hack/deps.sh
	@PRISM_K8S_BIN="$$(tools/k8s/build.sh)" $(CARGO) build -q -p prism-testkit --bin prism-cluster
	@PRISM_K8S_BIN="$$(tools/k8s/build.sh)" $(AUTOSCALER_BINS) $(CLUSTER) up --dir $(LOCAL_DIR) --detach
	@echo "export KUBECONFIG=$(abspath $(LOCAL_DIR))/kubeconfig"

.PHONY: cluster-down
cluster-down: ## Stop the local control plane started by cluster-up
	@$(CLUSTER) down --dir $(LOCAL_DIR)

# --- Run and deploy

.PHONY: run
run: ## Run the operator out of the cluster against the current kubeconfig (LOG_LEVEL, ARGS="..."; metrics on RUN_METRICS_ADDR)
	METRICS_BIND_ADDRESS="$${METRICS_BIND_ADDRESS:-$(RUN_METRICS_ADDR)}" $(CARGO) run -p prism-operator -- run $(ARGS)

.PHONY: local-run
local-run: install run ## Install the CRDs and run the operator against the local control plane

.PHONY: deploy
deploy: manifests ## Deploy CRDs, RBAC and the operator (image IMG) into prism-system of the current cluster
	$(KUBECTL) kustomize config/default | sed 's|image: $(DEFAULT_IMG)$$|image: $(IMG)|' \
	  | $(KUBECTL) apply --server-side --force-conflicts -f -
	$(KUBECTL) -n $(OPERATOR_NS) rollout status deployment/prism-operator-controller-manager --timeout=120s

.PHONY: undeploy
undeploy: ## Remove the operator and its RBAC (keeps the CRDs, your Prism resources and the namespace)
	$(KUBECTL) -n $(OPERATOR_NS) delete --ignore-not-found \
	  deployment/prism-operator-controller-manager service/prism-operator-controller-manager-metrics
	$(KUBECTL) delete --ignore-not-found -k config/rbac

.PHONY: image
image: ## Build the operator image IMG without a container engine into the OCI archive IMAGE_ARCHIVE (docker load -i / skopeo copy oci-archive:)
	@IMG="$(IMG)" IMAGE_ARCHIVE="$(IMAGE_ARCHIVE)" hack/image.sh

.PHONY: docker-build
docker-build: ## Build the operator image IMG: with the Dockerfile when a Docker engine runs, else `make image`
	@if $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
	  $(CONTAINER_TOOL) build -t $(IMG) .; \
	else \
	  echo "docker-build: no working '$(CONTAINER_TOOL)' engine here: building $(IMG) without one (make image)" >&2; \
	  $(MAKE) --no-print-directory image IMG=$(IMG); \
	  echo "docker-build: image $(IMG) is in $(IMAGE_ARCHIVE): docker load -i $(IMAGE_ARCHIVE), or make docker-push IMG=$(IMG)" >&2; \
	fi

.PHONY: docker-push
docker-push: ## Push the operator image IMG: with the Docker engine when one runs, else skopeo copies IMAGE_ARCHIVE (make image) to the registry
	@if $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
	  $(CONTAINER_TOOL) push $(IMG); \
	else \
	  [[ -f $(IMAGE_ARCHIVE) ]] || { echo "docker-push: no engine and no $(IMAGE_ARCHIVE): run  make image IMG=$(IMG)" >&2; exit 1; }; \
	  skopeo copy oci-archive:$(IMAGE_ARCHIVE) docker://$(IMG); \
	fi

# --- Helm chart

.PHONY: helm-lint
helm-lint: ## helm lint charts/prism-operator
	$(HELM) lint $(CHART)

.PHONY: chart
chart: ## Render the chart's templates (CRDs excluded) as `helm install prism-operator -n prism-system` would
	@$(HELM) template prism-operator $(CHART) --namespace $(OPERATOR_NS)

# --- Local cluster (make cluster-up; these use .local/kubeconfig unless KUBECONFIG is set)

.PHONY: local-install-deps
local-install-deps: ## Autoscalers: on the local control plane they already run; elsewhere install metrics-server and KEDA (manifest, Helm)
	@if [[ "$${KUBECONFIG:-}" == "$(abspath $(LOCAL_DIR))/kubeconfig" ]]; then \
	  $(KUBECTL) get apiservices v1beta1.metrics.k8s.io v1beta1.external.metrics.k8s.io >/dev/null 2>&1 || { \
	    echo "the local control plane runs without autoscalers (prism-cluster up --no-autoscalers); restart it with make cluster-up" >&2; exit 1; }; \
	  echo "The local control plane already runs metrics-server $(METRICS_SERVER_VERSION) and KEDA $(KEDA_VERSION) (operator,"; \
	  echo "metrics API server, admission webhooks) as processes built from their Go modules, and has KEDA's CRDs:"; \
	  $(KUBECTL) get apiservices v1beta1.metrics.k8s.io v1beta1.external.metrics.k8s.io; \
	else \
	  echo "--- metrics-server $(METRICS_SERVER_VERSION) (its release manifest)"; \
	  $(KUBECTL) apply -f https://github.com/kubernetes-sigs/metrics-server/releases/download/$(METRICS_SERVER_VERSION)/components.yaml; \
	  echo "--- KEDA $(KEDA_VERSION) (its Helm chart)"; \
	  $(HELM) repo add kedacore https://kedacore.github.io/charts --force-update; \
	  $(HELM) repo update kedacore; \
	  $(HELM) upgrade --install keda kedacore/keda --namespace keda --create-namespace --version $(KEDA_VERSION:v%=%) --wait; \
	fi

.PHONY: local-load
local-load: ## Simulate load on a pattern's pods until Ctrl-C: NAME=<pattern> CPU=900m [MEMORY=300Mi] [RPS=5500] [TOTAL=1] [NAMESPACE=default]
	@[[ -n "$(NAME)" && -n "$(CPU)$(MEMORY)$(RPS)" ]] || { echo "usage: make local-load NAME=<pattern> CPU=900m [MEMORY=300Mi] [RPS=5500] [TOTAL=1] [NAMESPACE=default]" >&2; exit 2; }
	@$(CARGO) build -q -p prism-testkit --bin prism-cluster
	@$(CLUSTER) load -n "$(or $(NAMESPACE),default)" -l "prism.io/pattern-instance=$(NAME)" \
	  $(if $(CPU),--cpu $(CPU)) $(if $(MEMORY),--memory $(MEMORY)) $(if $(RPS),--requests-per-second $(RPS)) $(if $(TOTAL),--total)

.PHONY: local-queue
local-queue: ## Push N items (default 20) into the dev Redis list `jobs` that consumer-redis-jobs scales on (make dev)
	@port="$$(cat $(LOCAL_DIR)/redis.port 2>/dev/null)" || { echo "no dev Redis: start make dev first" >&2; exit 1; }; \
	  redis-cli -p "$$port" RPUSH jobs $$(seq 1 $(or $(N),20)) >/dev/null && \
	  echo "jobs now holds $$(redis-cli -p "$$port" LLEN jobs) items; drain with: make local-queue-drain"

.PHONY: local-queue-drain
local-queue-drain: ## Empty the dev Redis list `jobs`
	@redis-cli -p "$$(cat $(LOCAL_DIR)/redis.port)" DEL jobs >/dev/null && echo "jobs is empty"

.PHONY: local-test-hpa
local-test-hpa: ## Apply the README's HPA example (PrismPattern producer-kafka-events)
	$(KUBECTL) apply -f config/samples/prismpattern_hpa_example.yaml
	$(KUBECTL) get prismpattern,hpa

.PHONY: local-test-keda
local-test-keda: ## Apply the README's KEDA example (Kafka lag; needs KEDA's CRDs: local-install-deps)
	$(KUBECTL) apply -f config/samples/prismpattern_keda_kafka_example.yaml
	$(KUBECTL) get prismpattern

.PHONY: local-test-multi
local-test-multi: ## Apply the README's multi-trigger KEDA example (Kafka + NATS + SQS + CPU)
	$(KUBECTL) apply -f config/samples/prismpattern_keda_multi_trigger_example.yaml
	$(KUBECTL) get prismpattern

.PHONY: local-status
local-status: ## Show Prism resources, Deployments, Services, HPAs and ScaledObjects in all namespaces
	$(KUBECTL) get prism,deployments,services,hpa -A
	@$(KUBECTL) get scaledobjects -A 2>/dev/null || echo "(no ScaledObjects: KEDA's CRDs are not installed; make local-install-deps)"
	@$(KUBECTL) top pods -A 2>/dev/null || echo "(no pod metrics: metrics-server is not installed; make local-install-deps)"

.PHONY: local-clean
local-clean: ## Delete every Prism resource in all namespaces, then undeploy the operator (CRDs stay)
	$(KUBECTL) delete --ignore-not-found --wait=false --all -A prismstacks,prismpatterns,prismbackends,prismnamespaces
	$(MAKE) --no-print-directory undeploy

# --- MEMO-036's other local targets, for this environment (no Docker engine, no kind; the local
# control plane's kwok nodes run no containers)

.PHONY: local-test
local-test: ## Apply the sample PrismStack prism-dev and show it and its children
	$(KUBECTL) apply -f config/samples/prism_v1alpha1_prismstack.yaml
	$(KUBECTL) get prismstack prism-dev
	$(KUBECTL) get all -l stack=prism-dev

.PHONY: local-deploy
local-deploy: ## Deploy the operator image (IMG, default prism-operator:local) into a cluster of yours; on the local control plane: local-run
	@if [[ "$${KUBECONFIG:-}" == "$(abspath $(LOCAL_DIR))/kubeconfig" ]]; then \
	  echo "the local control plane's kwok nodes run no containers, so a deployed operator pod would never start;" >&2; \
	  echo "run it as a process instead: make local-run (or make dev). With KUBECONFIG set to another cluster," >&2; \
	  echo "make local-deploy deploys IMG there." >&2; exit 1; \
	fi
	$(MAKE) --no-print-directory install
	$(MAKE) --no-print-directory deploy IMG=$(if $(filter command line environment,$(origin IMG)),$(IMG),prism-operator:local)

.PHONY: local-logs
local-logs: ## Tail the operator's log: .local/operator.log (make dev) on the local control plane, the Deployment's elsewhere
	@if [[ "$${KUBECONFIG:-}" == "$(abspath $(LOCAL_DIR))/kubeconfig" && -f $(LOCAL_DIR)/operator.log ]]; then \
	  tail -f $(LOCAL_DIR)/operator.log; \
	elif [[ "$${KUBECONFIG:-}" == "$(abspath $(LOCAL_DIR))/kubeconfig" ]]; then \
	  echo "no .local/operator.log: make dev writes it; make local-run logs to its terminal" >&2; exit 1; \
	else \
	  $(KUBECTL) logs -n $(OPERATOR_NS) deployment/prism-operator-controller-manager -f; \
	fi

.PHONY: docker-build-local
docker-build-local: ## Build the operator image prism-operator:local (docker-build; without an engine into IMAGE_ARCHIVE)
	$(MAKE) --no-print-directory docker-build IMG=prism-operator:local

.PHONY: kind-create
kind-create: ## kind needs Docker: starts the local control plane instead (cluster-up), or kind where it works
	@if command -v kind >/dev/null && $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
	  kind create cluster --name prism-dev && $(KUBECTL) config use-context kind-prism-dev; \
	else \
	  echo "no kind and Docker engine here: starting the local control plane instead (export the KUBECONFIG below)"; \
	  $(MAKE) --no-print-directory cluster-up; \
	fi

.PHONY: kind-delete
kind-delete: ## Stops what kind-create started (kind delete cluster, or cluster-down)
	@if command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx prism-dev; then \
	  kind delete cluster --name prism-dev; \
	else \
	  $(MAKE) --no-print-directory cluster-down; \
	fi

# --- Benchmark (crates/prism-bench; issue 7). Builds the operator and the bench in release mode
# (honouring CARGO_TARGET_DIR), starts its own local control plane, and writes
# target/bench/results.json and docs/performance.md. BENCH_ARGS passes more flags (prism-bench --help).

.PHONY: bench
bench: ## Benchmark the operator (full mode: N = 100, 1,000, 5,000; about 30 minutes on 2 cores)
	$(CARGO) build --release -p prism-operator -p prism-bench
	PRISM_K8S_BIN="$$(tools/k8s/build.sh)" "$${CARGO_TARGET_DIR:-target}/release/prism-bench" --mode full $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: ## Benchmark the operator in CI mode (N = 100 and 1,000, 20 s steady-state window)
	$(CARGO) build --release -p prism-operator -p prism-bench
	PRISM_K8S_BIN="$$(tools/k8s/build.sh)" "$${CARGO_TARGET_DIR:-target}/release/prism-bench" --mode quick $(BENCH_ARGS)

.PHONY: dev
dev: ## One command: local control plane + CRDs + operator + samples, until Ctrl-C (DEV_EXIT_AFTER_READY=1 exits once Ready)
	hack/dev.sh
