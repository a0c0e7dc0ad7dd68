//! Conditions and status writes: `lastTransitionTime` moves only when a condition's status
//! flips, and the status subresource is written only when it differs from what is stored.
//!
//! Each kind computes its next status with a pure `next` and the Events that change implies
//! ([`Notice`]s); [`write`] is the one writer for all of them.

use std::{collections::HashMap, sync::Mutex};

use k8s_openapi::{
    apimachinery::pkg::apis::meta::v1::{Condition, Time},
    jiff::Timestamp,
};
use kube::runtime::events::EventType;
use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use crate::error::Error;

/// Why an object cannot be reconciled as it stands: a condition reason and message, and a Warning
/// Event with the same text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// PascalCase reason.
    pub reason: &'static str,
    /// What is wrong, naming the field, and how to fix it.
    pub message: String,
}

/// A condition as the reconcile wants it, before timestamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Condition type, e.g. `Ready`.
    pub type_: &'static str,
    /// True or False.
    pub status: bool,
    /// PascalCase reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Desired {
    /// A condition.
    pub fn new(type_: &'static str, status: bool, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self { type_, status, reason: reason.into(), message: message.into() }
    }
}

/// `Ready=False` reason when the API server refused a child for what it is (see
/// `Error::rejected_child`): the owner is Failed until its spec (or the child) changes.
pub const CHILD_REJECTED: &str = "ChildRejected";

