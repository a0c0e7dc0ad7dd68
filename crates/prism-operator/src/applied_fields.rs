//! A digest of the fields the operator applied to a child, computed from the child itself, so the
//! caches can drop a child's body and still say whether it holds what the operator wants.
//!
//! Server-side apply records, in the object's `managedFields`, exactly which fields each manager
//! set (`fieldsV1`). The operator's entry lists the fields of its last apply that nobody has
//! since taken over or removed: a `kubectl edit` of one of them moves it to kubectl's entry, a
//! deletion drops it. So the live object cut down to that entry ([`project`]) equals what the
//! operator applied, until someone changes one of those fields; defaults the API server added and
//! fields other controllers own are not in it. [`of_live`] digests that cut, [`of_desired`] the
//! desired object the same way: equal digests mean the child holds everything wanted.
//!
//! Pure: no I/O.

use serde_json::{Map, Value};

/// The digest of the fields `manager` applied to `live` (the object as JSON, `managedFields`
/// included), or `None` when it has no such entry (someone else's object, or one the manager
/// never applied): then only a comparison with the whole body can tell.
pub fn of_live(live: &Value, manager: &str) -> Option<String> {
    let fields = live["metadata"]["managedFields"].as_array()?.iter().find(|entry| {
        entry["manager"] == manager
            && entry["operation"] == "Apply"
            && entry.get("subresource").and_then(Value::as_str).is_none_or(str::is_empty)
    })?;
    let set = fields.get("fieldsV1")?.as_object()?;
    digest(&project(live, set))
}

/// The digest of `desired` (as JSON) comparable with [`of_live`]: what an apply of it records.
pub fn of_desired(desired: &Value) -> Option<String> {
    digest(desired)
}

