//! Pure: the observed Deployment, the live autoscaler and the reconcile's outcome -> the
//! PrismPattern's status (phase, current/desired/available replicas and the `Ready` and
//! `AutoscalingReady` conditions).

use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler};
use kube::api::DynamicObject;
use prism_api::v1alpha1::PatternPhase;

use super::validate::{Invalid, ValidatedPattern};
use crate::{
    autoscaling::{self, PENDING_REASONS},
    status::Desired,
};

/// Condition type: every desired replica is available.
pub const READY: &str = "Ready";

/// Whether a `False` reason is ordinary progress rather than a problem (no Warning Event, and
/// the phase stays Running while a new autoscaler reads its first metrics).
pub fn is_progress(reason: &str) -> bool {
    matches!(reason, "DeploymentPending" | "DeploymentProgressing") || PENDING_REASONS.contains(&reason)
}

/// The status the reconcile wants, before timestamps.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Phase.
    pub phase: PatternPhase,
    /// Replicas of the Deployment.
    pub replicas: Option<i32>,
    /// Replicas the Deployment asks for (set by the autoscaler when there is one).
    pub desired_replicas: Option<i32>,
    /// Available replicas of the Deployment.
    pub available_replicas: Option<i32>,
    /// Conditions.
    pub conditions: Vec<Desired>,
}

/// Status of a pattern that could not be validated.
pub fn invalid(invalid: &Invalid, deployment: Option<&Deployment>) -> Observed {
    let (replicas, available) = counts(deployment);
    Observed {
        phase: PatternPhase::Failed,
        replicas,
        desired_replicas: desired(deployment),
        available_replicas: available,
        conditions: vec![Desired::new(READY, false, invalid.reason, invalid.message.clone())],
    }
}

/// Status of a validated pattern whose children were applied: `deployment` is the live one,
/// `hpa` and `scaled_object` the live autoscaler (from the caches).
pub fn observe(
    v: &ValidatedPattern,
    deployment: Option<&Deployment>,
    hpa: Option<&HorizontalPodAutoscaler>,
    scaled_object: Option<&DynamicObject>,
) -> Observed {
    let autoscaling = autoscaling::readiness(&v.scaling, hpa, scaled_object);
    let (replicas, available) = counts(deployment);
    let (phase, ready) = match deployment {
        None => (
            PatternPhase::Pending,
            Desired::new(READY, false, "DeploymentPending", "runner Deployment not created yet"),
        ),
        Some(d) => rollout(d),
    };
    let failing = !autoscaling.status && !is_progress(&autoscaling.reason);
    let phase = if phase == PatternPhase::Running && failing { PatternPhase::Degraded } else { phase };
    Observed {
        phase,
        replicas,
        desired_replicas: desired(deployment),
        available_replicas: available,
        conditions: vec![ready, autoscaling],
    }
}

/// The Deployment's `spec.replicas`: what the autoscaler (or the operator) last asked for.
fn desired(deployment: Option<&Deployment>) -> Option<i32> {
    deployment.map(|d| d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1))
}

fn counts(deployment: Option<&Deployment>) -> (Option<i32>, Option<i32>) {
    let status = deployment.and_then(|d| d.status.as_ref());
    (Some(status.and_then(|s| s.replicas).unwrap_or(0)), Some(status.and_then(|s| s.available_replicas).unwrap_or(0)))
}

fn rollout(d: &Deployment) -> (PatternPhase, Desired) {
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let observed_current = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let updated = status.updated_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let progressing = status.conditions.iter().flatten().find(|c| c.type_ == "Progressing");
    if progressing.is_some_and(|c| c.status == "False") {
        let reason =
            progressing.and_then(|c| c.reason.clone()).unwrap_or_else(|| "ProgressDeadlineExceeded".to_owned());
        return (
            PatternPhase::Degraded,
            Desired::new(READY, false, reason, format!("rollout stalled: {available}/{desired} replicas available")),
        );
    }
    if observed_current && updated >= desired && available >= desired && total == desired {
        return (PatternPhase::Running, Desired::new(READY, true, "DeploymentReady", "Pattern runner is healthy"));
    }
    let rolled_out = progressing.is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
    if observed_current && rolled_out && available < desired {
        return (
            PatternPhase::Degraded,
            Desired::new(READY, false, "ReplicasUnavailable", format!("{available}/{desired} replicas available")),
        );
    }
    (
        PatternPhase::Progressing,
        Desired::new(READY, false, "DeploymentProgressing", format!("{available}/{desired} replicas available")),
    )
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentCondition, DeploymentSpec, DeploymentStatus};

    use super::*;

    fn deployment(desired: i32, total: i32, available: i32, progressing_reason: &str) -> Deployment {
        Deployment {
            metadata: kube::api::ObjectMeta { generation: Some(2), ..Default::default() },
            spec: Some(DeploymentSpec { replicas: Some(desired), ..Default::default() }),
            status: Some(DeploymentStatus {
                observed_generation: Some(2),
                replicas: Some(total),
                updated_replicas: Some(total),
                available_replicas: Some(available),
                conditions: Some(vec![DeploymentCondition {
                    type_: "Progressing".into(),
                    status: if progressing_reason == "ProgressDeadlineExceeded" { "False" } else { "True" }.into(),
                    reason: Some(progressing_reason.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn phases_follow_the_rollout() {
        assert_eq!(rollout(&deployment(3, 3, 3, "NewReplicaSetAvailable")).0, PatternPhase::Running);
        assert_eq!(rollout(&deployment(3, 3, 1, "ReplicaSetUpdated")).0, PatternPhase::Progressing);
        assert_eq!(rollout(&deployment(3, 3, 1, "NewReplicaSetAvailable")).0, PatternPhase::Degraded);
        assert_eq!(rollout(&deployment(3, 3, 1, "ProgressDeadlineExceeded")).0, PatternPhase::Degraded);
        let (_, ready) = rollout(&deployment(2, 2, 2, "NewReplicaSetAvailable"));
        assert!(ready.status);
        assert_eq!(ready.message, "Pattern runner is healthy");
    }

    #[test]
    fn invalid_specs_fail_with_their_reason() {
        let o = invalid(&Invalid { reason: "BackendConfigNotFound", message: "m".into() }, None);
        assert_eq!(o.phase, PatternPhase::Failed);
        assert_eq!(o.conditions[0].reason, "BackendConfigNotFound");
        assert!(!o.conditions[0].status);
    }
}
