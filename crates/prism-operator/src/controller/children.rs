//! Applying an owner's children: [`Owned`] is the cache of one kind of child (and how to reach
//! that kind in the API), [`Applier`] applies the children of one owner and records what it
//! changed. Every wanted child is applied (skipped when the cache shows it already matches); every
//! other child of that kind the owner controls is deleted.

use std::sync::Mutex;

use kube::{
    Api, Client, Resource, ResourceExt,
    runtime::reflector::{ObjectRef, Store},
};

use super::{
    Changes,
    deferred::{Deferred, Taken},
};
use crate::{
    apply::{self, Plan, controlled_by},
    error::{Error, Kind},
};

/// The cache of one kind of child: the store (what [`Applier`] compares with before writing,
/// and sweeps), the kind's name, and how to reach the kind in a namespace. Derefs to the store.
pub struct Owned<K: Resource + 'static>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store: Store<K>,
    kind: Kind,
    dyntype: K::DynamicType,
    api: fn(Client, &str) -> Api<K>,
}

impl<K: Resource + 'static> Owned<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    /// The cache `store` of children of `kind`, reached with `api`.
    pub fn new(store: Store<K>, kind: Kind, dyntype: K::DynamicType, api: fn(Client, &str) -> Api<K>) -> Self {
        Self { store, kind, dyntype, api }
    }

    /// The kind of the children.
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

impl<K> Owned<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>,
{
    /// The cache `store` of a kind known at compile time.
    pub fn typed(store: Store<K>) -> Self {
        Self::new(store, K::kind(&()), (), |client, ns| Api::namespaced(client, ns))
    }
}

impl<K: Resource + 'static> std::ops::Deref for Owned<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    type Target = Store<K>;

    fn deref(&self) -> &Store<K> {
        &self.store
    }
}

/// Applies the children of one owner (in `namespace`, controlled by `owner_uid`) and records
/// what changed. Its methods take `&self`, so independent kinds can be applied at once.
pub struct Applier<'a> {
    client: &'a Client,
    namespace: &'a str,
    owner_uid: &'a str,
    changes: Mutex<Changes>,
}

impl<'a> Applier<'a> {
    /// An applier for the children in `namespace` of the owner with `owner_uid`.
    pub fn new(client: &'a Client, namespace: &'a str, owner_uid: &'a str) -> Self {
        Self { client, namespace, owner_uid, changes: Mutex::default() }
    }

    /// Applies `desired` unless the cache shows it already matches. Returns the live object.
    pub async fn apply<K>(&self, owned: &Owned<K>, desired: K) -> Result<K, Error>
    where
        K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let name = desired.name_any();
        let key = ObjectRef::new_with(&name, owned.dyntype.clone()).within(self.namespace);
        let cached = owned.get(&key);
        let api = (owned.api)(self.client.clone(), self.namespace);
        let (outcome, live) = apply::apply(&api, &owned.kind, desired, cached.as_deref()).await?;
        self.record(|c| c.record(&owned.kind, &name, outcome));
        Ok(live)
    }

    /// Applies `desired` (if any) and deletes the other children of its kind.
    pub async fn ensure<K>(&self, owned: &Owned<K>, desired: Option<K>) -> Result<Option<K>, Error>
    where
        K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        Ok(self.ensure_all(owned, desired.into_iter().collect(), &[]).await?.pop())
    }

    /// Applies every object of `desired` and deletes the other children of their kind, except
    /// those named in `retain` (children of a component that cannot be reconciled right now are
    /// left as they are). Returns the live objects, in the order given.
    pub async fn ensure_all<K>(&self, owned: &Owned<K>, desired: Vec<K>, retain: &[String]) -> Result<Vec<K>, Error>
    where
        K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let keep: Vec<String> = desired.iter().map(ResourceExt::name_any).chain(retain.iter().cloned()).collect();
        let mut live = Vec::with_capacity(desired.len());
        for obj in desired {
            live.push(self.apply(owned, obj).await?);
        }
        self.sweep(owned, &keep).await?;
        Ok(live)
    }

    /// Like [`Applier::ensure`], but a write of `desired` runs in a task of `deferred` instead
    /// of holding the reconcile: this reconcile sends it and goes on; the one its end triggers
    /// takes its result (and fails if it failed). While it is in flight nothing is sent again.
    pub async fn ensure_deferred<K, O>(
        &self,
        owned: &Owned<K>,
        deferred: &Deferred<K, O>,
        owner: &ObjectRef<O>,
        desired: Option<K>,
    ) -> Result<(), Error>
    where
        K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
        O: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
    {
        let keep: Vec<String> = desired.iter().map(ResourceExt::name_any).collect();
        if let Some(obj) = desired {
            let name = obj.name_any();
            // What the write returned is at least as new as the cache, which may not show it yet.
            let known = match deferred.take(owner, &name) {
                Taken::InFlight => return self.sweep(owned, &keep).await,
                Taken::Done(result) => {
                    let (outcome, live) = result?;
                    self.record(|c| c.record(&owned.kind, &name, outcome));
                    Some(live)
                }
                Taken::Idle => {
                    let key = ObjectRef::new_with(&name, owned.dyntype.clone()).within(self.namespace);
                    owned.get(&key).map(|c| (*c).clone())
                }
            };
            if let Plan::Write(write) = apply::plan(&owned.kind, obj, known.as_ref())? {
                deferred.spawn(owner.clone(), write, (owned.api)(self.client.clone(), self.namespace));
            }
        }
        self.sweep(owned, &keep).await
    }

    /// Deletes the children of `owned`'s kind this owner controls, except those named in `keep`.
    async fn sweep<K>(&self, owned: &Owned<K>, keep: &[String]) -> Result<(), Error>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + 'static,
        K::DynamicType: Eq + std::hash::Hash + Clone,
    {
        let others: Vec<K> = owned
            .state()
            .iter()
            .filter(|c| c.namespace().as_deref() == Some(self.namespace) && controlled_by(c.as_ref(), self.owner_uid))
            .map(|c| (**c).clone())
            .collect();
        let api = (owned.api)(self.client.clone(), self.namespace);
        let deleted = apply::sweep(&api, &owned.kind, &others, |n| keep.iter().any(|k| k == n)).await?;
        self.record(|c| deleted.iter().for_each(|name| c.record_deleted(&owned.kind, name)));
        Ok(())
    }

    /// The namespace of the children.
    pub fn namespace(&self) -> &str {
        self.namespace
    }

    /// What this applier changed so far.
    pub fn into_changes(self) -> Changes {
        self.changes.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, f: impl FnOnce(&mut Changes)) {
        f(&mut self.changes.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    }
}
