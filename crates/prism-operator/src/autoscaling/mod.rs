//! Autoscaling: resolves an [`AutoscalingSpec`] into the autoscaler to run ([`Scaling::plan`]),
//! builds its object (an autoscaling/v2 HorizontalPodAutoscaler or a KEDA ScaledObject) for a
//! Deployment, and reads the live autoscaler's conditions back into the `AutoscalingReady`
//! condition ([`readiness`]).
//!
//! Pure; shared by every component that can autoscale (pattern runners, the stack's proxy).

mod triggers;

pub use triggers::{Authentications, KedaRefs, TriggerBackend, provider_for, referenced};

use std::collections::BTreeMap;

use k8s_openapi::{
    api::{
        autoscaling::v2::{
            CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerBehavior,
            HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget, ResourceMetricSource,
        },
        core::v1::ResourceRequirements,
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};
use kube::api::DynamicObject;
use prism_api::v1alpha1::{AutoscalingSpec, KedaTrigger, Scaler};
use serde_json::json;

use crate::{canonical, conditions::Desired, keda};

/// Condition type: the autoscaler exists and is scaling (or none is wanted).
pub const AUTOSCALING_READY: &str = "AutoscalingReady";
/// `AutoscalingReady=False` reasons that are ordinary progress (a new autoscaler that has not
/// evaluated its metrics yet), not a problem worth an Event.
pub const PENDING_REASONS: [&str; 3] =
    [REASON_HPA_PENDING, REASON_SCALED_OBJECT_PENDING, REASON_TRIGGER_AUTHENTICATION_PENDING];
const REASON_HPA_PENDING: &str = "HPAPending";
const REASON_SCALED_OBJECT_PENDING: &str = "ScaledObjectPending";
const REASON_TRIGGER_AUTHENTICATION_PENDING: &str = "TriggerAuthenticationPending";

/// Why a wanted autoscaler is not created; the component runs its fixed replica count meanwhile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// `scaler: keda`, but KEDA's CRDs are not installed.
    KedaNotInstalled,
    /// A utilization target or a `cpu`/`memory` trigger on a container without that request:
    /// the HPA could never compute a utilization, and KEDA's admission webhook refuses it.
    MissingRequest {
        /// `cpu` or `memory`.
        resource: String,
        /// What needs it, e.g. `targetCPUUtilizationPercentage` or `the cpu trigger`.
        needed_by: String,
        /// The container without the request.
        container: String,
        /// Where the request goes, e.g. `spec.resources.requests.cpu`.
        field: String,
    },
    /// A trigger's `authenticationRef` names an object that does not exist.
    TriggerAuthenticationNotFound {
        /// The trigger, e.g. `spec.autoscaling.triggers[0] (redis)`.
        trigger: String,
        /// `TriggerAuthentication` or `ClusterTriggerAuthentication`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// A trigger's `backendRef` names a PrismBackend that does not exist.
    TriggerBackendNotFound {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
    },
    /// A trigger's `backendRef` names a PrismBackend of another provider.
    TriggerBackendMismatch {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
        /// Its provider.
        provider: &'static str,
        /// The provider the trigger type needs.
        wanted: &'static str,
    },
    /// The TriggerAuthentication a `backendRef`'s PrismBackend renders does not exist yet.
    TriggerAuthenticationPending {
        /// The trigger.
        trigger: String,
        /// The PrismBackend's name.
        backend: String,
        /// The TriggerAuthentication's name.
        name: String,
    },
}

impl Blocked {
    /// The `AutoscalingReady=False` condition saying why.
    pub fn condition(&self) -> Desired {
        match self {
            Self::KedaNotInstalled => Desired::new(
                AUTOSCALING_READY,
                false,
                "KEDANotInstalled",
                "scaler keda needs KEDA's CRDs (scaledobjects.keda.sh), which are not installed; running fixed replicas until they appear",
            ),
            Self::MissingRequest { resource, needed_by, container, field } => Desired::new(
                AUTOSCALING_READY,
                false,
                "ResourceRequestMissing",
                format!(
                    "{needed_by} needs a {resource} request on container {container:?}, which has none: set {field}; running fixed replicas until then"
                ),
            ),
            Self::TriggerAuthenticationNotFound { trigger, kind, name } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerAuthenticationNotFound",
                format!(
                    "{trigger} names {kind} {name:?} in authenticationRef, which does not exist; the ScaledObject is created once it does (running fixed replicas until then)"
                ),
            ),
            Self::TriggerBackendNotFound { trigger, backend } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerBackendNotFound",
                format!(
                    "{trigger} names PrismBackend {backend:?} in backendRef, which does not exist in this namespace; running fixed replicas until it does"
                ),
            ),
            Self::TriggerBackendMismatch { trigger, backend, provider, wanted } => Desired::new(
                AUTOSCALING_READY,
                false,
                "TriggerBackendMismatch",
                format!(
                    "{trigger} names PrismBackend {backend:?} in backendRef, which is of provider {provider}; this trigger type needs provider {wanted}"
                ),
            ),
            Self::TriggerAuthenticationPending { trigger, backend, name } => Desired::new(
                AUTOSCALING_READY,
                false,
                REASON_TRIGGER_AUTHENTICATION_PENDING,
                format!(
                    "{trigger}: waiting for TriggerAuthentication {name:?}, which PrismBackend {backend:?} renders once it is valid and has an address"
                ),
            ),
        }
    }
}

