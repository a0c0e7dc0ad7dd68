//! What one controller watches, set up one way: the primary kind's cache (objects it cannot
//! decode are skipped and reported, see [`caches::guarded_cache`]), the caches of the children it
//! owns (a change reconciles the child's controller owner), and other kinds whose changes map to
//! the primaries that refer to them. Every stream is retried with the watch backoff, its failures
//! logged once per episode and kept away from the controller (which would pause all its triggers
//! on any error). A controller starts once every cache but KEDA's holds its first list.

use std::{fmt::Debug, sync::Arc};

use futures::{StreamExt, future::BoxFuture, stream::BoxStream};
use kube::{
    Api, Client, Resource,
    api::{ApiResource, DynamicObject},
    core::DeserializeGuard,
    runtime::{
        Controller, WatchStreamExt, predicates,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use serde::de::DeserializeOwned;

use super::{
    Scope,
    caches::{self, CacheRole, Phased, without_errors},
    children::Owned,
    keda_watch,
};
use crate::context::{Context, Synced};

/// A namespaced kind known at compile time, as the caches and controllers hold it.
pub trait NamespacedKind:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
}

impl<K> NamespacedKind for K where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
{
}

/// A change to one trigger of the controller under construction.
type Trigger<K> = Box<dyn FnOnce(Controller<K>) -> Controller<K> + Send>;

/// The watches of the controller of `K`, collected before it starts ([`Watches::start`]).
pub struct Watches<K: NamespacedKind> {
    base: Arc<Context>,
    scope: Scope,
    primary: Store<K>,
    events: BoxStream<'static, Result<K, watcher::Error>>,
    triggers: Vec<Trigger<K>>,
    caches: Vec<BoxFuture<'static, ()>>,
    keda: bool,
}

impl<K> Watches<K>
where
    K: NamespacedKind + Phased,
{
    /// The watches of a controller of every `K` in `scope`.
    pub fn new(base: &Arc<Context>, scope: &Scope) -> Self {
        let (primary, events) = caches::guarded_cache(
            scope.api::<DeserializeGuard<K>>(&base.client),
            watcher::Config::default(),
            CacheRole::Primary(base.clone()),
        );
        Self {
            base: base.clone(),
            scope: scope.clone(),
            caches: vec![caches::wait(primary.clone())],
            primary,
            events: events.boxed(),
            triggers: Vec::new(),
            keda: false,
        }
    }

    /// Reconciles a primary only when its generation changes, not on its status writes (for a
    /// kind whose reconcile reads nothing back from its own status).
    pub fn generation_changes_only(mut self) -> Self {
        self.events = self.events.predicate_filter(predicates::generation, Default::default()).boxed();
        self
    }

    fn client(&self) -> &Client {
        &self.base.client
    }

    /// The children of kind `C` matching `config`.
    pub fn owns<C>(&mut self, config: &watcher::Config) -> Owned<C>
    where
        C: NamespacedKind + caches::Slim,
    {
        let (store, events) = caches::cache(self.scope.api::<C>(self.client()), config.clone());
        self.caches.push(caches::wait(store.clone()));
        self.triggers.push(Box::new(move |c| c.owns_stream(without_errors(events))));
        Owned::typed(store)
    }

    /// The children of one of the operator's own kinds `C` matching `config` (those it cannot
    /// decode are skipped; `C`'s own controller reports them).
    pub fn owns_guarded<C>(&mut self, config: &watcher::Config) -> Owned<C>
    where
        C: NamespacedKind + Phased,
    {
        let (store, events) = self.guarded::<C>(config);
        self.triggers.push(Box::new(move |c| c.owns_stream(without_errors(events))));
        Owned::typed(store)
    }

    /// The KEDA children `resource` matching `config`, reached with `api`: the cache fills once
    /// KEDA is installed (it is not waited for), and every primary is reconciled when KEDA comes
    /// or goes.
    pub fn owns_keda(
        &mut self,
        resource: ApiResource,
        config: &watcher::Config,
        api: fn(Client, &str) -> Api<DynamicObject>,
    ) -> Owned<DynamicObject> {
        let kind = resource.kind.clone();
        let dyntype = resource.clone();
        let (store, events) = keda_watch::cache(
            self.scope.dynamic_api(self.client(), &resource),
            config.clone(),
            self.base.keda.clone(),
            resource.clone(),
        );
        self.keda = true;
        self.triggers.push(Box::new(move |c| c.owns_stream_with(without_errors(events), resource)));
        Owned::new(store, kind.into(), dyntype, api)
    }

    /// A cache of one of the operator's own kinds `C` matching `config`, whose changes reconcile
    /// the primaries `map` names (given the primaries' cache).
    pub fn watches_guarded<C>(
        &mut self,
        config: &watcher::Config,
        map: impl Fn(&Store<K>, C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Store<C>
    where
        C: NamespacedKind + Phased,
    {
        let (store, events) = self.guarded::<C>(config);
        let primaries = self.primary.clone();
        self.triggers.push(Box::new(move |c| c.watches_stream(without_errors(events), move |o| map(&primaries, o))));
        store
    }

    /// A cache of the KEDA objects `resource` matching `config` (cluster-wide when `cluster`),
    /// filled once KEDA is installed, whose changes reconcile the primaries `map` names.
    pub fn watches_keda(
        &mut self,
        resource: ApiResource,
        config: &watcher::Config,
        cluster: bool,
        map: impl Fn(&Store<K>, DynamicObject) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) -> Store<DynamicObject> {
        let api = if cluster {
            Api::all_with(self.client().clone(), &resource)
        } else {
            self.scope.dynamic_api(self.client(), &resource)
        };
        let (store, events) = keda_watch::cache(api, config.clone(), self.base.keda.clone(), resource.clone());
        let primaries = self.primary.clone();
        self.keda = true;
        self.triggers.push(Box::new(move |c| {
            c.watches_stream_with(without_errors(events), move |o| map(&primaries, o), resource)
        }));
        store
    }

    /// Changes of `C` in `api` (not cached: e.g. a metadata-only watch of Secrets), which
    /// reconcile the primaries `map` names.
    pub fn watches_uncached<C>(
        &mut self,
        api: Api<C>,
        map: impl Fn(&Store<K>, C) -> Vec<ObjectRef<K>> + Send + Sync + 'static,
    ) where
        C: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static,
    {
        let events = caches::summarized(
            C::kind(&()).into_owned(),
            watcher(api, watcher::Config::default()).backoff(crate::backoff::watch_backoff()),
        )
        .touched_objects();
        let primaries = self.primary.clone();
        self.triggers.push(Box::new(move |c| c.watches_stream(without_errors(events), move |o| map(&primaries, o))));
    }

    fn guarded<C>(
        &mut self,
        config: &watcher::Config,
    ) -> (Store<C>, impl futures::Stream<Item = Result<C, watcher::Error>> + Send + 'static)
    where
        C: NamespacedKind + Phased,
    {
        let (store, events) = caches::guarded_cache(
            self.scope.api::<DeserializeGuard<C>>(self.client()),
            config.clone(),
            CacheRole::Secondary,
        );
        self.caches.push(caches::wait(store.clone()));
        (store, events)
    }

    /// The controller, with every watch as a trigger, at most `concurrency` reconciles at once;
    /// and the future its reconciles await, which resolves once the caches hold their first list.
    pub fn start(self, concurrency: u16) -> (Controller<K>, Synced) {
        let synced = self.base.track_sync(K::kind(&()), self.caches);
        let mut controller = controller(self.events, self.primary, concurrency);
        for trigger in self.triggers {
            controller = trigger(controller);
        }
        if self.keda {
            controller = controller.reconcile_all_on(keda_watch::changes(self.base.keda.clone()));
        }
        (controller, synced)
    }
}

/// The controller of a primary kind: triggered by `events` (from its guarded cache), at most
/// `concurrency` reconciles at once, its trigger streams retried on the watch schedule.
fn controller<K: NamespacedKind>(
    events: impl futures::Stream<Item = Result<K, watcher::Error>> + Send + 'static,
    store: Store<K>,
    concurrency: u16,
) -> Controller<K> {
    Controller::for_stream(events, store)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .trigger_backoff(crate::backoff::watch_backoff())
}
