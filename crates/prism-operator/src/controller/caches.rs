//! The operator's watch caches: objects trimmed of what no reconcile reads, the operator's own
//! kinds guarded against objects their types cannot decode, watch failures logged once per
//! episode and kept away from the controllers.

use kube::{Api, Resource, runtime::events::EventType};
use serde::de::DeserializeOwned;

use crate::context::Context;

/// Logs a watch's failures once per episode: the first error of a run of them at WARN (`watch
/// failing`), the rest at DEBUG, and the first success after them at INFO (`watch recovered`,
/// with their count). During an API server outage each watch says so once, not on every retry.
pub fn summarized<T, S>(
    kind: String,
    stream: S,
) -> impl futures::Stream<Item = Result<T, kube::runtime::watcher::Error>> + Send
where
    S: futures::Stream<Item = Result<T, kube::runtime::watcher::Error>> + Send,
{
    use futures::StreamExt;
    let mut failures: u64 = 0;
    stream.map(move |item| {
        match &item {
            Err(err) if failures == 0 => {
                failures = 1;
                tracing::warn!(kind = %kind, error = %err, "watch failing; retrying with backoff (further errors at debug level)");
            }
            Err(err) => {
                failures += 1;
                tracing::debug!(kind = %kind, error = %err, failures, "watch still failing");
            }
            Ok(_) if failures > 0 => {
                tracing::info!(kind = %kind, failures, "watch recovered");
                failures = 0;
            }
            Ok(_) => {}
        }
        item
    })
}

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
            // Already logged by the watch's own summary (see [`summarized`]).
            Err(_) => None,
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

/// What the cache of a child kind keeps of each child's body.
///
/// Most of the operator's memory at scale is its caches of the children of every PrismPattern;
/// most of a child is a body no reconcile reads (a Deployment's pod template, with the API
/// server's defaults). Whether a child needs applying is decided by comparing it with what the
/// operator wants: for kinds that [`Slim::SLIMS`], the caches keep the digest of the fields the
/// operator applied instead ([`crate::applied_fields`], under
/// [`APPLIED_FIELDS_ANNOTATION`](crate::naming::APPLIED_FIELDS_ANNOTATION)) and drop the body.
/// A child the operator never applied keeps its body (and its comparison by body).
pub trait Slim: Resource + serde::Serialize {
    /// Whether the kind's body is dropped (kinds whose body a reconcile reads keep it).
    const SLIMS: bool = false;

    /// Drops what no reconcile reads beyond the metadata.
    fn slim(&mut self) {}
}

/// Kinds whose cached children keep their bodies (one or a few per stack or backend).
macro_rules! keeps_body {
    ($($kind:ty),*) => {$( impl Slim for $kind {} )*};
}
keeps_body!(
    k8s_openapi::api::core::v1::ConfigMap,
    k8s_openapi::api::core::v1::Secret,
    k8s_openapi::api::core::v1::ServiceAccount,
    k8s_openapi::api::policy::v1::PodDisruptionBudget,
    k8s_openapi::api::rbac::v1::Role,
    k8s_openapi::api::rbac::v1::RoleBinding
);

/// A reconcile reads a Deployment's `spec.replicas` (the autoscaler's last word) and status.
impl Slim for k8s_openapi::api::apps::v1::Deployment {
    const SLIMS: bool = true;

    fn slim(&mut self) {
        if let Some(spec) = self.spec.as_mut() {
            *spec = k8s_openapi::api::apps::v1::DeploymentSpec { replicas: spec.replicas, ..Default::default() };
        }
    }
}

/// A reconcile reads nothing of a Service's body.
impl Slim for k8s_openapi::api::core::v1::Service {
    const SLIMS: bool = true;

    fn slim(&mut self) {
        self.spec = None;
        self.status = None;
    }
}

/// A reconcile reads an HPA's status conditions.
impl Slim for k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler {
    const SLIMS: bool = true;

