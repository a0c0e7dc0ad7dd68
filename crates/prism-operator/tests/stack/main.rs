//! The PrismStack controller on the local control plane (simulated nodes in 3 zones and 2
//! regions): the seeds' stacks reconcile to what the text describes, the real scheduler honours
//! the placement, leader-election RBAC is least privilege, `kubectl wait --for=condition=Ready`
//! works, children follow the spec, and a converged stack sees no writes.

#[path = "../support/mod.rs"]
mod support;

mod ownership;
mod placement;
mod production;
mod quickstart;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{Api, Client, api::ListParams};
use serde_json::Value;
use support::{Operator, eventually};

pub async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared().await).await
}

pub fn kubectl(cp: &prism_testkit::ControlPlane, args: &[&str]) -> String {
    let out = cp.kubectl().args(args).output().expect("kubectl");
    assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Running pods of a stack component, once `want` of them run.
pub async fn running_pods(client: &Client, ns: &str, selector: &str, want: usize) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{want} running pods {selector}"), async || {
        let list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| e.to_string())?;
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .collect();
        (running.len() == want).then_some(running.clone()).ok_or(format!("{} running", running.len()))
    })
    .await
}

pub async fn node_labels(client: &Client) -> BTreeMap<String, BTreeMap<String, String>> {
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .list(&ListParams::default())
        .await
        .expect("nodes")
        .items
        .into_iter()
        .map(|n| (n.metadata.name.clone().unwrap_or_default(), n.metadata.labels.unwrap_or_default()))
        .collect()
}

pub fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("json")
}