/// `value` cut down to the fields of the `fieldsV1` set `set`: `f:<name>` selects a field,
/// `k:<key>` the list elements whose fields equal the key's, `v:<value>` the list elements equal
/// to it; an empty set (a leaf, or an atomic value owned whole) selects all of `value`. List
/// elements keep their live order.
pub fn project(value: &Value, set: &Map<String, Value>) -> Value {
    let members = || set.iter().filter(|(k, _)| k.as_str() != ".");
    if members().next().is_none() {
        return value.clone();
    }
    let subset = |sub: &Value| sub.as_object().cloned().unwrap_or_default();
    match value {
        Value::Object(fields) => Value::Object(
            members()
                .filter_map(|(k, sub)| {
                    let name = k.strip_prefix("f:")?;
                    fields.get(name).map(|v| (name.to_owned(), project(v, &subset(sub))))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter_map(|item| {
                    members().find_map(|(k, sub)| element_matches(item, k).then(|| project(item, &subset(sub))))
                })
                .collect(),
        ),
        scalar => scalar.clone(),
    }
}

/// Whether list element `item` is the one the `fieldsV1` member `member` names.
fn element_matches(item: &Value, member: &str) -> bool {
    let parse = |s: &str| serde_json::from_str::<Value>(s).ok();
    if let Some(key) = member.strip_prefix("k:").and_then(parse) {
        return key.as_object().is_some_and(|key| key.iter().all(|(f, v)| item.get(f) == Some(v)));
    }
    member.strip_prefix("v:").and_then(parse).is_some_and(|v| *item == v)
}

/// The digest of `value` without what an apply does not record (the object's identity: apiVersion,
/// kind, name, namespace; its status) and without empty values (`null`, `{}`, `[]`: the API server
/// drops them, so they are absent from the live object either way).
fn digest(value: &Value) -> Option<String> {
    let mut value = value.clone();
    if let Some(obj) = value.as_object_mut() {
        for key in ["apiVersion", "kind", "status"] {
            obj.remove(key);
        }
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in ["name", "namespace", "managedFields"] {
                meta.remove(key);
            }
        }
    }
    crate::canonical::hash(&without_empty(&value).unwrap_or(Value::Null)).ok()
}

fn without_empty(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let kept: Map<String, Value> =
                map.iter().filter_map(|(k, v)| without_empty(v).map(|v| (k.clone(), v))).collect();
            (!kept.is_empty()).then_some(Value::Object(kept))
        }
        Value::Array(items) => (!items.is_empty())
            .then(|| Value::Array(items.iter().map(|v| without_empty(v).unwrap_or_default()).collect())),
        scalar => Some(scalar.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ME: &str = "prism-operator";

    /// What the operator applies, and the object the API server then stores: defaults added, a
    /// label and an annotation of another controller, a second container someone else added.
    fn applied() -> (Value, Value) {
        let desired = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "kv", "namespace": "ns", "labels": {"app": "kv"},
                "annotations": {"prism.io/applied-hash": "abc"},
                "ownerReferences": [{"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "name": "kv",
                    "uid": "u1", "controller": true}]},
            "spec": {"selector": {"matchLabels": {"app": "kv"}}, "template": {
                "metadata": {"labels": {"app": "kv"}},
                "spec": {"containers": [{"name": "runner", "image": "img:1", "args": ["--a", "--b"],
                    "ports": [{"containerPort": 8080, "name": "grpc"}],
                    "resources": {"requests": {"cpu": "100m"}}, "env": []}]}}}
        });
        let live = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "kv", "namespace": "ns", "uid": "d1", "resourceVersion": "7", "generation": 1,
                "labels": {"app": "kv", "other": "x"},
                "annotations": {"prism.io/applied-hash": "abc", "deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "name": "kv",
                    "uid": "u1", "controller": true}],
                "managedFields": [
                    {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                        "fieldsV1": {"f:status": {"f:replicas": {}}}},
                    {"manager": ME, "operation": "Apply", "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {"f:prism.io/applied-hash": {}},
                            "f:ownerReferences": {"k:{\"uid\":\"u1\"}": {".": {}, "f:apiVersion": {}, "f:kind": {},
                                "f:name": {}, "f:uid": {}, "f:controller": {}}}},
                        "f:spec": {"f:selector": {}, "f:template": {"f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {"f:containers": {"k:{\"name\":\"runner\"}": {".": {}, "f:name": {},
                                "f:image": {}, "f:args": {},
                                "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {},
                                    "f:containerPort": {}, "f:name": {}}},
                                "f:resources": {"f:requests": {"f:cpu": {}}}}}}}}}}
                ]},
            "spec": {"replicas": 1, "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": "kv"}},
                "template": {"metadata": {"labels": {"app": "kv"}}, "spec": {
                    "dnsPolicy": "ClusterFirst",
                    "containers": [
                        {"name": "sidecar", "image": "other:1"},
                        {"name": "runner", "image": "img:1", "args": ["--a", "--b"],
                            "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                            "ports": [{"containerPort": 8080, "name": "grpc", "protocol": "TCP"}],
                            "resources": {"requests": {"cpu": "100m"}}}]}}},
            "status": {"replicas": 1}
        });
        (desired, live)
    }

    #[test]
    fn an_untouched_child_digests_like_what_was_applied() {
        let (desired, live) = applied();
        let have = of_live(&live, ME).expect("the operator's entry");
        assert_eq!(Some(have), of_desired(&desired));
    }

    #[test]
    fn a_changed_or_removed_field_changes_the_digest() {
        let (desired, live) = applied();
        let want = of_desired(&desired);
        // Another manager's edit of the image: the value changed (and its field left our entry).
        let mut edited = live.clone();
        edited["spec"]["template"]["spec"]["containers"][1]["image"] = json!("img:2");
        assert_ne!(of_live(&edited, ME), want);
        // Our label removed by someone else.
        let mut unlabeled = live.clone();
        unlabeled["metadata"]["labels"].as_object_mut().expect("labels").remove("app");
        assert_ne!(of_live(&unlabeled, ME), want);
        // An argument reordered inside an atomic list.
        let mut reordered = live;
        reordered["spec"]["template"]["spec"]["containers"][1]["args"] = json!(["--b", "--a"]);
        assert_ne!(of_live(&reordered, ME), want);
    }

    #[test]
    fn a_desired_change_changes_the_digest() {
        let (mut desired, live) = applied();
        desired["metadata"]["annotations"]["prism.io/applied-hash"] = json!("def");
        assert_ne!(of_live(&live, ME), of_desired(&desired));
    }

    #[test]
    fn without_the_managers_apply_entry_there_is_no_digest() {
        let (_, mut live) = applied();
        assert_eq!(of_live(&live, "someone-else"), None);
        live["metadata"]["managedFields"][1]["operation"] = json!("Update");
        assert_eq!(of_live(&live, ME), None);
    }

    #[test]
    fn set_elements_are_selected_by_value() {
        let set = json!({"f:finalizers": {"v:\"a\"": {}}});
        let value = json!({"finalizers": ["b", "a"]});
        assert_eq!(project(&value, set.as_object().expect("set")), json!({"finalizers": ["a"]}));
    }
}