/// How a component's replica count is decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Scaling {
    /// The autoscaler the spec asks for.
    pub autoscaler: Autoscaler,
    /// Why it cannot be created now, if it cannot.
    pub blocked: Option<Blocked>,
    /// The replica count the operator sets on the Deployment; `None` while an autoscaler owns it.
    pub replicas: Option<i32>,
}

impl Scaling {
    /// The one replicas rule: `fixed` without autoscaling; nothing (the autoscaler owns it) with
    /// a working autoscaler; `fixed` clamped to the autoscaler's bounds while it is blocked.
    /// `field` is the spec path of the component (`spec`, `spec.proxy`), for messages.
    /// KEDA triggers are checked against `keda` (see [`KedaRefs`]) and get their `backendRef`s
    /// resolved.
    pub fn plan(
        spec: Option<&AutoscalingSpec>,
        fixed: i32,
        keda: &KedaRefs,
        container: &crate::workload::ContainerSpec,
        field: &str,
    ) -> Self {
        let mut autoscaler = Autoscaler::from_spec(spec);
        let mut blocked = match &autoscaler {
            Autoscaler::Keda(_) if !keda.installed => Some(Blocked::KedaNotInstalled),
            a => a
                .requests_needed()
                .into_iter()
                .find(|(resource, _)| !has_request(container.resources.as_ref(), resource))
                .map(|(resource, needed_by)| Blocked::MissingRequest {
                    field: format!("{field}.resources.requests.{resource}"),
                    resource,
                    needed_by,
                    container: container.name.clone(),
                }),
        };
        if let (Autoscaler::Keda(k), None) = (&mut autoscaler, &blocked) {
            match triggers::plan(&k.triggers, keda, field) {
                Ok(resolved) => k.triggers = resolved,
                Err(b) => blocked = Some(b),
            }
        }
        let replicas = match (autoscaler.bounds(), &blocked) {
            (None, _) => Some(fixed),
            (Some(_), None) => None,
            (Some((min, max)), Some(_)) => Some(fixed.clamp(min, max)),
        };
        Self { autoscaler, blocked, replicas }
    }

    /// The HPA to create, if any.
    pub fn hpa(&self) -> Option<&Hpa> {
        match (&self.autoscaler, &self.blocked) {
            (Autoscaler::Hpa(h), None) => Some(h),
            _ => None,
        }
    }

    /// The ScaledObject to create, if any.
    pub fn keda(&self) -> Option<&Keda> {
        match (&self.autoscaler, &self.blocked) {
            (Autoscaler::Keda(k), None) => Some(k),
            _ => None,
        }
    }
}

/// Whether the container requests `resource` (a limit alone counts: the API server copies it
/// into the request).
fn has_request(r: Option<&ResourceRequirements>, resource: &str) -> bool {
    [r.and_then(|r| r.requests.as_ref()), r.and_then(|r| r.limits.as_ref())]
        .into_iter()
        .flatten()
        .any(|m| m.contains_key(resource))
}

/// What the caches show of a component's autoscaler objects: its HPA (ours) and its ScaledObject.
#[derive(Clone, Debug, Default)]
pub struct Live {
    /// The HorizontalPodAutoscaler named after the component.
    pub hpa: Option<std::sync::Arc<HorizontalPodAutoscaler>>,
    /// The ScaledObject named after the component.
    pub scaled_object: Option<std::sync::Arc<DynamicObject>>,
}

