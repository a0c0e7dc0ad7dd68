//! Pure: what a reconcile observed -> the PrismBackend's status (phase, healthy, message,
//! lastChecked, configHash, the `Ready` and `ConfigRendered` conditions).
//!
//! `lastChecked` moves when anything else in the status changes, and otherwise only once it is
//! [`LAST_CHECKED_REFRESH`] old: a backend that stays healthy costs one status write per five
//! minutes, not one per check.

use std::time::Duration;

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use prism_api::v1alpha1::{BackendPhase, PrismBackendStatus};

use super::health::Health;
use crate::conditions::Invalid;
use crate::conditions::{self, Desired, Notice};

/// Condition type: the last health check passed and the connection is rendered.
pub const READY: &str = "Ready";
/// Condition type: the ConfigMap and Secret hold the current connection.
pub const CONFIG_RENDERED: &str = "ConfigRendered";
/// How old `lastChecked` may get before a check that changed nothing refreshes it.
pub const LAST_CHECKED_REFRESH: Duration = Duration::from_secs(300);
/// Condition reason: the check passed.
pub const HEALTHY: &str = "HealthCheckPassed";
/// Condition reason: checks are disabled.
pub const CHECKS_DISABLED: &str = "HealthCheckDisabled";
/// Condition reason: the children were rendered.
pub const RENDERED: &str = "Rendered";

/// What the reconcile saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// Rendered and checked.
    Checked {
        /// The check's result.
        health: Health,
        /// Hash of the rendered connection.
        config_hash: String,
    },
    /// Rendered; checks are disabled.
    Unchecked {
        /// Hash of the rendered connection.
        config_hash: String,
    },
    /// Not usable; nothing rendered or checked.
    Invalid(Invalid),
}

/// The status to store next.
pub fn next(
    stored: Option<&PrismBackendStatus>,
    observation: &Observation,
    generation: Option<i64>,
    now: Timestamp,
) -> PrismBackendStatus {
    let stored_conditions = stored.map(|s| s.conditions.as_slice()).unwrap_or_default();
    let stored_hash = stored.and_then(|s| s.config_hash.clone());
    let rendered =
        |hash: &str| Desired::new(CONFIG_RENDERED, true, RENDERED, format!("connection rendered (hash {hash})"));
    let (phase, healthy, message, config_hash, desired, checked) = match observation {
        Observation::Checked { health, config_hash } => {
            let (phase, healthy, reason, message) = match health {
                Health::Healthy(m) => (BackendPhase::Ready, true, HEALTHY, m.clone()),
                Health::Unhealthy { reason, message } => (BackendPhase::Unhealthy, false, *reason, message.clone()),
                Health::UnknownHost(m) => (BackendPhase::Invalid, false, super::health::UNKNOWN_HOST, m.clone()),
            };
            let ready = Desired::new(READY, healthy, reason, message.clone());
            (phase, Some(healthy), message, Some(config_hash.clone()), vec![ready, rendered(config_hash)], true)
        }
        Observation::Unchecked { config_hash } => {
            let message = "connection rendered; health checks are disabled".to_owned();
            (
                BackendPhase::Ready,
                None,
                message.clone(),
                Some(config_hash.clone()),
                vec![Desired::new(READY, true, CHECKS_DISABLED, message), rendered(config_hash)],
                false,
            )
        }
        Observation::Invalid(invalid) => (
            BackendPhase::Invalid,
            Some(false),
            invalid.message.clone(),
            // The children keep the last good connection; so does the hash.
            stored_hash,
            vec![
                Desired::new(READY, false, invalid.reason, invalid.message.clone()),
                Desired::new(CONFIG_RENDERED, false, invalid.reason, invalid.message.clone()),
            ],
            false,
        ),
    };
    let stored_checked = stored.and_then(|s| s.last_checked.clone());
    let mut status = PrismBackendStatus {
        phase: Some(phase),
        healthy,
        message: Some(message),
        last_checked: stored_checked.clone(),
        config_hash,
        observed_generation: generation,
        conditions: conditions::merge(stored_conditions, &desired, generation, now),
    };
    if checked {
        let unchanged = stored == Some(&status);
        let fresh = stored_checked.is_some_and(|Time(t)| now.duration_since(t).unsigned_abs() < LAST_CHECKED_REFRESH);
        if !(unchanged && fresh) {
            status.last_checked = Some(Time(now));
        }
    }
    status
}

