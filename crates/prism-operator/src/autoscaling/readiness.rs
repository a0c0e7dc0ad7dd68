//! Readiness of the live autoscaler: its conditions read back into `AutoscalingReady`.

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::DynamicObject;

use super::{AUTOSCALING_READY, Autoscaler, Hpa, Keda, REASON_HPA_PENDING, REASON_SCALED_OBJECT_PENDING, Scaling};
use crate::conditions::Desired;

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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::{
        autoscaling::{
            KedaRefs, PENDING_REASONS,
            tests_support::{container, spec},
        },
        keda,
    };

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
