//! The CRDs on a real API server: every seed sample is accepted and reads back unchanged, invalid
//! specs are rejected at admission with a message naming the field, and kubectl's category, short
//! names and `explain` work.

#[path = "../support/mod.rs"]
mod support;

mod invalid;
mod kubectl;
mod names;
mod samples;

use kube::{
    Api, Client, Resource,
    api::{ApiResource, DynamicObject},
    core::NamespaceResourceScope,
};
use prism_api::v1alpha1::{PrismBackend, PrismNamespace, PrismPattern, PrismStack};
use serde_json::{Value, json};

pub async fn client() -> Client {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    client
}

pub fn api_resource(kind: &str) -> ApiResource {
    fn erase<K: Resource<DynamicType = (), Scope = NamespaceResourceScope>>() -> ApiResource {
        ApiResource::erase::<K>(&())
    }
    match kind {
        "PrismStack" => erase::<PrismStack>(),
        "PrismPattern" => erase::<PrismPattern>(),
        "PrismBackend" => erase::<PrismBackend>(),
        "PrismNamespace" => erase::<PrismNamespace>(),
        other => panic!("unexpected kind {other}"),
    }
}

pub fn dynamic_api(client: &Client, kind: &str, ns: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), ns, &api_resource(kind))
}

/// A valid PrismPattern spec with `extra` merged in.
pub fn pattern(extra: Value) -> Value {
    let mut spec = json!({"pattern": "consumer", "backend": "kafka"});
    merge(&mut spec, extra);
    spec
}

/// JSON merge of `extra` into `base`.
pub fn merge(base: &mut Value, extra: Value) {
    match (base, extra) {
        (Value::Object(b), Value::Object(e)) => {
            for (k, v) in e {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, e) => *b = e,
    }
}
