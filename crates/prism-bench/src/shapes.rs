//! The objects the bench creates: the benchmark PrismPattern (HPA-autoscaled, with a Service),
//! the children the operator makes of it (built with the operator's own validate and build steps,
//! so the floor creates exactly the same objects), and unrelated Deployments of the same size.

use std::collections::BTreeMap;

use anyhow::Context as _;
use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{Resource, ResourceExt};
use prism_api::v1alpha1::PrismPattern;
use prism_operator::{canonical, config::Defaults, naming};
use serde_json::{Value, json};

/// Name of the i-th benchmark PrismPattern of a batch.
pub fn pattern_name(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i:05}")
}

/// The benchmark PrismPattern: a keyvalue runner on memstore with a config entry, resources, a
/// ClusterIP Service and an HPA (1 to 4 replicas on CPU), so each one has three children and one
/// pod.
pub fn pattern(name: &str) -> anyhow::Result<PrismPattern> {
    let doc = json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
        "spec": {
            "pattern": "keyvalue", "backend": "memstore",
            "config": {"maxKeys": 10000, "ttl": "1h"},
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
            "service": {"port": 8080},
            "autoscaling": {"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 4,
                "targetCPUUtilizationPercentage": 70}
        }
    });
    serde_json::from_value(doc).context("benchmark PrismPattern")
}

/// Whether a benchmark PrismPattern's runners are up: `Ready=True` (every desired replica
/// available). The bench's control plane runs no metrics-server, so the HPA never reads a metric
/// and the phase stays `Degraded` (`AutoscalingReady=False`, `FailedGetResourceMetric`) even when
/// every runner is Running.
pub fn runners_ready(p: &PrismPattern) -> bool {
    p.status.as_ref().is_some_and(|s| s.conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The three children of one pattern, each carrying the operator's applied-hash annotation.
#[derive(Clone, Debug)]
pub struct Children {
    pub deployment: Deployment,
    pub service: Service,
    pub hpa: HorizontalPodAutoscaler,
}

impl Children {
    /// The children as JSON, in the order Deployment, Service, HPA.
    pub fn to_json(&self) -> anyhow::Result<[Value; 3]> {
        Ok([
            serde_json::to_value(&self.deployment)?,
            serde_json::to_value(&self.service)?,
            serde_json::to_value(&self.hpa)?,
        ])
    }
}

/// Builds what the operator builds for `p` (as created: it needs the uid) in namespace `ns`, with
/// the operator's own validate and build steps (no backendConfig; KEDA not needed), then the hash
/// annotation its `apply` adds.
pub fn children(p: &PrismPattern, ns: &str) -> anyhow::Result<Children> {
    use prism_operator::controller::pattern::{build, validate};
    let owner = p.controller_owner_ref(&()).context("a PrismPattern without a uid owns nothing")?;
    let resolved = validate::Resolved {
        backend: validate::BackendConfig::None,
        keda: prism_operator::autoscaling::KedaRefs::unchecked(false),
    };
    let v = validate::validate(p, ns, owner, &resolved, &Defaults::default())
        .map_err(|e| anyhow::anyhow!("the bench pattern is invalid: {}", e.message))?;
    let c = build::build(&v);
    Ok(Children {
        deployment: hashed(c.deployment)?,
        service: hashed(c.service.context("the bench pattern has a Service")?)?,
        hpa: hashed(c.hpa.context("the bench pattern has an HPA")?)?,
    })
}

/// Adds the annotation the operator's `apply` puts on every child it writes.
fn hashed<K: Resource + serde::Serialize>(mut obj: K) -> anyhow::Result<K> {
    let digest = canonical::hash(&obj)?;
    obj.annotations_mut().insert(naming::APPLIED_HASH_ANNOTATION.to_owned(), digest);
    Ok(obj)
}

/// Whether a live child holds every field of the desired one (the operator's own comparison).
pub fn matches(live: &Value, desired: &Value) -> bool {
    canonical::contains(live, desired)
}

/// An unrelated Deployment in `ns`: the size and shape of a runner Deployment, but with no Prism
/// label, no owner, and 0 replicas (so it costs the cluster no pods).
pub fn unrelated_deployment(template: &Deployment, ns: &str, i: usize) -> Deployment {
    let name = format!("unrelated-{i:05}");
    let labels = BTreeMap::from([("app".to_owned(), name.clone())]);
    let mut d = template.clone();
    d.metadata = kube::api::ObjectMeta {
        name: Some(name),
        namespace: Some(ns.to_owned()),
        labels: Some(labels.clone()),
        ..Default::default()
    };
    if let Some(spec) = d.spec.as_mut() {
        spec.replicas = Some(0);
        spec.selector.match_labels = Some(labels.clone());
        if let Some(meta) = spec.template.metadata.as_mut() {
            meta.labels = Some(labels);
        }
    }
    d
}

/// A short description of the first difference between `live` and `desired` (for reports when
/// the operator's children never match): a field other than the applied hash if any differs,
/// else the hash.
pub fn first_difference(live: &Value, desired: &Value, path: &str) -> Option<String> {
    let mut unhashed = desired.clone();
    if let Some(annotations) = unhashed.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(naming::APPLIED_HASH_ANNOTATION);
    }
    difference(live, &unhashed, path).or_else(|| difference(live, desired, path))
}

fn difference(live: &Value, desired: &Value, path: &str) -> Option<String> {
    match (live, desired) {
        (Value::Object(a), Value::Object(d)) => d.iter().find_map(|(k, dv)| match a.get(k) {
            None if !dv.is_null() => Some(format!("{path}.{k}: missing, want {dv}")),
            Some(av) if !canonical::contains(av, dv) => difference(av, dv, &format!("{path}.{k}")),
            _ => None,
        }),
        _ => (!canonical::contains(live, desired)).then(|| format!("{path}: have {live}, want {desired}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn children_have_the_operator_shapes() {
        let mut p = pattern("bench-00001").unwrap();
        p.metadata.uid = Some("uid-1".to_owned());
        let c = children(&p, "ns").unwrap();
        let [d, s, h] = c.to_json().unwrap();
        assert!(d["spec"].get("replicas").is_none(), "the HPA owns replicas");
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"], "PRISM_CONFIG_MAXKEYS");
        assert_eq!(s["spec"]["ports"][0]["port"], 8080);
        assert_eq!((h["spec"]["minReplicas"].clone(), h["spec"]["maxReplicas"].clone()), (json!(1), json!(4)));
        for obj in [&d, &s, &h] {
            assert!(obj["metadata"]["annotations"][naming::APPLIED_HASH_ANNOTATION].is_string());
            assert_eq!(obj["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        }
        assert!(matches(&d, &d));
        let u = serde_json::to_value(unrelated_deployment(&c.deployment, "other", 3)).unwrap();
        assert_eq!(u["metadata"]["labels"], json!({"app": "unrelated-00003"}));
        assert!(u["metadata"].get("ownerReferences").is_none());
    }
}
