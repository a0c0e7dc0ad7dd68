//! The controllers, one module per custom resource kind, and what they share: the watch scope,
//! the record of what a reconcile changed, and KEDA detection.

pub mod backend;
pub mod children;
pub mod keda_watch;
pub mod namespace;
pub mod pattern;
pub mod stack;

use kube::{
    Api, Client, Resource,
    api::{ApiResource, DynamicObject},
    runtime::events::EventType,
};
use serde::de::DeserializeOwned;

use crate::{apply::Outcome, context::Context};

/// Which namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// One namespace.
    Namespace(String),
}

impl Scope {
    /// An Api for `K` in this scope.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        match self {
            Self::All => Api::all(client.clone()),
            Self::Namespace(ns) => Api::namespaced(client.clone(), ns),
        }
    }

    /// An Api for a dynamic, namespaced resource in this scope.
    pub fn dynamic_api(&self, client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
        match self {
            Self::All => Api::all_with(client.clone(), resource),
            Self::Namespace(ns) => Api::namespaced_with(client.clone(), ns, resource),
        }
    }
}

/// What one reconcile changed, published as one Event per kind of change.
#[derive(Debug, Default)]
pub struct Changes {
    /// Children created (`Kind name`).
    pub created: Vec<String>,
    /// Children updated because they drifted or the spec changed.
    pub updated: Vec<String>,
    /// Children deleted because the spec no longer asks for them.
    pub deleted: Vec<String>,
}

impl Changes {
    /// Records an apply outcome.
    pub fn record(&mut self, kind: &str, name: &str, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created.push(format!("{kind} {name}")),
            Outcome::Updated => self.updated.push(format!("{kind} {name}")),
            Outcome::Unchanged => {}
        }
    }

    /// Publishes Normal Events `Created`, `Updated` and `Deleted` for what changed.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, ctx: &Context, obj: &K) {
        for (reason, action, items) in [
            ("Created", "Apply", &self.created),
            ("Updated", "Apply", &self.updated),
            ("Deleted", "Sweep", &self.deleted),
        ] {
            if !items.is_empty() {
                let note = format!("{} {}", reason.to_lowercase(), items.join(", "));
                ctx.publish(obj, EventType::Normal, reason, action, note).await;
            }
        }
    }
}
