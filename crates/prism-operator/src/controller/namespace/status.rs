//! Pure: what a reconcile of a PrismNamespace saw -> its status (phase, provisionedAt,
//! lastSyncedAt, proxyStatus, assigned partition/proxy, observedGeneration and the
//! `Provisioned` and `QuotasEnforced` conditions).
//!
//! `observedGeneration` is the generation last pushed to the admin successfully: together with
//! `Provisioned=True` it is what makes provisioning idempotent across reconciles and restarts.

use k8s_openapi::{apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use prism_api::v1alpha1::{NamespacePhase, PrismNamespace, PrismNamespaceStatus};

use super::{build, validate::Metadata};
use crate::admin::{AdminError, proto::CreateNamespaceResponse};
use crate::conditions::{self, Desired, Notice};

/// Condition type: the namespace exists on the admin with the current spec.
pub const PROVISIONED: &str = "Provisioned";
/// Condition type: the admin received the quotas.
pub const QUOTAS_ENFORCED: &str = "QuotasEnforced";
/// `proxyStatus` when the admin answered.
pub const PROXY_READY: &str = "Ready";
/// `proxyStatus` when the admin could not be reached.
pub const PROXY_UNREACHABLE: &str = "Unreachable";
/// `proxyStatus` when the admin answered with an error.
pub const PROXY_ERROR: &str = "Error";

/// What the reconcile saw.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// CreateNamespace succeeded (or the namespace already existed).
    Synced {
        /// The admin endpoint.
        endpoint: String,
        /// The admin's answer.
        response: CreateNamespaceResponse,
    },
    /// A reference could not be resolved; nothing was sent.
    Unresolved(conditions::Invalid),
    /// The admin call failed.
    AdminFailed(AdminError),
    /// Deletion: RevokeNamespace failed; retrying until the grace period ends.
    Revoking(AdminError),
}

/// Whether the current generation is already provisioned: then no admin call is needed.
pub fn is_synced(obj: &PrismNamespace) -> bool {
    let Some(status) = obj.status.as_ref() else {
        return false;
    };
    status.observed_generation.is_some()
        && status.observed_generation == obj.metadata.generation
        && status.conditions.iter().any(|c| c.type_ == PROVISIONED && c.status == "True")
}

/// The Events of `outcome` for `obj` as stored: `Provisioned` when a new generation reached the
/// admin, a Warning when a reference turned unresolvable (admin failures become Warning Events
/// through the error policy).
pub fn events(obj: &PrismNamespace, outcome: &Outcome) -> Vec<Notice> {
    let stored = obj.status.as_ref();
    match outcome {
        Outcome::Synced { .. } if stored.and_then(|s| s.observed_generation) != obj.metadata.generation => {
            let note = format!(
                "namespace {:?} provisioned (generation {})",
                obj.spec.namespace_id,
                obj.metadata.generation.unwrap_or_default()
            );
            vec![Notice::normal("Provisioned", "Provision", note)]
        }
        Outcome::Unresolved(invalid) => {
            let before = stored.map(|s| s.conditions.as_slice()).unwrap_or_default();
            let changed = !before.iter().any(|c| c.type_ == PROVISIONED && c.reason == invalid.reason);
            changed.then(|| Notice::warning(invalid.reason, "Provision", invalid.message.clone())).into_iter().collect()
        }
        Outcome::Synced { .. } | Outcome::AdminFailed(_) | Outcome::Revoking(_) => Vec::new(),
    }
}