    fn slim(&mut self) {
        self.spec = None;
        if let Some(status) = self.status.as_mut() {
            status.current_metrics = None;
        }
    }
}

/// [`trim`]s `obj` and, for a kind that [`Slim::SLIMS`] and a child the operator applied, replaces
/// its body with the digest of the fields it applied. An annotation of that name that came from
/// the API server (someone set it) is dropped: only this function sets it.
pub fn keep<K: Slim>(obj: &mut K) {
    use crate::naming::APPLIED_FIELDS_ANNOTATION;
    let digest = if K::SLIMS {
        serde_json::to_value(&*obj)
            .ok()
            .and_then(|json| crate::applied_fields::of_live(&json, prism_api::FIELD_MANAGER))
    } else {
        None
    };
    trim(obj);
    if let Some(annotations) = obj.meta_mut().annotations.as_mut() {
        annotations.remove(APPLIED_FIELDS_ANNOTATION);
    }
    if let Some(digest) = digest {
        obj.slim();
        obj.meta_mut().annotations.get_or_insert_default().insert(APPLIED_FIELDS_ANNOTATION.to_owned(), digest);
    }
}

/// A cache of the children `K` in `api` filtered by `config`, each [`keep`]: the store, and the
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
    K: Slim + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone + Send + Sync,
{
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (store, writer) = reflector::store();
    let stream = summarized(
        K::kind(&K::DynamicType::default()).into_owned(),
        watcher(api, config).backoff(crate::backoff::watch_backoff()),
    )
    .modify(keep)
    .reflect(writer)
    .touched_objects();
    (store, stream)
}

/// What a [`guarded_cache`] does besides caching.
#[derive(Clone)]
pub enum CacheRole {
    /// The kind's own controller's cache: reports the objects it cannot decode (a warning, the
    /// gauge, one Warning Event per version) and counts the objects by phase
    /// (`prism_operator_resources{kind,phase}`).
    Primary(std::sync::Arc<Context>),
    /// Another controller's cache of the kind: skips what it cannot decode silently (the kind's
    /// own controller reports it).
    Secondary,
}

/// The phase an object of the operator's kinds reports (`Unknown` before its first status).
pub trait Phased {
    /// The phase as the API spells it.
    fn phase_name(&self) -> String;
}

fn phase_name<P: serde::Serialize>(phase: Option<P>) -> String {
    phase
        .and_then(|p| serde_json::to_value(p).ok())
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// `Phased` for kinds whose status has an optional `phase`.
macro_rules! phased {
    ($($kind:ty),*) => {$(
        impl Phased for $kind {
            fn phase_name(&self) -> String {
                phase_name(self.status.as_ref().and_then(|s| s.phase))
            }
        }
    )*};
}
phased!(
    prism_api::v1alpha1::PrismPattern,
    prism_api::v1alpha1::PrismStack,
    prism_api::v1alpha1::PrismBackend,
    prism_api::v1alpha1::PrismNamespace
);

/// [`cache`] for the operator's own kinds. An object stored in a shape the types cannot decode
/// (written under an older or looser schema) would otherwise fail the whole list, and the
/// controller would never sync: it is left out instead (and reported, see [`CacheRole`]), so
/// every other object keeps reconciling; it comes back once it is fixed.
pub fn guarded_cache<K>(
    api: Api<kube::core::DeserializeGuard<K>>,
    config: kube::runtime::watcher::Config,
    role: CacheRole,
) -> (
    kube::runtime::reflector::Store<K>,
    impl futures::Stream<Item = Result<K, kube::runtime::watcher::Error>> + Send + 'static,
)
where
    K: Resource<DynamicType = ()> + Phased + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, reflector, watcher};
    let (store, writer) = reflector::store();
    let mut state = GuardState::default();
    let stream = summarized(K::kind(&()).into_owned(), watcher(api, config).backoff(crate::backoff::watch_backoff()))
        .filter_map(move |event| futures::future::ready(decoded(event, &role, &mut state)))
        .modify(trim)
        .reflect(writer)
        .touched_objects();
    (store, stream)
}

