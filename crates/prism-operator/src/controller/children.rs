//! Applying the children of one kind for an owner: every wanted child is applied (skipped when
//! the cache shows it already matches), every other child of that kind the owner controls is
//! deleted.

use kube::{Api, Resource, ResourceExt, runtime::reflector::Store};

use super::Changes;
use crate::{
    apply::{self, controlled_by},
    error::Error,
};

/// Applies `desired` (if any) and sweeps the other children of this kind owned by `uid`.
pub async fn ensure<K>(
    api: &Api<K>,
    kind: &'static str,
    store: &Store<K>,
    desired: Option<K>,
    ns: &str,
    uid: &str,
    changes: &mut Changes,
) -> Result<(), Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    ensure_all(api, kind, store, desired.into_iter().collect(), &[], ns, uid, changes).await?;
    Ok(())
}

/// Applies every object of `desired` and sweeps the other children of this kind owned by `uid`,
/// except those named in `retain` (children of a component that cannot be reconciled right now
/// are left as they are). Returns the live objects, in the order given.
#[allow(clippy::too_many_arguments)]
pub async fn ensure_all<K>(
    api: &Api<K>,
    kind: &'static str,
    store: &Store<K>,
    desired: Vec<K>,
    retain: &[String],
    ns: &str,
    uid: &str,
    changes: &mut Changes,
) -> Result<Vec<K>, Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    let keep: Vec<String> = desired.iter().map(ResourceExt::name_any).chain(retain.iter().cloned()).collect();
    let mut live = Vec::with_capacity(desired.len());
    for obj in desired {
        let name = obj.name_any();
        let cached = store.find(|c| c.namespace().as_deref() == Some(ns) && c.name_any() == name);
        let (outcome, applied) = apply::apply(api, kind, obj, cached.as_deref()).await?;
        changes.record(kind, &name, outcome);
        live.push(applied);
    }
    let owned: Vec<K> = store
        .state()
        .iter()
        .filter(|c| c.namespace().as_deref() == Some(ns) && controlled_by(c.as_ref(), uid))
        .map(|c| (**c).clone())
        .collect();
    for name in apply::sweep(api, kind, &owned, |n| keep.iter().any(|k| k == n)).await? {
        changes.record_deleted(kind, &name);
    }
    Ok(live)
}
