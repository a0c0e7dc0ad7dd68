//! The `prism.io/v1alpha1` API of the Prism operator: the four custom resources
//! ([`PrismStack`](v1alpha1::PrismStack), [`PrismPattern`](v1alpha1::PrismPattern),
//! [`PrismBackend`](v1alpha1::PrismBackend), [`PrismNamespace`](v1alpha1::PrismNamespace)),
//! their validation rules, and the names the operator and its users share (labels, field
//! manager, finalizer).
//!
//! This crate is data only: no client, no runtime, no I/O. Doc comments on the types are the
//! `kubectl explain` text of the generated CRDs, so they are written for users.
//!
//! Defaults are deliberately **not** put into the schema: an object reads back exactly as it was
//! written, and the operator applies the documented defaults when it builds children (see the
//! accessor methods on each spec type).
#![forbid(unsafe_code)]
// kube-derive's repeated `printcolumn(type_ = ...)` arguments look like duplicates to clippy.
#![allow(clippy::duplicated_attributes)]

mod schema;
pub mod v1alpha1;

pub use schema::{
    LABEL_KEYS_MESSAGE, LABEL_KEYS_RULE, LABEL_VALUE_PATTERN, QUANTITY_PATTERN, constrain, label_map, upstream_type,
};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of every Prism custom resource.
pub const GROUP: &str = "prism.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// The category that makes `kubectl get prism` list all four kinds.
pub const CATEGORY: &str = "prism";
/// The server-side-apply field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "prism-operator";

/// Label keys the operator puts on every child object it creates.
pub mod labels {
    /// `app.kubernetes.io/name`: the component kind, e.g. `prism-proxy`, `prism-pattern`.
    pub const NAME: &str = "app.kubernetes.io/name";
    /// `app.kubernetes.io/instance`: the owning custom resource's name.
    pub const INSTANCE: &str = "app.kubernetes.io/instance";
    /// `app.kubernetes.io/component`: proxy, admin, pattern-runner, backend-config.
    pub const COMPONENT: &str = "app.kubernetes.io/component";
    /// `app.kubernetes.io/part-of`: always `prism`.
    pub const PART_OF: &str = "app.kubernetes.io/part-of";
    /// `app.kubernetes.io/managed-by`: always `prism-operator`.
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    /// The value of [`MANAGED_BY`] on everything the operator owns.
    pub const MANAGED_BY_VALUE: &str = "prism-operator";
    /// `app: prism`, the guide's selector for every Prism pod (`kubectl get pods -l app=prism`).
    pub const APP: &str = "app";
    /// `prism.io/pattern`: the pattern type of a runner (keyvalue, pubsub, ...).
    pub const PATTERN: &str = "prism.io/pattern";
    /// `prism.io/backend`: the backend a runner talks to.
    pub const BACKEND: &str = "prism.io/backend";
    /// `prism.io/pattern-instance`: the PrismPattern a runner pod belongs to.
    pub const PATTERN_INSTANCE: &str = "prism.io/pattern-instance";
    /// `stack`: the PrismStack a component belongs to (`kubectl get pods -l stack=<name>`).
    pub const STACK: &str = "stack";
    /// `component`: `prism-proxy` or `prism-admin`, the key MEMO-036's affinity rules select on.
    pub const SEED_COMPONENT: &str = "component";
}

/// The finalizer PrismNamespace uses to revoke the tenant on the Prism admin before deletion.
pub const NAMESPACE_FINALIZER: &str = "prism.io/namespace-revoke";

/// The four CustomResourceDefinitions, in a stable order (stack, pattern, backend, namespace).
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        v1alpha1::PrismStack::crd(),
        v1alpha1::PrismPattern::crd(),
        v1alpha1::PrismBackend::crd(),
        v1alpha1::PrismNamespace::crd(),
    ]
}

#[cfg(test)]
mod tests {
    /// What `kubectl apply` (client side) stores in one annotation, and the API server's limit
    /// for all annotations of an object.
    const ANNOTATION_LIMIT: usize = 262_144;

    #[test]
    fn every_crd_fits_kubectl_apply_with_room_to_grow() {
        for crd in super::crds() {
            let size = serde_json::to_string(&crd).expect("json").len();
            let name = crd.metadata.name.unwrap_or_default();
            assert!(
                size * 2 < ANNOTATION_LIMIT,
                "{name} is {size} bytes as JSON: `kubectl apply -f` keeps a copy in an annotation of at most {ANNOTATION_LIMIT}"
            );
        }
    }
}
