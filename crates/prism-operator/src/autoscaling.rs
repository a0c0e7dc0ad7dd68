//! Autoscaling: resolves an [`AutoscalingSpec`] into the autoscaler to run, and builds its object
//! (an autoscaling/v2 HorizontalPodAutoscaler or a KEDA ScaledObject) for a Deployment.
//!
//! Pure; shared by every component that can autoscale (pattern runners, the stack's proxy).

use std::collections::BTreeMap;

use k8s_openapi::{
    api::autoscaling::v2::{
        CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
        HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::api::DynamicObject;
use prism_api::v1alpha1::{AutoscalingSpec, KedaTrigger, Scaler};
use serde_json::json;

use crate::{canonical, keda};

/// The autoscaler a component should have.
#[derive(Clone, Debug, PartialEq)]
pub enum Autoscaler {
    /// None: the operator enforces the fixed replica count.
    None,
    /// A HorizontalPodAutoscaler.
    Hpa(Hpa),
    /// A KEDA ScaledObject.
    Keda(Keda),
}

/// What the HPA needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Hpa {
    /// minReplicas.
    pub min: i32,
    /// maxReplicas.
    pub max: i32,
    /// CPU and memory targets first, then the custom metrics, quantities canonical.
    pub metrics: Vec<MetricSpec>,
    /// Scaling behavior as given.
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
}

/// What the ScaledObject needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Keda {
    /// minReplicaCount.
    pub min: i32,
    /// maxReplicaCount.
    pub max: i32,
    /// pollingInterval in seconds.
    pub polling_interval: i32,
    /// cooldownPeriod in seconds.
    pub cooldown_period: i32,
    /// Behavior of the HPA KEDA creates.
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
    /// Triggers as given.
    pub triggers: Vec<KedaTrigger>,
}

impl Autoscaler {
    /// Resolves the spec, applying the documented defaults.
    pub fn resolve(spec: Option<&AutoscalingSpec>) -> Self {
        let Some(spec) = spec else { return Self::None };
        let min = spec.min_replicas.unwrap_or(AutoscalingSpec::DEFAULT_MIN_REPLICAS);
        // The schema requires maxReplicas when enabled; never let max fall below min.
        let max = spec.max_replicas.unwrap_or(min).max(min).max(1);
        match spec.active_scaler() {
            None => Self::None,
            Some(Scaler::Hpa) => {
                let mut metrics = Vec::new();
                for (resource, target) in [
                    ("cpu", spec.target_cpu_utilization_percentage),
                    ("memory", spec.target_memory_utilization_percentage),
                ] {
                    if let Some(utilization) = target {
                        metrics.push(resource_metric(resource, utilization));
                    }
                }
                metrics.extend(spec.metrics.iter().flatten().map(canonical_metric));
                Self::Hpa(Hpa { min: min.max(1), max, metrics, behavior: spec.behavior.clone() })
            }
            Some(Scaler::Keda) => Self::Keda(Keda {
                min,
                max,
                polling_interval: spec.polling_interval.unwrap_or(AutoscalingSpec::DEFAULT_POLLING_INTERVAL),
                cooldown_period: spec.cooldown_period.unwrap_or(AutoscalingSpec::DEFAULT_COOLDOWN_PERIOD),
                behavior: spec.behavior.clone(),
                triggers: spec.triggers.clone().unwrap_or_default(),
            }),
        }
    }

    /// Whether an autoscaler owns the replica count.
    pub fn is_active(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// The replica bounds, when autoscaled.
    pub fn bounds(&self) -> Option<(i32, i32)> {
        match self {
            Self::None => None,
            Self::Hpa(h) => Some((h.min, h.max)),
            Self::Keda(k) => Some((k.min, k.max)),
        }
    }
}

/// Metadata shared by a component's autoscaler object.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// Name of the autoscaler object and of the Deployment it scales.
    pub name: &'a str,
    /// Namespace.
    pub namespace: &'a str,
    /// Labels of the autoscaler object.
    pub labels: &'a BTreeMap<String, String>,
    /// Controller owner reference.
    pub owner: &'a OwnerReference,
}

impl Target<'_> {
    fn metadata(&self) -> ObjectMeta {
        ObjectMeta {
            name: Some(self.name.to_owned()),
            namespace: Some(self.namespace.to_owned()),
            labels: Some(self.labels.clone()),
            owner_references: Some(vec![self.owner.clone()]),
            ..Default::default()
        }
    }
}

/// The HorizontalPodAutoscaler scaling the Deployment `target.name`.
pub fn build_hpa(target: &Target<'_>, hpa: &Hpa) -> HorizontalPodAutoscaler {
    HorizontalPodAutoscaler {
        metadata: target.metadata(),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name: target.name.to_owned(),
            },
            min_replicas: Some(hpa.min),
            max_replicas: hpa.max,
            metrics: Some(hpa.metrics.clone()).filter(|m| !m.is_empty()),
            behavior: hpa.behavior.clone(),
        }),
        status: None,
    }
}