/// What a [`guarded_cache`] remembers between events.
#[derive(Default)]
struct GuardState {
    /// resourceVersion last reported as undecodable, by `namespace/name`.
    reported: std::collections::HashMap<String, String>,
    /// The objects listed since the watch (re)started, while it lists.
    listing: Option<std::collections::HashSet<String>>,
}

/// The watch event with its object decoded, or `None` (after reporting) when it cannot be.
fn decoded<K>(
    event: Result<kube::runtime::watcher::Event<kube::core::DeserializeGuard<K>>, kube::runtime::watcher::Error>,
    role: &CacheRole,
    state: &mut GuardState,
) -> Option<Result<kube::runtime::watcher::Event<K>, kube::runtime::watcher::Error>>
where
    K: Resource<DynamicType = ()> + Phased,
{
    use kube::runtime::watcher::Event;
    let kind = K::kind(&());
    let mut check = |guard: kube::core::DeserializeGuard<K>, deleted: bool| -> Option<K> {
        let meta = kube::Resource::meta(&guard);
        let key =
            format!("{}/{}", meta.namespace.as_deref().unwrap_or_default(), meta.name.as_deref().unwrap_or_default());
        let CacheRole::Primary(ctx) = role else { return guard.0.ok() };
        if let Some(listing) = state.listing.as_mut() {
            listing.insert(key.clone());
        }
        match (guard.0, deleted) {
            (Ok(obj), false) => {
                if state.reported.remove(&key).is_some() {
                    ctx.metrics.undecodable(&kind, obj.meta(), false);
                }
                ctx.metrics.observe_phase(&kind, &key, &obj.phase_name());
                Some(obj)
            }
            (Ok(obj), true) => {
                ctx.metrics.forget_phase(&kind, &key);
                Some(obj)
            }
            (Err(invalid), true) => {
                state.reported.remove(&key);
                ctx.metrics.undecodable(&kind, &invalid.metadata, false);
                None
            }
            (Err(invalid), false) => {
                let version = invalid.metadata.resource_version.clone().unwrap_or_default();
                if state.reported.insert(key, version.clone()).as_ref() != Some(&version) {
                    report::<K>(ctx, invalid);
                }
                None
            }
        }
    };
    let event = match event {
        Err(e) => return Some(Err(e)),
        Ok(Event::Apply(g)) => Event::Apply(check(g, false)?),
        Ok(Event::InitApply(g)) => Event::InitApply(check(g, false)?),
        Ok(Event::Delete(g)) => Event::Delete(check(g, true)?),
        Ok(Event::Init) => {
            state.listing = Some(Default::default());
            Event::Init
        }
        Ok(Event::InitDone) => {
            // Objects deleted while the watch was down get no Delete event: forget what the new
            // list did not show.
            if let (Some(listed), CacheRole::Primary(ctx)) = (state.listing.take(), role) {
                ctx.metrics.retain_phases(&kind, |key| listed.contains(key));
            }
            Event::InitDone
        }
    };
    Some(Ok(event))
}

/// Logs, counts and (in the background) publishes a Warning Event on an object that cannot be
/// decoded.
fn report<K: Resource<DynamicType = ()>>(
    ctx: &std::sync::Arc<Context>,
    invalid: kube::core::error_boundary::InvalidObject,
) {
    let kind = K::kind(&());
    let meta = &invalid.metadata;
    tracing::warn!(
        kind = %kind,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        error = %invalid.error,
        "cannot decode the object (stored under another schema?): skipped until it is fixed or deleted"
    );
    ctx.metrics.undecodable(&kind, meta, true);
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(kind.into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    };
    let note = format!("the operator cannot read this object and skips it until it is fixed: {}", invalid.error);
    let ctx = ctx.clone();
    tokio::spawn(async move {
        ctx.publish_to(&reference, EventType::Warning, "Undecodable", "Decode", note).await;
    });
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