/// The status to store next.
pub fn next(obj: &PrismNamespace, outcome: &Outcome, now: Timestamp) -> PrismNamespaceStatus {
    let stored = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let mut s = PrismNamespaceStatus { conditions: Vec::new(), ..stored.clone() };
    let not_provisioned = |reason: &str, message: &str| {
        vec![
            Desired::new(PROVISIONED, false, reason, message),
            Desired::new(
                QUOTAS_ENFORCED,
                false,
                "NotProvisioned",
                "quotas are enforced once the namespace is provisioned",
            ),
        ]
    };
    let desired = match outcome {
        Outcome::Synced { endpoint, response } => {
            s.phase = Some(NamespacePhase::Active);
            s.provisioned_at = stored.provisioned_at.clone().or(Some(Time(now)));
            s.last_synced_at = Some(Time(now));
            s.proxy_status = Some(PROXY_READY.to_owned());
            s.observed_generation = generation;
            if !response.assigned_proxy.is_empty() {
                s.assigned_proxy = Some(response.assigned_proxy.clone());
            }
            if response.assigned_partition != 0 || !response.assigned_proxy.is_empty() {
                s.assigned_partition = Some(response.assigned_partition);
            }
            let quotas = match quota_summary(obj) {
                Some(q) => {
                    Desired::new(QUOTAS_ENFORCED, true, "QuotasApplied", format!("quotas sent to the admin: {q}"))
                }
                None => Desired::new(QUOTAS_ENFORCED, true, "NoQuotas", "no quotas requested"),
            };
            vec![
                Desired::new(
                    PROVISIONED,
                    true,
                    "NamespaceCreated",
                    format!("namespace {:?} provisioned on the admin at {endpoint}", obj.spec.namespace_id),
                ),
                quotas,
            ]
        }
        Outcome::Unresolved(invalid) => {
            s.phase =
                Some(if stored.provisioned_at.is_some() { NamespacePhase::Failed } else { NamespacePhase::Pending });
            not_provisioned(invalid.reason, &invalid.message)
        }
        Outcome::AdminFailed(err) => {
            s.phase = Some(NamespacePhase::Failed);
            s.proxy_status = Some(proxy_status(err).to_owned());
            not_provisioned(err.reason(), &err.to_string())
        }
        Outcome::Revoking(err) => {
            s.phase = Some(NamespacePhase::Terminating);
            s.proxy_status = Some(proxy_status(err).to_owned());
            let mut d =
                vec![Desired::new(PROVISIONED, true, "RevokePending", format!("revoking the namespace: {err}"))];
            // Keep QuotasEnforced as it was: nothing changed on the admin yet.
            d.extend(
                stored
                    .conditions
                    .iter()
                    .filter(|c| c.type_ == QUOTAS_ENFORCED)
                    .map(|c| Desired::new(QUOTAS_ENFORCED, c.status == "True", c.reason.clone(), c.message.clone())),
            );
            d
        }
    };
    s.conditions = conditions::merge(&stored.conditions, &desired, generation, now);
    s
}

fn proxy_status(err: &AdminError) -> &'static str {
    if err.is_unreachable() { PROXY_UNREACHABLE } else { PROXY_ERROR }
}

