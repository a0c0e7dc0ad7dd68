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

/// Drops (after logging) the errors of an already backed-off watch stream before it joins a
/// controller's triggers: the controller pauses *all* of its triggers on any error, so after an
/// API server outage a dozen watches failing in turn would keep it paused far longer than any
/// one of them needs.
pub fn without_errors<K, S>(stream: S) -> impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send
where
    S: futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send,
    K: Send,
{
    use futures::StreamExt;
    stream.filter_map(|item| async move {
        match item {
            Ok(obj) => Some(Ok(obj)),
            Err(err) => {
                tracing::debug!(%err, "watch error; retrying with backoff");
                None
            }
        }
    })
}

/// The kubectl annotation holding a full copy of the last applied object.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile reads from an object before it is cached: `managedFields` (often the
/// largest part of a child) and kubectl's last-applied copy of the whole object. The caches hold
/// every PrismPattern and every child, so this is most of the operator's memory at scale.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
}

/// A cache of `K` in `api` filtered by `config`, with objects [`trim`]med: the store, and the
/// stream of changed objects that keeps it filled (it must be polled, e.g. as a controller
/// trigger).
pub fn cache<K>(
    api: Api<K>,
    config: kube::runtime::watcher::Config,
) -> (
    kube::runtime::reflector::Store<K>,
    impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static,
)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (store, writer) = reflector::store();
    let stream =
        watcher(api, config).backoff(crate::backoff::watch_backoff()).modify(trim).reflect(writer).touched_objects();
    (store, stream)
}

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

/// A future that resolves once `store` has seen its first complete list.
pub fn wait<K>(store: kube::runtime::reflector::Store<K>) -> futures::future::BoxFuture<'static, ()>
where
    K: kube::runtime::reflector::Lookup + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    Box::pin(async move {
        // A store's readiness is a oneshot that wakes only its latest waiter, and the controller
        // waits on the same store: poll again now and then instead of relying on the wake-up.
        while tokio::time::timeout(std::time::Duration::from_millis(250), store.wait_until_ready()).await.is_err() {}
        tracing::trace!(kind = std::any::type_name::<K>(), "cache ready");
    })
}

/// Which namespaces the operator watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every namespace.
    All,
    /// One namespace.
    Namespace(String),
    /// Several namespaces (one set of controllers each).
    Namespaces(Vec<String>),
}

impl Scope {
    /// The scope of `--namespaces a,b`: all namespaces when empty.
    pub fn from_list(namespaces: &[String]) -> Self {
        match namespaces {
            [] => Self::All,
            [one] => Self::Namespace(one.clone()),
            many => Self::Namespaces(many.to_vec()),
        }
    }

    /// Single-namespace (or all-namespace) scopes, one per set of controllers to run.
    pub fn split(&self) -> Vec<Self> {
        match self {
            Self::Namespaces(list) => list.iter().cloned().map(Self::Namespace).collect(),
            other => vec![other.clone()],
        }
    }

    /// The single namespace of this scope, if it is one.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Self::Namespace(ns) => Some(ns),
            _ => None,
        }
    }

    /// An Api for `K` in this scope.
    pub fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        match self {
            Self::Namespace(ns) => Api::namespaced(client.clone(), ns),
            // Several namespaces are split into one scope each before controllers start.
            Self::All | Self::Namespaces(_) => Api::all(client.clone()),
        }
    }

    /// An Api for a dynamic, namespaced resource in this scope.
    pub fn dynamic_api(&self, client: &Client, resource: &ApiResource) -> Api<DynamicObject> {
        match self {
            Self::Namespace(ns) => Api::namespaced_with(client.clone(), ns, resource),
            Self::All | Self::Namespaces(_) => Api::all_with(client.clone(), resource),
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

    /// Adds what another part of the same reconcile changed.
    pub fn extend(&mut self, other: Self) {
        self.created.extend(other.created);
        self.updated.extend(other.updated);
        self.deleted.extend(other.deleted);
    }

    /// Publishes Normal Events `Created`, `Updated` and `Deleted` for what changed, and counts
    /// the changes in the metrics.
    pub async fn publish<K: Resource<DynamicType = ()>>(&self, ctx: &Context, obj: &K) {
        let controller = K::kind(&());
        for (outcome, items) in [("created", &self.created), ("updated", &self.updated), ("deleted", &self.deleted)] {
            for item in items {
                let kind = item.split_once(' ').map_or(item.as_str(), |(k, _)| k);
                ctx.metrics.applied(&controller, kind, outcome, 1);
            }
        }
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

#[cfg(test)]
mod tests {
    use k8s_openapi::{
        api::apps::v1::Deployment,
        apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta},
    };

    use super::*;

    #[test]
    fn trim_drops_managed_fields_and_the_last_applied_copy_only() {
        let mut d = Deployment {
            metadata: ObjectMeta {
                name: Some("orders".to_owned()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("prism-operator".to_owned()),
                    ..Default::default()
                }]),
                annotations: Some(
                    [(LAST_APPLIED, "{...}"), ("prism.io/applied-hash", "abc")]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                ),
                ..Default::default()
            },
            ..Default::default()
        };
        trim(&mut d);
        assert_eq!(d.metadata.managed_fields, None);
        let annotations = d.metadata.annotations.expect("annotations kept");
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["prism.io/applied-hash"]);
        assert_eq!(d.metadata.name.as_deref(), Some("orders"));
    }
}
