//! The plan: how a component's replica count is decided ([`Scaling::plan`]).

use k8s_openapi::api::core::v1::ResourceRequirements;
use prism_api::v1alpha1::AutoscalingSpec;

use super::{Autoscaler, Blocked, Hpa, Keda, KedaRefs, triggers};

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::autoscaling::{
        readiness,
        tests_support::{container, spec},
    };

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
}