impl Live {
    /// The `AutoscalingReady` condition of `s` given these objects ([`readiness`]).
    pub fn readiness(&self, s: &Scaling) -> Desired {
        readiness(s, self.hpa.as_deref(), self.scaled_object.as_deref())
    }
}

/// The `AutoscalingReady` condition from what the cluster shows: the live HPA (ours, for scaler
/// hpa) or ScaledObject (for scaler keda), with their own reasons and messages.
pub fn readiness(s: &Scaling, hpa: Option<&HorizontalPodAutoscaler>, scaled_object: Option<&DynamicObject>) -> Desired {
    if let Some(blocked) = &s.blocked {
        return blocked.condition();
    }
    match &s.autoscaler {
        Autoscaler::None => {
            Desired::new(AUTOSCALING_READY, true, "AutoscalingDisabled", "fixed replicas from spec.replicas")
        }
        Autoscaler::Hpa(h) => hpa_readiness(h, hpa),
        Autoscaler::Keda(k) => keda_readiness(k, scaled_object),
    }
}

fn hpa_readiness(h: &Hpa, live: Option<&HorizontalPodAutoscaler>) -> Desired {
    let conditions = live.and_then(|l| l.status.as_ref()).and_then(|s| s.conditions.clone()).unwrap_or_default();
    let find = |t: &str| conditions.iter().find(|c| c.type_ == t);
    let (able, active) = (find("AbleToScale"), find("ScalingActive"));
    if let Some(c) = [able, active].into_iter().flatten().find(|c| c.status == "False") {
        return Desired::new(
            AUTOSCALING_READY,
            false,
            c.reason.clone().unwrap_or_else(|| format!("{}False", c.type_)),
            format!("HorizontalPodAutoscaler {}: {}", c.type_, c.message.clone().unwrap_or_default()),
        );
    }
    if able.is_none() || active.is_none() {
        return Desired::new(
            AUTOSCALING_READY,
            false,
            REASON_HPA_PENDING,
            "waiting for the HorizontalPodAutoscaler's first evaluation of its metrics",
        );
    }
    let limited = find("ScalingLimited")
        .filter(|c| c.status == "True")
        .and_then(|c| c.message.clone())
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    Desired::new(
        AUTOSCALING_READY,
        true,
        "ScalingActive",
        format!("HorizontalPodAutoscaler scales between {} and {} replicas{limited}", h.min, h.max),
    )
}

fn keda_readiness(k: &Keda, live: Option<&DynamicObject>) -> Desired {
    let conditions = live.and_then(|l| l.data["status"]["conditions"].as_array().cloned()).unwrap_or_default();
    let find = |t: &str| conditions.iter().find(|c| c["type"] == t);
    let text = |c: &serde_json::Value, key: &str| c[key].as_str().unwrap_or_default().to_owned();
    match find("Ready") {
        Some(c) if c["status"] == "True" => {
            let active = find("Active").filter(|a| a["status"] == "True");
            let (reason, state) = match active {
                Some(_) => ("ScalerActive", "active"),
                None => ("ScalerNotActive", "idle"),
            };
            Desired::new(
                AUTOSCALING_READY,
                true,
                reason,
                format!("KEDA ScaledObject is ready and {state}; scales between {} and {} replicas", k.min, k.max),
            )
        }
        Some(c) if c["status"] == "False" => Desired::new(
            AUTOSCALING_READY,
            false,
            Some(text(c, "reason")).filter(|r| !r.is_empty()).unwrap_or_else(|| "ScaledObjectNotReady".to_owned()),
            format!("KEDA ScaledObject is not ready: {}", text(c, "message")),
        ),
        _ => Desired::new(
            AUTOSCALING_READY,
            false,
            REASON_SCALED_OBJECT_PENDING,
            "waiting for KEDA to check the ScaledObject",
        ),
    }
}

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
    /// Triggers as given, with `backendRef`s turned into `authenticationRef`s once planned.
    pub triggers: Vec<KedaTrigger>,
}

