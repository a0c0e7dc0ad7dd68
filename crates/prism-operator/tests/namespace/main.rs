//! The PrismNamespace controller on the local control plane against a gRPC test double of the
//! Prism admin: every spec field reaches CreateNamespace, provisioning is idempotent across
//! reconciles and an operator restart, spec changes re-sync, deletion revokes (or gives up after
//! the grace period while the admin is down), the TTL deletes, and admin errors surface as
//! conditions and Warning Events, and an admin that is slow, failing or loses its connections
//! mid-call provisions each namespace once and never holds a deletion past its grace period.

#[path = "../support/mod.rs"]
mod support;

mod admin_double;
mod faults;
mod lifecycle;
mod provisioning;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use prism_api::v1alpha1::{NamespacePhase, PrismNamespace};
use serde_json::{Value, json};
use support::eventually;

/// Grace period of deletions while the admin is down, in these tests.
pub const GRACE: Duration = Duration::from_secs(3);

pub async fn setup() -> (&'static prism_testkit::ControlPlane, Client, String, prism_testkit::NamespaceGuard) {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    (cp, client, ns, guard)
}

/// Creates a PrismNamespace; `endpoint` becomes its `prism.io/admin-endpoint` annotation.
pub async fn create_tenant(client: &Client, ns: &str, name: &str, endpoint: Option<&str>, spec: Value) {
    let mut doc = json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    });
    if let Some(e) = endpoint {
        doc["metadata"]["annotations"] = json!({"prism.io/admin-endpoint": e});
    }
    let obj: PrismNamespace = serde_json::from_value(doc).expect("namespace");
    Api::<PrismNamespace>::namespaced(client.clone(), ns).create(&PostParams::default(), &obj).await.expect("create");
}

/// Waits until the PrismNamespace's phase is `phase`.
pub async fn phase(client: &Client, ns: &str, name: &str, phase: NamespacePhase) -> PrismNamespace {
    let api: Api<PrismNamespace> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{name} {phase:?}"), async || {
        let o = api.get(name).await.map_err(|e| e.to_string())?;
        let s = o.status.clone().unwrap_or_default();
        if s.phase == Some(phase) { Ok(o) } else { Err(format!("{:?} {:?}", s.phase, s.conditions)) }
    })
    .await
}

/// The condition `type_` as (status, reason, message).
pub fn condition(o: &PrismNamespace, type_: &str) -> (String, String, String) {
    o.status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// Deletes a PrismNamespace.
pub async fn delete(client: &Client, ns: &str, name: &str) {
    Api::<PrismNamespace>::namespaced(client.clone(), ns).delete(name, &DeleteParams::default()).await.expect("delete");
}

/// Waits until the PrismNamespace is gone.
pub async fn gone(client: &Client, ns: &str, name: &str) {
    let api: Api<PrismNamespace> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{name} gone"), async || match api.get_opt(name).await.map_err(|e| e.to_string())? {
        None => Ok(()),
        Some(o) => Err(format!("still there: {:?}", o.status.and_then(|s| s.phase))),
    })
    .await;
}

/// Events about `name`: (type, reason, note).
pub async fn events(client: &Client, ns: &str, name: &str) -> Vec<(String, String, String)> {
    let api: Api<Event> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .map(|e| (e.type_.unwrap_or_default(), e.reason.unwrap_or_default(), e.note.unwrap_or_default()))
        .collect()
}

/// Waits for an Event of `type_` with `reason` about `name`; returns its note.
pub async fn event(client: &Client, ns: &str, name: &str, type_: &str, reason: &str) -> String {
    eventually(&format!("{type_} {reason} about {name}"), async || {
        let all = events(client, ns, name).await;
        let seen: Vec<String> = all.iter().map(|(t, r, _)| format!("{t}/{r}")).collect();
        all.into_iter()
            .find(|(t, r, _)| t == type_ && r == reason)
            .map(|(_, _, n)| n)
            .ok_or_else(|| format!("events so far: {seen:?}"))
    })
    .await
}