/// The quota entries of the request's `config.metadata`, for the QuotasEnforced condition's
/// message.
fn quota_summary(obj: &PrismNamespace) -> Option<String> {
    let m = build::metadata(&Metadata::of(&obj.spec));
    let quotas: Vec<String> =
        m.iter().filter_map(|(k, v)| k.strip_prefix("quota.").map(|k| format!("{k}={v}"))).collect();
    (!quotas.is_empty()).then(|| quotas.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(generation: i64, status: Option<PrismNamespaceStatus>) -> PrismNamespace {
        let mut o: PrismNamespace = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
            "metadata": {"name": "t", "namespace": "ns", "generation": generation},
            "spec": {"namespaceId": "t", "proxyRef": {"name": "s"}, "quotas": {"maxKeys": 5}}
        }))
        .expect("ns");
        o.status = status;
        o
    }

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).expect("time")
    }

    fn synced() -> Outcome {
        Outcome::Synced {
            endpoint: "http://a:1".into(),
            response: CreateNamespaceResponse {
                success: true,
                message: String::new(),
                assigned_partition: 3,
                assigned_proxy: "proxy-1".into(),
            },
        }
    }

    #[test]
    fn events_announce_a_new_generation_once_and_a_new_problem_once() {
        let first = obj(1, None);
        let provisioned = events(&first, &synced());
        assert_eq!(provisioned.len(), 1);
        assert_eq!((provisioned[0].warning, provisioned[0].reason.as_str()), (false, "Provisioned"));
        assert!(provisioned[0].note.contains("generation 1"), "{}", provisioned[0].note);
        // The same generation synced again: nothing to announce.
        let stored = next(&first, &synced(), at(0));
        assert!(events(&obj(1, Some(stored.clone())), &synced()).is_empty());
        assert_eq!(events(&obj(2, Some(stored.clone())), &synced()).len(), 1);

        let missing = Outcome::Unresolved(conditions::Invalid { reason: "ProxyNotFound", message: "no stack".into() });
        assert_eq!(
            events(&obj(2, Some(stored)), &missing),
            [Notice::warning("ProxyNotFound", "Provision", "no stack")]
        );
        let failing = next(&obj(2, None), &missing, at(1));
        assert!(events(&obj(2, Some(failing)), &missing).is_empty(), "the same problem is not announced twice");
        assert!(
            events(
                &first,
                &Outcome::AdminFailed(AdminError::Unreachable { endpoint: "e".into(), message: "m".into() })
            )
            .is_empty()
        );
    }

    #[test]
    fn success_is_remembered_and_makes_the_generation_synced() {
        let s = next(&obj(1, None), &synced(), at(0));
        assert_eq!(s.phase, Some(NamespacePhase::Active));
        assert_eq!(s.provisioned_at, Some(Time(at(0))));
        assert_eq!((s.assigned_partition, s.assigned_proxy.as_deref()), (Some(3), Some("proxy-1")));
        assert_eq!(s.proxy_status.as_deref(), Some(PROXY_READY));
        let q = s.conditions.iter().find(|c| c.type_ == QUOTAS_ENFORCED).expect("quotas");
        assert_eq!((q.status.as_str(), q.reason.as_str()), ("True", "QuotasApplied"));
        assert!(q.message.contains("maxKeys=5"));
        assert!(is_synced(&obj(1, Some(s.clone()))));
        assert!(!is_synced(&obj(2, Some(s.clone()))), "a spec change re-syncs");
        // A re-sync keeps the first provisioning time.
        let again = next(&obj(2, Some(s)), &synced(), at(60));
        assert_eq!(again.provisioned_at, Some(Time(at(0))));
        assert_eq!(again.last_synced_at, Some(Time(at(60))));
        assert_eq!(again.observed_generation, Some(2));
    }

    #[test]
    fn failures_are_conditions() {
        let down = AdminError::Unreachable { endpoint: "http://a:1".into(), message: "connection refused".into() };
        let s = next(&obj(1, None), &Outcome::AdminFailed(down.clone()), at(0));
        assert_eq!(s.phase, Some(NamespacePhase::Failed));
        assert_eq!(s.proxy_status.as_deref(), Some(PROXY_UNREACHABLE));
        let p = s.conditions.iter().find(|c| c.type_ == PROVISIONED).expect("provisioned");
        assert_eq!((p.status.as_str(), p.reason.as_str()), ("False", "AdminUnreachable"));
        assert!(!is_synced(&obj(1, Some(s))));
        let refused = AdminError::Refused {
            endpoint: "e".into(),
            method: "CreateNamespace",
            code: "ResourceExhausted".into(),
            message: "quota".into(),
        };
        let s = next(&obj(1, None), &Outcome::AdminFailed(refused), at(0));
        assert_eq!(s.proxy_status.as_deref(), Some(PROXY_ERROR));
        let unresolved = Outcome::Unresolved(conditions::Invalid { reason: "StackNotFound", message: "m".into() });
        assert_eq!(next(&obj(1, None), &unresolved, at(0)).phase, Some(NamespacePhase::Pending));
        let active = next(&obj(1, None), &synced(), at(0));
        let s = next(&obj(1, Some(active)), &Outcome::Revoking(down), at(5));
        assert_eq!(s.phase, Some(NamespacePhase::Terminating));
        assert_eq!(s.conditions.len(), 2);
    }

    #[test]
    fn quotas_are_summarized_as_sent() {
        use super::super::validate::tests::{minimal, tenant};
        assert_eq!(quota_summary(&minimal()), None);
        assert_eq!(
            quota_summary(&tenant(json!({}))).as_deref(),
            Some("maxConnections=1000, maxKeys=100000, rateLimit.burstSize=2000, rateLimit.requestsPerSecond=1000")
        );
        let s = next(&minimal(), &synced(), at(0));
        let q = s.conditions.iter().find(|c| c.type_ == QUOTAS_ENFORCED).expect("quotas");
        assert_eq!(
            (q.status.as_str(), q.reason.as_str(), q.message.as_str()),
            ("True", "NoQuotas", "no quotas requested")
        );
        let s = next(&tenant(json!({})), &synced(), at(0));
        let q = s.conditions.iter().find(|c| c.type_ == QUOTAS_ENFORCED).expect("quotas");
        assert_eq!(
            q.message,
            "quotas sent to the admin: maxConnections=1000, maxKeys=100000, rateLimit.burstSize=2000, rateLimit.requestsPerSecond=1000"
        );
    }
}