/// The conditions to store: each desired condition, keeping the stored `lastTransitionTime` when
/// its status did not change.
pub fn merge(stored: &[Condition], desired: &[Desired], generation: Option<i64>, now: Timestamp) -> Vec<Condition> {
    desired
        .iter()
        .map(|d| {
            let status = if d.status { "True" } else { "False" };
            let previous = stored.iter().find(|c| c.type_ == d.type_);
            let last_transition_time = match previous {
                Some(p) if p.status == status => p.last_transition_time.clone(),
                _ => Time(now),
            };
            Condition {
                type_: d.type_.to_owned(),
                status: status.to_owned(),
                reason: d.reason.clone(),
                message: d.message.clone(),
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

/// The desired conditions whose status or reason differ from what was stored: what deserves an
/// Event.
pub fn transitions<'a>(stored: &[Condition], desired: &'a [Desired]) -> Vec<&'a Desired> {
    desired
        .iter()
        .filter(|d| {
            let status = if d.status { "True" } else { "False" };
            !stored.iter().any(|c| c.type_ == d.type_ && c.status == status && c.reason == d.reason)
        })
        .collect()
}

/// The last status written per object (by uid). A reconcile may run on a cached copy that does
/// not show the operator's own latest status write yet; this memo keeps it from writing the same
/// status twice.
#[derive(Debug, Default)]
pub struct Memo {
    written: Mutex<HashMap<String, String>>,
}

impl Memo {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.written.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_written(&self, uid: &str, hash: &str) -> bool {
        self.lock().get(uid).is_some_and(|h| h == hash)
    }

    fn remember(&self, uid: &str, hash: String) {
        self.lock().insert(uid.to_owned(), hash);
    }

    /// Forgets objects that no longer exist (called with the uids still present).
    pub fn retain(&self, alive: impl Fn(&str) -> bool) {
        self.lock().retain(|uid, _| alive(uid));
    }

    /// Number of remembered objects.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An Event that a status change implies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// Warning (something needs attention) or Normal.
    pub warning: bool,
    /// PascalCase reason.
    pub reason: String,
    /// What the operator was doing (the Event's `action`), e.g. the condition type.
    pub action: String,
    /// The Event's message.
    pub note: String,
}

impl Notice {
    /// A Warning Event.
    pub fn warning(reason: impl Into<String>, action: impl Into<String>, note: impl Into<String>) -> Self {
        Self { warning: true, reason: reason.into(), action: action.into(), note: note.into() }
    }

    /// A Normal Event.
    pub fn normal(reason: impl Into<String>, action: impl Into<String>, note: impl Into<String>) -> Self {
        Self { warning: false, reason: reason.into(), action: action.into(), note: note.into() }
    }
}

/// Writes `next` as `obj`'s status unless it is already stored (see [`write_if_changed`]) and,
/// when it wrote, publishes the Events the change implies. Returns whether it wrote.
pub async fn write<K, S>(
    ctx: &crate::context::Context,
    obj: &K,
    stored: Option<&S>,
    next: &S,
    notices: Vec<Notice>,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    let ns = obj.meta().namespace.as_deref().ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<K> = Api::namespaced(ctx.client.clone(), ns);
    let written = write_if_changed(&api, &ctx.status_memo, obj, stored, next).await?;
    if written {
        for n in notices {
            let type_ = if n.warning { EventType::Warning } else { EventType::Normal };
            ctx.publish(obj, type_, &n.reason, &n.action, n.note).await;
        }
    }
    Ok(written)
}

/// The Warning Events of condition changes: every condition that turned False (or changed its
/// False reason), unless `is_progress` calls its reason ordinary progress.
pub fn warnings(stored: &[Condition], desired: &[Desired], is_progress: impl Fn(&str) -> bool) -> Vec<Notice> {
    transitions(stored, desired)
        .into_iter()
        .filter(|t| !t.status && !is_progress(&t.reason))
        .map(|t| Notice::warning(t.reason.clone(), t.type_, t.message.clone()))
        .collect()
}

/// Writes `status` to `obj`'s status subresource with server-side apply, unless it equals the
/// stored one (or the one this operator last wrote). Returns whether it wrote.
async fn write_if_changed<K, S>(
    api: &Api<K>,
    memo: &Memo,
    obj: &K,
    stored: Option<&S>,
    status: &S,
) -> Result<bool, Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    let uid = obj.meta().uid.clone().ok_or(Error::MissingObjectKey("uid"))?;
    let hash =
        crate::canonical::hash(status).map_err(|source| Error::SerializeChild { kind: "status".into(), source })?;
    if stored == Some(status) {
        memo.remember(&uid, hash);
        return Ok(false);
    }
    if memo.is_written(&uid, &hash) {
        return Ok(false);
    }
    let name = obj.meta().name.clone().ok_or(Error::MissingObjectKey("name"))?;
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&name, &PatchParams::apply(prism_api::FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(|source| Error::PatchStatus { source })?;
    memo.remember(&uid, hash);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: &str, reason: &str, at: Timestamp) -> Condition {
        Condition {
            type_: "Ready".into(),
            status: status.into(),
            reason: reason.into(),
            message: "m".into(),
            observed_generation: Some(1),
            last_transition_time: Time(at),
        }
    }

    #[test]
    fn transition_time_moves_only_when_status_flips() {
        let then = Timestamp::from_second(1_700_000_000).expect("time");
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let old = [stored("False", "DeploymentProgressing", then)];
        // Same status, new reason and message: time kept.
        let merged = merge(&old, &[Desired::new("Ready", false, "Degraded", "x")], Some(2), now);
        assert_eq!(merged[0].last_transition_time, Time(then));
        assert_eq!(merged[0].observed_generation, Some(2));
        // Status flips: time moves.
        let merged = merge(&old, &[Desired::new("Ready", true, "DeploymentReady", "ok")], Some(2), now);
        assert_eq!(merged[0].last_transition_time, Time(now));
    }

    #[test]
    fn transitions_are_status_or_reason_changes() {
        let then = Timestamp::from_second(1_700_000_000).expect("time");
        let old = [stored("False", "DeploymentProgressing", then)];
        let same = [Desired::new("Ready", false, "DeploymentProgressing", "other message")];
        assert!(transitions(&old, &same).is_empty());
        let changed = [Desired::new("Ready", false, "KEDANotInstalled", "m")];
        assert_eq!(transitions(&old, &changed).len(), 1);
        let new_type = [Desired::new("AutoscalingReady", true, "HPAReady", "m")];
        assert_eq!(transitions(&old, &new_type).len(), 1);
    }
}