/// The Ready-condition changes worth an Event.
pub fn events(stored: Option<&PrismBackendStatus>, next: &PrismBackendStatus) -> Vec<Notice> {
    let before = stored.and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
    next.conditions
        .iter()
        .filter(|c| c.type_ == READY)
        .filter(|c| before.is_none_or(|b| b.status != c.status || b.reason != c.reason))
        // A first successful check is routine; recovering from a failure is news.
        .filter(|c| c.status == "False" || before.is_some_and(|b| b.status == "False"))
        .map(|c| Notice {
            warning: c.status == "False",
            reason: c.reason.clone(),
            action: READY.to_owned(),
            note: c.message.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::backend::health::{AUTHENTICATION_FAILED, CONNECTION_FAILED};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("time")
    }

    fn checked(health: Health) -> Observation {
        Observation::Checked { health, config_hash: "h1".into() }
    }

    fn healthy() -> Observation {
        checked(Health::Healthy("redis at r:6379 answered PING with PONG".into()))
    }

    #[test]
    fn healthy_backend_keeps_last_checked_for_five_minutes() {
        let first = next(None, &healthy(), Some(1), at(0));
        assert_eq!(first.phase, Some(BackendPhase::Ready));
        assert_eq!(first.healthy, Some(true));
        assert_eq!(first.last_checked, Some(Time(at(0))));
        assert_eq!(first.config_hash.as_deref(), Some("h1"));
        // Ten seconds later: identical, so nothing to write.
        assert_eq!(next(Some(&first), &healthy(), Some(1), at(10)), first);
        assert_eq!(next(Some(&first), &healthy(), Some(1), at(299)), first);
        // Five minutes later: lastChecked alone moves.
        let refreshed = next(Some(&first), &healthy(), Some(1), at(300));
        assert_eq!(refreshed.last_checked, Some(Time(at(300))));
        assert_eq!(refreshed.conditions, first.conditions);
    }

    #[test]
    fn failures_change_phase_message_and_time_at_once() {
        let ok = next(None, &healthy(), Some(1), at(0));
        let down = checked(Health::unhealthy(CONNECTION_FAILED, "cannot connect: refused"));
        let s = next(Some(&ok), &down, Some(1), at(10));
        assert_eq!(s.phase, Some(BackendPhase::Unhealthy));
        assert_eq!(s.healthy, Some(false));
        assert_eq!(s.message.as_deref(), Some("cannot connect: refused"));
        assert_eq!(s.last_checked, Some(Time(at(10))));
        let ready = s.conditions.iter().find(|c| c.type_ == READY).expect("Ready");
        assert_eq!((ready.status.as_str(), ready.reason.as_str()), ("False", CONNECTION_FAILED));
        assert_eq!(ready.last_transition_time, Time(at(10)));
        assert_eq!(events(Some(&ok), &s), [Notice::warning(CONNECTION_FAILED, READY, "cannot connect: refused")]);
        // Same failure again: no write, no Event.
        assert_eq!(next(Some(&s), &down, Some(1), at(20)), s);
        // A different failure is a change.
        let auth = checked(Health::unhealthy(AUTHENTICATION_FAILED, "authentication failed"));
        let s2 = next(Some(&s), &auth, Some(1), at(20));
        assert_ne!(s2, s);
        let back = next(Some(&s2), &healthy(), Some(1), at(30));
        assert_eq!(
            events(Some(&s2), &back),
            [Notice::normal(HEALTHY, READY, "redis at r:6379 answered PING with PONG")]
        );
        assert!(events(None, &ok).is_empty(), "first success is routine");
    }

    #[test]
    fn invalid_keeps_the_last_hash_and_check_time() {
        let ok = next(None, &healthy(), Some(1), at(0));
        let bad = Observation::Invalid(Invalid { reason: "SecretNotFound", message: "Secret \"x\" missing".into() });
        let s = next(Some(&ok), &bad, Some(2), at(50));
        assert_eq!(s.phase, Some(BackendPhase::Invalid));
        assert_eq!(s.config_hash.as_deref(), Some("h1"));
        assert_eq!(s.last_checked, ok.last_checked);
        assert_eq!(s.observed_generation, Some(2));
        assert!(s.conditions.iter().all(|c| c.status == "False" && c.reason == "SecretNotFound"));
        let unknown = checked(Health::UnknownHost("host \"nope\" does not resolve".into()));
        let s = next(Some(&ok), &unknown, Some(1), at(60));
        assert_eq!(s.phase, Some(BackendPhase::Invalid));
    }

    #[test]
    fn disabled_checks_are_ready_without_a_time() {
        let s = next(None, &Observation::Unchecked { config_hash: "h".into() }, Some(1), at(0));
        assert_eq!((s.phase, s.healthy, s.last_checked), (Some(BackendPhase::Ready), None, None));
    }
}