/// The KEDA ScaledObject scaling the Deployment `target.name`.
pub fn build_scaled_object(target: &Target<'_>, k: &Keda) -> DynamicObject {
    let mut spec = json!({
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target.name},
        "pollingInterval": k.polling_interval,
        "cooldownPeriod": k.cooldown_period,
        "minReplicaCount": k.min,
        "maxReplicaCount": k.max,
        "triggers": k.triggers,
    });
    if let Some(behavior) = &k.behavior {
        spec["advanced"] = json!({"horizontalPodAutoscalerConfig": {"behavior": behavior}});
    }
    let mut obj = DynamicObject::new(target.name, &keda::scaled_object_resource()).within(target.namespace);
    obj.metadata = target.metadata();
    obj.data = json!({ "spec": spec });
    obj
}

fn resource_metric(resource: &str, utilization: i32) -> MetricSpec {
    MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(utilization),
                ..Default::default()
            },
        }),
        ..Default::default()
    }
}

/// A metric with its target quantities in canonical form.
fn canonical_metric(metric: &MetricSpec) -> MetricSpec {
    let mut metric = metric.clone();
    let targets = [
        metric.pods.as_mut().map(|m| &mut m.target),
        metric.object.as_mut().map(|m| &mut m.target),
        metric.external.as_mut().map(|m| &mut m.target),
        metric.resource.as_mut().map(|m| &mut m.target),
        metric.container_resource.as_mut().map(|m| &mut m.target),
    ];
    for target in targets.into_iter().flatten() {
        for q in [target.average_value.as_mut(), target.value.as_mut()].into_iter().flatten() {
            *q = canonical::quantity(q);
        }
    }
    metric
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn spec(v: Value) -> AutoscalingSpec {
        serde_json::from_value(v).expect("autoscaling spec")
    }

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "prism.io/v1alpha1".into(),
            kind: "PrismPattern".into(),
            name: "p".into(),
            uid: "u".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    #[test]
    fn disabled_or_absent_means_no_autoscaler() {
        assert_eq!(Autoscaler::resolve(None), Autoscaler::None);
        let s =
            spec(json!({"enabled": false, "scaler": "hpa", "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}));
        assert_eq!(Autoscaler::resolve(Some(&s)), Autoscaler::None);
    }

    #[test]
    fn hpa_targets_and_custom_metrics_in_order() {
        let s = spec(json!({"enabled": true, "minReplicas": 3, "maxReplicas": 20,
            "targetCPUUtilizationPercentage": 75, "targetMemoryUtilizationPercentage": 80,
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "1000"}}}]}));
        let Autoscaler::Hpa(h) = Autoscaler::resolve(Some(&s)) else { panic!("hpa expected") };
        assert_eq!((h.min, h.max), (3, 20));
        let names: Vec<String> =
            h.metrics.iter().map(|m| m.resource.as_ref().map_or_else(|| m.type_.clone(), |r| r.name.clone())).collect();
        assert_eq!(names, ["cpu", "memory", "Pods"]);
        let pods_target = &h.metrics[2].pods.as_ref().expect("pods").target;
        assert_eq!(pods_target.average_value.as_ref().expect("value").0, "1k", "canonical quantity");
    }

    #[test]
    fn keda_defaults_and_object_shape() {
        let s = spec(json!({"enabled": true, "scaler": "keda", "minReplicas": 1, "maxReplicas": 50,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            "triggers": [{"type": "kafka", "metadata": {"topic": "orders", "lagThreshold": "1000"},
                "authenticationRef": {"name": "kafka-auth"}}]}));
        let Autoscaler::Keda(k) = Autoscaler::resolve(Some(&s)) else { panic!("keda expected") };
        assert_eq!((k.polling_interval, k.cooldown_period), (10, 300));
        let labels = BTreeMap::new();
        let owner = owner();
        let target = Target { name: "orders", namespace: "ns", labels: &labels, owner: &owner };
        let so = build_scaled_object(&target, &k);
        let spec = &so.data["spec"];
        assert_eq!(spec["scaleTargetRef"]["name"], "orders");
        assert_eq!(spec["minReplicaCount"], 1);
        assert_eq!(spec["maxReplicaCount"], 50);
        assert_eq!(spec["triggers"][0]["authenticationRef"]["name"], "kafka-auth");
        assert_eq!(spec["triggers"][0]["metadata"]["lagThreshold"], "1000");
        assert_eq!(
            spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"],
            60
        );
        assert_eq!(spec["triggers"][0]["type"], "kafka");
    }

    #[test]
    fn hpa_object_targets_the_deployment() {
        let s = spec(json!({"enabled": true, "scaler": "hpa", "minReplicas": 2, "maxReplicas": 20,
            "targetCPUUtilizationPercentage": 75,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}, "scaleUp": {"stabilizationWindowSeconds": 0}}}));
        let Autoscaler::Hpa(h) = Autoscaler::resolve(Some(&s)) else { panic!("hpa expected") };
        let labels = BTreeMap::new();
        let owner = owner();
        let hpa = build_hpa(&Target { name: "producer", namespace: "ns", labels: &labels, owner: &owner }, &h);
        let spec = hpa.spec.expect("spec");
        assert_eq!(spec.scale_target_ref.name, "producer");
        assert_eq!(spec.scale_target_ref.kind, "Deployment");
        assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 20));
        let behavior = spec.behavior.expect("behavior");
        assert_eq!(behavior.scale_down.expect("down").stabilization_window_seconds, Some(300));
        assert_eq!(behavior.scale_up.expect("up").stabilization_window_seconds, Some(0));
    }
}
