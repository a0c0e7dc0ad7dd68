//! Pure: the validated pattern -> every child object the operator wants for it.

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::api::DynamicObject;

use super::validate::ValidatedPattern;
use crate::{
    autoscaling::{self, Target},
    workload,
};

/// The children of one PrismPattern. A `None` child must not exist (it is swept).
#[derive(Clone, Debug)]
pub struct Children {
    /// The runner Deployment.
    pub deployment: Deployment,
    /// The Service, when `spec.service` is set.
    pub service: Option<Service>,
    /// The HPA, with scaler hpa.
    pub hpa: Option<HorizontalPodAutoscaler>,
    /// The ScaledObject, with scaler keda and KEDA installed.
    pub scaled_object: Option<DynamicObject>,
}

/// Builds the children of a validated pattern.
pub fn build(v: &ValidatedPattern) -> Children {
    let w = &v.workload;
    let target = Target { name: &w.name, namespace: &w.namespace, labels: &w.labels, owner: &w.owner };
    Children {
        deployment: workload::build_deployment(w),
        service: v.exposure.as_ref().map(|e| workload::build_service(w, e)),
        hpa: v.scaling.hpa().map(|h| autoscaling::build_hpa(&target, h)),
        scaled_object: v.scaling.keda().map(|k| autoscaling::build_scaled_object(&target, k)),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use prism_api::v1alpha1::PrismPattern;
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        autoscaling::KedaRefs,
        config::Defaults,
        controller::pattern::validate::{self, BackendConfig, Resolved},
    };

    fn sample(yaml: &str) -> PrismPattern {
        serde_saphyr::from_str(yaml).expect("sample parses")
    }

    fn children(p: &PrismPattern, keda_installed: bool) -> Children {
        let owner = OwnerReference {
            api_version: "prism.io/v1alpha1".into(),
            kind: "PrismPattern".into(),
            name: p.metadata.name.clone().expect("name"),
            uid: "uid".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        let resolved = Resolved { backend: BackendConfig::None, keda: KedaRefs::unchecked(keda_installed) };
        build(&validate::validate(p, "ns", owner, &resolved, &Defaults::default()).expect("valid"))
    }

    fn to_json<T: serde::Serialize>(v: &T) -> Value {
        serde_json::to_value(v).expect("json")
    }

    #[test]
    fn readme_hpa_example() {
        let p = sample(include_str!("../../../../../config/samples/prismpattern_hpa_example.yaml"));
        let c = children(&p, true);
        let d = to_json(&c.deployment);
        assert!(d["spec"].get("replicas").is_none(), "HPA owns replicas");
        assert_eq!(
            d["spec"]["selector"]["matchLabels"],
            json!({"app": "prism", "prism.io/pattern-instance": "producer-kafka-events"})
        );
        let container = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["name"], "producer-runner");
        assert_eq!(container["image"], "ghcr.io/prism/producer-runner:latest");
        let hpa = to_json(&c.hpa.expect("hpa"));
        assert_eq!(hpa["spec"]["minReplicas"], 2);
        assert_eq!(hpa["spec"]["maxReplicas"], 20);
        assert!(c.scaled_object.is_none());
        assert_eq!(container["resources"]["requests"]["cpu"], "500m", "the HPA's utilization is a share of it");
        let svc = to_json(&c.service.expect("the load generator's target"));
        assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    }

    #[test]
    fn utilization_target_without_request_runs_fixed_replicas_without_hpa() {
        let mut p = sample(include_str!("../../../../../config/samples/prismpattern_hpa_example.yaml"));
        p.spec.resources = None;
        let c = children(&p, true);
        assert!(c.hpa.is_none(), "an HPA that can never compute CPU utilization is not created");
        assert_eq!(to_json(&c.deployment)["spec"]["replicas"], 2, "spec.replicas within the bounds");
    }

    #[test]
    fn keda_example_without_keda_runs_fixed_replicas() {
        let p = sample(include_str!("../../../../../config/samples/prismpattern_keda_kafka_example.yaml"));
        let c = children(&p, false);
        assert!(c.scaled_object.is_none() && c.hpa.is_none());
        assert_eq!(to_json(&c.deployment)["spec"]["replicas"], 1);
        let c = children(&p, true);
        assert!(to_json(&c.deployment)["spec"].get("replicas").is_none());
        let so = c.scaled_object.expect("scaled object");
        assert_eq!(so.data["spec"]["triggers"][0]["metadata"]["lagThreshold"], "1000");
    }

    #[test]
    fn production_example_keeps_placement_and_canonical_resources() {
        let p = sample(include_str!("../../../../../config/samples/prismpattern_production_example.yaml"));
        let d = to_json(&children(&p, true).deployment);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["nodeSelector"], json!({"workload": "data-intensive"}));
        assert_eq!(pod["containers"][0]["resources"]["limits"], json!({"cpu": "8", "memory": "16Gi"}));
        assert_eq!(pod["containers"][0]["image"], "ghcr.io/prism/consumer-runner:latest", "default image");
    }

    #[test]
    fn config_becomes_environment() {
        let p = sample(include_str!("../../../../../config/samples/prismpattern_keyvalue_memstore.yaml"));
        let c = children(&p, true);
        let env = to_json(&c.deployment)["spec"]["template"]["spec"]["containers"][0]["env"].clone();
        assert_eq!(
            env,
            json!([{"name": "PRISM_CONFIG_MAXKEYS", "value": "10000"}, {"name": "PRISM_CONFIG_TTL", "value": "1h"}])
        );
        let svc = to_json(&c.service.expect("service"));
        assert_eq!(svc["spec"]["type"], "ClusterIP");
        assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    }
}
