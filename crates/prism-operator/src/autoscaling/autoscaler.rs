//! The autoscaler a spec asks for ([`Autoscaler::from_spec`]), with the documented defaults.

use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscalerBehavior, MetricSpec, MetricTarget, ResourceMetricSource,
};
use prism_api::v1alpha1::{AutoscalingSpec, KedaTrigger, Scaler};

use crate::canonical;

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
    pub(super) fn requests_needed(&self) -> Vec<(String, String)> {
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
    use serde_json::json;

    use super::*;
    use crate::autoscaling::tests_support::spec;

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
}
