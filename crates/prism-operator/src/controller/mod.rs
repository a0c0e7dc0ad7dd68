//! The controllers, one module per custom resource kind, and what they share: the watch scope
//! ([`Scope`]), the caches ([`caches`]), the one watch setup ([`watches`]), the one way to apply
//! children ([`children`]) and to keep slow ones from holding a reconcile ([`deferred`]), the record of what a reconcile changed ([`Changes`]), and KEDA
//! detection ([`keda_watch`]).

pub mod backend;
pub mod caches;
pub mod children;
pub mod deferred;
pub mod keda_watch;
pub mod namespace;
pub mod pattern;
mod scope;
#[cfg(test)]
mod snapshots;
pub mod stack;
pub mod watches;

pub use self::scope::Scope;

use kube::{Resource, runtime::events::EventType};

use crate::{apply::Outcome, context::Context};

/// Logs what a controller's run stream yields: successes at trace level, reconciles that did
/// not complete at debug level (their errors are already reported by the error policy).
pub async fn log_results<K, E, S>(results: S)
where
    K: Resource,
    E: std::fmt::Display,
    S: futures::Stream<Item = Result<(kube::runtime::reflector::ObjectRef<K>, kube::runtime::controller::Action), E>>,
{
    use futures::StreamExt;
    results
        .for_each(|result| async move {
            match result {
                Ok((obj, _)) => tracing::trace!(name = %obj.name, "reconciled"),
                Err(err) => tracing::debug!(%err, "reconcile did not complete"),
            }
        })
        .await;
}

/// One child: its kind and name.
pub type Child = (String, String);

/// What one reconcile changed, published as one Event per kind of change.
#[derive(Debug, Default)]
pub struct Changes {
    /// Children created.
    pub created: Vec<Child>,
    /// Children updated because they drifted or the spec changed.
    pub updated: Vec<Child>,
    /// Children deleted because the spec no longer asks for them.
    pub deleted: Vec<Child>,
}

impl Changes {
    /// Records an apply outcome.
    pub fn record(&mut self, kind: &str, name: &str, outcome: Outcome) {
        let child = (kind.to_owned(), name.to_owned());
        match outcome {
            Outcome::Created => self.created.push(child),
            Outcome::Updated => self.updated.push(child),
            Outcome::Unchanged => {}
        }
    }

    /// Adds what `other` changed, after what this holds.
    pub fn absorb(&mut self, other: Changes) {
        self.created.extend(other.created);
        self.updated.extend(other.updated);
        self.deleted.extend(other.deleted);
    }

    /// Records a child deleted by the sweep.
    pub fn record_deleted(&mut self, kind: &str, name: &str) {
        self.deleted.push((kind.to_owned(), name.to_owned()));
    }

    /// Publishes Normal Events `Created`, `Updated` and `Deleted` for what changed (`created
    /// Deployment orders, Service orders`), and counts the changes in the metrics.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, ctx: &Context, obj: &K) {
        let controller = K::kind(&());
        for (outcome, items) in [("created", &self.created), ("updated", &self.updated), ("deleted", &self.deleted)] {
            for (kind, _) in items {
                ctx.metrics.applied(&controller, kind, outcome, 1);
            }
        }
        for (reason, action, items) in [
            ("Created", "Apply", &self.created),
            ("Updated", "Apply", &self.updated),
            ("Deleted", "Sweep", &self.deleted),
        ] {
            if !items.is_empty() {
                let list: Vec<String> = items.iter().map(|(kind, name)| format!("{kind} {name}")).collect();
                let note = format!("{} {}", reason.to_lowercase(), list.join(", "));
                ctx.publish(obj, EventType::Normal, reason, action, note).await;
            }
        }
    }
}
