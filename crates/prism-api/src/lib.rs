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

pub mod v1alpha1;

/// Schema transform for fields holding embedded Kubernetes types (Affinity, Tolerations,
/// ResourceRequirements, HPA metrics and behavior, ...): the field keeps its own description,
/// the type's nested field descriptions are dropped. They are Kubernetes' own, documented by
/// `kubectl explain pod.spec.affinity` and the like, and repeating them in every component made
/// the PrismStack CRD larger than the 256 KiB that `kubectl apply` can keep in its
/// last-applied annotation.
///
/// It also adds what the API server checks of these types only when it validates the child they
/// end up in (see [`constrain`]), so that a bad value is refused at admission, naming the field,
/// instead of failing the child later.
pub fn upstream_type(schema: &mut schemars::Schema) {
    if let Some(object) = schema.as_object_mut() {
        for (key, value) in object.iter_mut() {
            if key != "description" {
                strip_descriptions(value, key == "properties");
            }
        }
    }
    if let Some(object) = schema.as_object_mut() {
        constrain(object, &mut Vec::new());
    }
}

/// The embedded types' own rules that their OpenAPI schemas leave out, by the type's shape and
/// the path to it (property names, `[]` for items):
///
/// - Toleration: `effect` is `NoSchedule`, `PreferNoSchedule`, `NoExecute` or empty; `operator`
///   `Exists`, `Equal` or empty.
/// - TopologySpreadConstraint: `maxSkew` and `minDomains` at least 1; `whenUnsatisfiable`
///   `DoNotSchedule` or `ScheduleAnyway`; `nodeAffinityPolicy`/`nodeTaintsPolicy` `Honor` or
///   `Ignore`; a non-empty `topologyKey`.
/// - Selector requirements: `operator` `In`, `NotIn`, `Exists`, `DoesNotExist`, and for node
///   selectors (under `nodeSelectorTerms` or `preference`) also `Gt`, `Lt`.
/// - Weighted affinity terms: `weight` from 1 to 100; pod affinity terms: a non-empty
///   `topologyKey`.
pub fn constrain(map: &mut serde_json::Map<String, serde_json::Value>, path: &mut Vec<String>) {
    use serde_json::{Value, json};
    fn set(props: &mut serde_json::Map<String, Value>, field: &str, rule: Value) {
        if let (Some(Value::Object(schema)), Value::Object(rule)) = (props.get_mut(field), rule) {
            schema.extend(rule);
        }
    }
    if let Some(Value::Object(props)) = map.get_mut("properties") {
        let has = |props: &serde_json::Map<String, Value>, names: &[&str]| names.iter().all(|n| props.contains_key(*n));
        if has(props, &["effect", "operator", "tolerationSeconds"]) {
            set(props, "effect", json!({"enum": ["", "NoSchedule", "PreferNoSchedule", "NoExecute"]}));
            set(props, "operator", json!({"enum": ["", "Exists", "Equal"]}));
        }
        let spread = has(props, &["maxSkew", "topologyKey", "whenUnsatisfiable"]);
        if spread {
            set(props, "maxSkew", json!({"minimum": 1}));
            set(props, "minDomains", json!({"minimum": 1}));
            set(props, "whenUnsatisfiable", json!({"enum": ["DoNotSchedule", "ScheduleAnyway"]}));
            set(props, "nodeAffinityPolicy", json!({"enum": ["Honor", "Ignore"]}));
            set(props, "nodeTaintsPolicy", json!({"enum": ["Honor", "Ignore"]}));
            set(props, "topologyKey", json!({"minLength": 1}));
        }
        if has(props, &["key", "operator", "values"]) {
            let node = path.iter().any(|p| p == "nodeSelectorTerms" || p == "preference");
            let operators: &[&str] = if node {
                &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]
            } else {
                &["In", "NotIn", "Exists", "DoesNotExist"]
            };
            set(props, "operator", json!({"enum": operators}));
        }
        if has(props, &["weight"]) && (props.contains_key("podAffinityTerm") || props.contains_key("preference")) {
            set(props, "weight", json!({"minimum": 1, "maximum": 100}));
        }
        if has(props, &["topologyKey", "labelSelector"]) && !spread {
            set(props, "topologyKey", json!({"minLength": 1}));
        }
        for (name, child) in props.iter_mut() {
            if let Value::Object(child) = child {
                path.push(name.clone());
                constrain(child, path);
                path.pop();
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(Value::Object(child)) = map.get_mut(key) {
            path.push("[]".to_owned());
            constrain(child, path);
            path.pop();
        }
    }
}

/// Removes every `description` below `value`; `names` says `value` maps property names to
/// schemas (where a key called `description` is a property, not a description).
fn strip_descriptions(value: &mut serde_json::Value, names: bool) {
    match value {
        serde_json::Value::Object(map) => {
            if !names {
                map.remove("description");
            }
            for (key, child) in map.iter_mut() {
                strip_descriptions(child, !names && key == "properties");
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| strip_descriptions(v, false)),
        _ => {}
    }
}

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

    #[test]
    fn embedded_kubernetes_types_keep_only_their_own_description() {
        let crd =
            serde_json::to_value(<crate::v1alpha1::PrismPattern as kube::CustomResourceExt>::crd()).expect("json");
        let placement =
            &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["placement"];
        let affinity = &placement["properties"]["affinity"];
        assert!(affinity["description"].as_str().is_some_and(|d| !d.is_empty()), "our description stays");
        assert!(affinity["properties"]["nodeAffinity"].get("description").is_none(), "upstream ones go");
        assert!(placement["properties"]["strategy"]["description"].is_string(), "our own fields keep theirs");
    }
}
