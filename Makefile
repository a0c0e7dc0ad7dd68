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
KUBECTL    ?= $(K8S_BIN)/kubectl
CLUSTER    := $(CARGO) run -q -p prism-testkit --bin prism-cluster --

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the operator and tools
	$(CARGO) build --workspace --all-targets

.PHONY: k8s-bin
k8s-bin: ## Build (once) and print the local control plane's bin directory
	@tools/k8s/build.sh

.PHONY: test
test: ## Run every test: unit tests, CRD drift, and integration tests on a local control plane
	PRISM_K8S_BIN="$$(tools/k8s/build.sh)" $(CARGO) test --workspace --all-targets

.PHONY: lint
lint: ## Formatting and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

.PHONY: manifests
manifests: ## Regenerate config/crd/bases from the Rust types
	$(CARGO) run -q -p prism-operator -- crd --out-dir config/crd/bases
	$(CARGO) run -q -p prism-operator -- rbac > config/rbac/role.yaml

.PHONY: generate
generate: manifests ## Alias of manifests (the seeds' `make manifests generate`)

.PHONY: install
install: manifests ## Install the CRDs into the current kubeconfig's cluster
	$(KUBECTL) apply --server-side --force-conflicts -f config/crd/bases/
	$(KUBECTL) wait --for condition=Established --timeout=60s -f config/crd/bases/

.PHONY: uninstall
uninstall: ## Remove the CRDs (and with them every Prism resource) from the current cluster
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases/

.PHONY: cluster-up
cluster-up: ## Start the local control plane in the background; kubeconfig in .local/kubeconfig
	@PRISM_K8S_BIN="$$(tools/k8s/build.sh)" $(CARGO) build -q -p prism-testkit --bin prism-cluster
	@PRISM_K8S_BIN="$$(tools/k8s/build.sh)" $(CLUSTER) up --dir $(LOCAL_DIR) --detach
	@echo "export KUBECONFIG=$$(pwd)/$(LOCAL_DIR)/kubeconfig"

.PHONY: cluster-down
cluster-down: ## Stop the local control plane started by cluster-up
	@$(CLUSTER) down --dir $(LOCAL_DIR)
