//! The PrismPattern controller on the local control plane with the real autoscalers
//! (metrics-server, and KEDA with its admission webhook on, so nothing the operator produces may
//! be something KEDA would refuse): the README examples reconcile to exactly the objects the text
//! describes, autoscalers switch and heal, replicas are never fought over, status follows the
//! pods, and a converged cluster sees no writes from the operator.

#[path = "../support/mod.rs"]
mod support;

mod convergence;
mod examples;
mod lifecycle;
mod scalers;

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client, ResourceExt,
    api::{ApiResource, DynamicObject, GroupVersionKind},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use serde_json::Value;
use support::{Operator, eventually};

pub async fn setup() -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    support::operator_in_new_namespace(prism_testkit::shared_autoscaled().await).await
}

pub fn scaled_objects(client: &Client, ns: &str) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub async fn get<K>(api: &Api<K>, name: &str) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} exists"), async || {
        api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or_else(|| "absent".to_owned())
    })
    .await
}

pub async fn gone<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    eventually(&format!("{name} is gone"), async || match api.get_opt(name).await.map_err(|e| e.to_string())? {
        None => Ok(()),
        Some(_) => Err("still there".to_owned()),
    })
    .await;
}

pub async fn running(client: &Client, ns: &str, name: &str) -> PrismPattern {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    eventually(&format!("{name} Running"), async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        if s.phase == Some(PatternPhase::Running) && s.available_replicas == s.replicas && s.replicas.unwrap_or(0) > 0 {
            Ok(p)
        } else {
            Err(format!("status {s:?}"))
        }
    })
    .await
}

pub fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("json")
}

/// Whether our field manager owns `spec.replicas` of a Deployment.
/// Whether our field manager owns `spec.replicas` of a Deployment.
pub fn operator_owns_replicas(d: &Deployment) -> bool {
    d.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some(prism_api::FIELD_MANAGER)
            && m.fields_v1.as_ref().is_some_and(|f| f.0.get("f:spec").and_then(|s| s.get("f:replicas")).is_some())
    })
}