impl Autoscaler {
    /// The autoscaler a spec asks for, with the documented defaults applied.
    pub fn from_spec(spec: Option<&AutoscalingSpec>) -> Self {
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

    /// The requests the autoscaler needs on the container, with what needs each: utilization
    /// targets of the HPA, and KEDA's `cpu`/`memory` triggers (its webhook requires the request
    /// whatever the metric type).
    fn requests_needed(&self) -> Vec<(String, String)> {
        match self {
            Self::None => Vec::new(),
            Self::Hpa(h) => h
                .metrics
                .iter()
                .filter_map(|m| {
                    let (name, target) = match (&m.resource, &m.container_resource) {
                        (Some(r), _) => (&r.name, &r.target),
                        (None, Some(c)) => (&c.name, &c.target),
                        _ => return None,
                    };
                    (target.type_ == "Utilization").then(|| {
                        let by = match name.as_str() {
                            "cpu" => "autoscaling.targetCPUUtilizationPercentage".to_owned(),
                            "memory" => "autoscaling.targetMemoryUtilizationPercentage".to_owned(),
                            other => format!("a {other} utilization metric"),
                        };
                        (name.clone(), by)
                    })
                })
                .collect(),
            Self::Keda(k) => k
                .triggers
                .iter()
                .filter(|t| t.type_ == "cpu" || t.type_ == "memory")
                .map(|t| (t.type_.clone(), format!("the KEDA {} trigger", t.type_)))
                .collect(),
        }
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
        assert_eq!(Autoscaler::from_spec(None), Autoscaler::None);
        let s =
            spec(json!({"enabled": false, "scaler": "hpa", "maxReplicas": 3, "targetCPUUtilizationPercentage": 50}));
        assert_eq!(Autoscaler::from_spec(Some(&s)), Autoscaler::None);
    }

    #[test]
    fn hpa_targets_and_custom_metrics_in_order() {
        let s = spec(json!({"enabled": true, "minReplicas": 3, "maxReplicas": 20,
            "targetCPUUtilizationPercentage": 75, "targetMemoryUtilizationPercentage": 80,
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": "http_requests_per_second"},
                "target": {"type": "AverageValue", "averageValue": "1000"}}}]}));
        let Autoscaler::Hpa(h) = Autoscaler::from_spec(Some(&s)) else { panic!("hpa expected") };
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

    fn container(requests: &[(&str, &str)]) -> crate::workload::ContainerSpec {
        crate::workload::ContainerSpec {
            name: "producer-runner".into(),
            image: "img".into(),
            args: Vec::new(),
            port_name: "grpc",
            port: 8080,
            health: crate::workload::HealthCheck::Tcp,
            env: Vec::new(),
            env_from: Vec::new(),
            resources: serde_json::from_value(json!({
                "requests": requests.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>()}))
            .expect("resources"),
            observability: None,
        }
    }

    #[test]
    fn a_utilization_target_without_its_request_blocks_the_hpa() {
        let s = spec(json!({"enabled": true, "scaler": "hpa", "minReplicas": 2, "maxReplicas": 20,
            "targetCPUUtilizationPercentage": 75}));
        let blocked = Scaling::plan(Some(&s), 1, &KedaRefs::unchecked(true), &container(&[("memory", "1Gi")]), "spec");
        assert_eq!(blocked.replicas, Some(2), "fixed replicas, clamped to the bounds");
        assert!(blocked.hpa().is_none(), "no HPA that could never compute its utilization");
        let c = readiness(&blocked, None, None);
        assert_eq!((c.status, c.reason.as_str()), (false, "ResourceRequestMissing"));
        assert!(
            c.message.contains("targetCPUUtilizationPercentage") && c.message.contains("spec.resources.requests.cpu")
        );
        assert!(c.message.contains("\"producer-runner\""), "names the container: {}", c.message);

        let ok = Scaling::plan(Some(&s), 1, &KedaRefs::unchecked(true), &container(&[("cpu", "500m")]), "spec");
        assert_eq!((ok.replicas, ok.blocked.clone()), (None, None), "the HPA owns replicas");
        assert!(ok.hpa().is_some());
    }

    #[test]
    fn keda_cpu_triggers_need_the_request_other_triggers_do_not() {
        let cpu = spec(json!({"enabled": true, "scaler": "keda", "minReplicas": 1, "maxReplicas": 5,
            "triggers": [{"type": "redis", "metadata": {"listName": "q"}}, {"type": "cpu", "metadata": {"value": "75"}}]}));
        let plan = Scaling::plan(Some(&cpu), 3, &KedaRefs::unchecked(true), &container(&[]), "spec.proxy");
        let Some(Blocked::MissingRequest { field, .. }) = &plan.blocked else { panic!("blocked expected") };
        assert_eq!(field, "spec.proxy.resources.requests.cpu");
        assert!(plan.keda().is_none());
        let redis = spec(json!({"enabled": true, "scaler": "keda", "minReplicas": 0, "maxReplicas": 5,
            "triggers": [{"type": "redis", "metadata": {"listName": "q"}}]}));
        assert!(Scaling::plan(Some(&redis), 1, &KedaRefs::unchecked(true), &container(&[]), "spec").keda().is_some());
        let missing = Scaling::plan(Some(&redis), 1, &KedaRefs::unchecked(false), &container(&[]), "spec");
        assert_eq!(missing.blocked, Some(Blocked::KedaNotInstalled));
        assert_eq!(readiness(&missing, None, None).reason, "KEDANotInstalled");
    }

    fn hpa_with(conditions: Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"maxReplicas": 5, "scaleTargetRef": {"kind": "Deployment", "name": "p"}},
            "status": {"desiredReplicas": 2, "conditions": conditions}}))
        .expect("hpa")
    }

    #[test]
    fn hpa_readiness_comes_from_its_conditions() {
        let s =
            spec(json!({"enabled": true, "minReplicas": 2, "maxReplicas": 5, "targetCPUUtilizationPercentage": 75}));
        let plan = Scaling::plan(Some(&s), 1, &KedaRefs::unchecked(true), &container(&[("cpu", "1")]), "spec");
        let pending = readiness(&plan, Some(&hpa_with(json!([]))), None);
        assert_eq!((pending.status, pending.reason.as_str()), (false, "HPAPending"));
        assert!(PENDING_REASONS.contains(&pending.reason.as_str()));
        let failing = hpa_with(json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale", "message": "ok"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
             "message": "the HPA was unable to compute the replica count: no metrics returned from resource metrics API"}]));
        let c = readiness(&plan, Some(&failing), None);
        assert_eq!((c.status, c.reason.as_str()), (false, "FailedGetResourceMetric"));
        assert!(c.message.starts_with("HorizontalPodAutoscaler ScalingActive: the HPA was unable"), "{}", c.message);
        let active = hpa_with(json!([
            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale", "message": "ok"},
            {"type": "ScalingActive", "status": "True", "reason": "ValidMetricFound", "message": "ok"},
            {"type": "ScalingLimited", "status": "True", "reason": "TooManyReplicas", "message": "the desired replica count is more than the maximum replica count"}]));
        let c = readiness(&plan, Some(&active), None);
        assert_eq!((c.status, c.reason.as_str()), (true, "ScalingActive"));
        assert!(c.message.contains("between 2 and 5") && c.message.contains("more than the maximum"), "{}", c.message);
    }

    #[test]
    fn scaled_object_readiness_comes_from_ready_and_active() {
        let s = spec(json!({"enabled": true, "scaler": "keda", "minReplicas": 0, "maxReplicas": 4,
            "triggers": [{"type": "redis", "metadata": {"listName": "q"}}]}));
        let plan = Scaling::plan(Some(&s), 1, &KedaRefs::unchecked(true), &container(&[]), "spec");
        let so = |conditions: Value| {
            let mut o = DynamicObject::new("p", &keda::scaled_object_resource());
            o.data = json!({"status": {"conditions": conditions}});
            o
        };
        assert_eq!(readiness(&plan, None, Some(&so(json!([])))).reason, "ScaledObjectPending");
        let c = readiness(
            &plan,
            None,
            Some(&so(json!([
            {"type": "Ready", "status": "False", "reason": "ScaledObjectCheckFailed", "message": "Triggers defined in ScaledObject are not correct"}]))),
        );
        assert_eq!((c.status, c.reason.as_str()), (false, "ScaledObjectCheckFailed"));
        assert!(c.message.ends_with("Triggers defined in ScaledObject are not correct"));
        let c = readiness(
            &plan,
            None,
            Some(&so(json!([
            {"type": "Ready", "status": "True", "reason": "ScaledObjectReady", "message": "ok"},
            {"type": "Active", "status": "True", "reason": "ScalerActive", "message": "Scaling is performed because triggers are active"}]))),
        );
        assert_eq!((c.status, c.reason.as_str()), (true, "ScalerActive"));
        assert!(c.message.contains("between 0 and 4"));
    }
}
