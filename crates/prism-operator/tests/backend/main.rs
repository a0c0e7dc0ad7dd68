//! The PrismBackend controller on the local control plane against real Redis, NATS and
//! PostgreSQL servers (Debian's packages, started on loopback by the tests): rendered
//! ConfigMap and Secret, health that follows the server (Ready, Unhealthy within one interval
//! of an outage, Ready again), authentication failures, Secret rotation rolling the pattern
//! runners, and invalid input reported without a hot loop.

#[path = "../support/mod.rs"]
mod support;

mod health;
mod rendering;

use std::{collections::BTreeMap, time::Duration};

use k8s_openapi::{
    ByteString,
    api::{core::v1::Secret, events::v1::Event},
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use prism_api::v1alpha1::{BackendPhase, PrismBackend};
use serde_json::{Value, json};
use support::{Operator, eventually};

/// Health-check interval of the test backends (short, so outages show quickly).
pub const INTERVAL: Duration = Duration::from_secs(2);
/// Health-check timeout of the test backends.
pub const TIMEOUT: Duration = Duration::from_secs(1);

pub async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared().await).await
}

pub async fn put_secret(client: &Client, ns: &str, name: &str, pairs: &[(&str, &str)]) {
    let secret = Secret {
        metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
        data: Some(pairs.iter().map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec()))).collect()),
        ..Default::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await.expect("get secret") {
        None => {
            api.create(&PostParams::default(), &secret).await.expect("create secret");
        }
        Some(_) => {
            api.replace(name, &PostParams::default(), &secret).await.expect("replace secret");
        }
    }
}

/// Creates a PrismBackend with the test interval and timeout.
pub async fn create_backend(client: &Client, ns: &str, name: &str, provider: &str, extra: Value) {
    let mut spec = json!({
        "type": "cache",
        "provider": provider,
        "healthCheck": {"interval": format!("{}s", INTERVAL.as_secs()), "timeout": format!("{}s", TIMEOUT.as_secs())},
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    let backend: PrismBackend = serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }))
    .expect("backend");
    Api::<PrismBackend>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &backend)
        .await
        .expect("create backend");
}

/// Waits until the backend's phase is `phase`; returns it.
pub async fn phase(client: &Client, ns: &str, name: &str, phase: BackendPhase) -> PrismBackend {
    let api: Api<PrismBackend> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{name} {phase:?}"), async || {
        let b = api.get(name).await.map_err(|e| e.to_string())?;
        let s = b.status.clone().unwrap_or_default();
        if s.phase == Some(phase) { Ok(b) } else { Err(format!("phase {:?}: {:?}", s.phase, s.message)) }
    })
    .await
}

/// The message of the backend's status.
pub fn message(b: &PrismBackend) -> String {
    b.status.as_ref().and_then(|s| s.message.clone()).unwrap_or_default()
}

/// The `Ready` condition's reason.
pub fn ready_reason(b: &PrismBackend) -> String {
    b.status
        .iter()
        .flat_map(|s| s.conditions.iter())
        .find(|c| c.type_ == "Ready")
        .map(|c| c.reason.clone())
        .unwrap_or_default()
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

/// Waits for a Warning Event about `name` with `reason`; returns its note.
pub async fn warning(client: &Client, ns: &str, name: &str, reason: &str) -> String {
    eventually(&format!("Warning {reason} about {name}"), async || {
        let all = events(client, ns, name).await;
        let seen: Vec<String> = all.iter().map(|(t, r, _)| format!("{t}/{r}")).collect();
        all.into_iter()
            .find(|(t, r, _)| t == "Warning" && r == reason)
            .map(|(_, _, note)| note)
            .ok_or_else(|| format!("events so far: {seen:?}"))
    })
    .await
}

/// The string data of a Secret.
pub async fn secret_data(client: &Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let s: Secret = Api::namespaced(client.clone(), ns).get(name).await.expect("secret");
    s.data.unwrap_or_default().into_iter().map(|(k, ByteString(v))| (k, String::from_utf8(v).expect("utf8"))).collect()
}

/// Status writes to PrismBackend `name` by the operator so far.
pub async fn status_writes(op: &Operator, name: &str) -> usize {
    let cp = prism_testkit::shared().await;
    support::writes_by(cp, &op.user_agent)
        .iter()
        .filter(|w| w.uri.contains(&format!("/prismbackends/{name}/status")))
        .count()
}
