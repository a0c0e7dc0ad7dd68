//! Pure: the observed Deployment, the live autoscaler and the reconcile's outcome -> the
//! PrismPattern's status (phase, current/desired/available replicas and the `Ready` and
//! `AutoscalingReady` conditions).

use k8s_openapi::{api::apps::v1::Deployment, jiff::Timestamp};
use prism_api::v1alpha1::{PatternPhase, PrismPatternStatus};

use super::validate::ValidatedPattern;
use crate::conditions::Invalid;
use crate::{
    autoscaling::{self, PENDING_REASONS},
    conditions::{self, Desired, Notice},
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

/// The status to store for `observed` (the stored conditions keep their transition times).
pub fn next(
    stored: Option<&PrismPatternStatus>,
    observed: &Observed,
    generation: Option<i64>,
    now: Timestamp,
) -> PrismPatternStatus {
    let stored_conditions = stored.map(|s| s.conditions.as_slice()).unwrap_or_default();
    PrismPatternStatus {
        phase: Some(observed.phase),
        replicas: observed.replicas,
        desired_replicas: observed.desired_replicas,
        available_replicas: observed.available_replicas,
        observed_generation: generation,
        conditions: conditions::merge(stored_conditions, &observed.conditions, generation, now),
    }
}

/// The Events of going from `stored` to `observed`: a Warning for each condition that turned
/// False for a reason that is not ordinary progress (progress shows in the status only).
pub fn events(stored: Option<&PrismPatternStatus>, observed: &Observed) -> Vec<Notice> {
    conditions::warnings(stored.map(|s| s.conditions.as_slice()).unwrap_or_default(), &observed.conditions, is_progress)
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
/// `autoscaler` what the caches show of its autoscaler.
pub fn observe(v: &ValidatedPattern, deployment: Option<&Deployment>, autoscaler: &autoscaling::Live) -> Observed {
    let autoscaling = autoscaler.readiness(&v.scaling);
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

/// The API server refused the autoscaler (e.g. KEDA's admission webhook): `AutoscalingReady`
/// says so with the API server's message, and a running pattern is Degraded.
pub fn autoscaler_refused(observed: &mut Observed, error: &crate::error::Error) {
    let message = match error {
        crate::error::Error::ApplyChild { kind, name, source: kube::Error::Api(status) } => {
            format!("the API server refused {kind} {name}: {}", status.message)
        }
        other => other.chain(MESSAGE_MAX),
    };
    for c in observed.conditions.iter_mut().filter(|c| c.type_ == autoscaling::AUTOSCALING_READY) {
        *c = Desired::new(autoscaling::AUTOSCALING_READY, false, "AutoscalerRefused", message.clone());
    }
    if observed.phase == PatternPhase::Running {
        observed.phase = PatternPhase::Degraded;
    }
}

/// Longest message taken from an error chain.
const MESSAGE_MAX: usize = 1024;

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
    // Fewer available than desired after the rollout finished: Degraded only when the
    // Deployment itself says it lacks its minimum (pods failing), not while an autoscaler's new
    // replicas start.
    let rolled_out = progressing.is_some_and(|c| c.reason.as_deref() == Some("NewReplicaSetAvailable"));
    let unavailable = status.conditions.iter().flatten().any(|c| c.type_ == "Available" && c.status == "False");
    if observed_current && rolled_out && available < desired && unavailable {
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
    fn next_keeps_transition_times_and_events_warn_only_on_problems() {
        let then = Timestamp::from_second(1_700_000_000).expect("time");
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let progressing = Observed {
            phase: PatternPhase::Progressing,
            replicas: Some(2),
            desired_replicas: Some(3),
            available_replicas: Some(1),
            conditions: vec![Desired::new(READY, false, "DeploymentProgressing", "1/3 available")],
        };
        let stored = next(None, &progressing, Some(1), then);
        assert_eq!(stored.phase, Some(PatternPhase::Progressing));
        assert_eq!((stored.replicas, stored.desired_replicas, stored.available_replicas), (Some(2), Some(3), Some(1)));
        assert_eq!(stored.observed_generation, Some(1));
        assert_eq!(stored.conditions[0].last_transition_time.0, then);
        // Progress is not worth an Event.
        assert!(events(None, &progressing).is_empty());

        // Still False, another reason: the time stays, and a problem is a Warning.
        let degraded = Observed {
            phase: PatternPhase::Degraded,
            conditions: vec![Desired::new(READY, false, "ProgressDeadlineExceeded", "stuck")],
            ..progressing.clone()
        };
        let again = next(Some(&stored), &degraded, Some(2), now);
        assert_eq!(again.conditions[0].last_transition_time.0, then);
        assert_eq!(again.observed_generation, Some(2));
        assert_eq!(events(Some(&stored), &degraded), [Notice::warning("ProgressDeadlineExceeded", READY, "stuck")]);
        // The same problem again: no second Event.
        assert!(events(Some(&again), &degraded).is_empty());
        // Recovery: the time moves, and it is no Warning.
        let ready = Observed { conditions: vec![Desired::new(READY, true, "DeploymentReady", "3/3")], ..degraded };
        assert_eq!(next(Some(&again), &ready, Some(2), now).conditions[0].last_transition_time.0, now);
        assert!(events(Some(&again), &ready).is_empty());
    }

    #[test]
    fn phases_follow_the_rollout() {
        assert_eq!(rollout(&deployment(3, 3, 3, "NewReplicaSetAvailable")).0, PatternPhase::Running);
        assert_eq!(rollout(&deployment(3, 3, 1, "ReplicaSetUpdated")).0, PatternPhase::Progressing);
        let mut failing = deployment(3, 3, 1, "NewReplicaSetAvailable");
        failing.status.as_mut().and_then(|s| s.conditions.as_mut()).expect("conditions").push(DeploymentCondition {
            type_: "Available".into(),
            status: "False".into(),
            reason: Some("MinimumReplicasUnavailable".into()),
            ..Default::default()
        });
        assert_eq!(rollout(&failing).0, PatternPhase::Degraded);
        // An autoscaler's new replicas starting: still Progressing, not Degraded.
        assert_eq!(rollout(&deployment(4, 4, 2, "NewReplicaSetAvailable")).0, PatternPhase::Progressing);
        assert_eq!(rollout(&deployment(3, 3, 1, "ProgressDeadlineExceeded")).0, PatternPhase::Degraded);
        let (_, ready) = rollout(&deployment(2, 2, 2, "NewReplicaSetAvailable"));
        assert!(ready.status);
        assert_eq!(ready.message, "Pattern runner is healthy");
    }

    #[test]
    fn a_refused_autoscaler_is_a_condition_with_the_api_servers_message() {
        let mut o = Observed {
            phase: PatternPhase::Running,
            replicas: Some(1),
            desired_replicas: Some(1),
            available_replicas: Some(1),
            conditions: vec![
                Desired::new(READY, true, "DeploymentReady", "ok"),
                Desired::new(autoscaling::AUTOSCALING_READY, false, "ScaledObjectPending", "waiting"),
            ],
        };
        let status = kube::core::Status::failure(
            "admission webhook \"vscaledobject.kb.io\" denied the request: the scaledobject has a cpu trigger but the container runner doesn't have the cpu request defined",
            "Forbidden",
        )
        .with_code(403);
        let e = crate::error::Error::ApplyChild {
            kind: "ScaledObject".into(),
            name: "p".into(),
            source: kube::Error::Api(Box::new(status)),
        };
        autoscaler_refused(&mut o, &e);
        assert_eq!(o.phase, PatternPhase::Degraded);
        let c = &o.conditions[1];
        assert_eq!((c.status, c.reason.as_str()), (false, "AutoscalerRefused"));
        assert!(c.message.starts_with("the API server refused ScaledObject p: admission webhook"), "{}", c.message);
        assert!(o.conditions[0].status, "the Deployment's readiness is untouched");
    }

    #[test]
    fn invalid_specs_fail_with_their_reason() {
        let o = invalid(&Invalid { reason: "BackendConfigNotFound", message: "m".into() }, None);
        assert_eq!(o.phase, PatternPhase::Failed);
        assert_eq!(o.conditions[0].reason, "BackendConfigNotFound");
        assert!(!o.conditions[0].status);
    }
}
