//! The autoscaler objects: the HorizontalPodAutoscaler builder and the KEDA ScaledObject builder.

use std::collections::BTreeMap;

use k8s_openapi::{
    api::autoscaling::v2::{CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec},
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::api::DynamicObject;
use serde_json::json;

use super::{Hpa, Keda};
use crate::keda;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autoscaling::{Autoscaler, tests_support::spec};

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
    fn keda_defaults_and_object_shape() {
        let s = spec(json!({"enabled": true, "scaler": "keda", "minReplicas": 1, "maxReplicas": 50,
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60}},
            "triggers": [{"type": "kafka", "metadata": {"topic": "orders", "lagThreshold": "1000"},
                "authenticationRef": {"name": "kafka-auth"}}]}));
        let Autoscaler::Keda(k) = Autoscaler::from_spec(Some(&s)) else { panic!("keda expected") };
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
        let Autoscaler::Hpa(h) = Autoscaler::from_spec(Some(&s)) else { panic!("hpa expected") };
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
