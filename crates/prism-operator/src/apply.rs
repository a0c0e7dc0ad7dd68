//! Server-side apply of child objects under the operator's one field manager, skipped when the
//! cached child already holds everything the operator wants; and the sweep of children the
//! current spec no longer asks for.
//!
//! Skipping no-op applies is what makes a converged cluster see zero writes: an apply that
//! changes nothing is still a write request. Each applied object carries the hash of its desired
//! form ([`APPLIED_HASH_ANNOTATION`]), so when the operator stops setting a field the hash changes
//! and the next apply removes it.
//!
//! Writes read nothing first: each apply is conditioned on the object being as the cache shows
//! it (absent, or at the cached `resourceVersion`). Only a conflict, which means the cache was
//! behind or the name is taken by an object the label-filtered cache does not show, costs a read.

use std::fmt::Debug;

use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    applied_fields, canonical,
    error::{Error, Kind},
    naming::{APPLIED_FIELDS_ANNOTATION, APPLIED_HASH_ANNOTATION},
};

/// What [`apply`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The child did not exist and was created.
    Created,
    /// The child differed from the desired form and was updated.
    Updated,
    /// The child already matched; nothing was sent.
    Unchanged,
}

/// Applies `desired` unless `cached` already contains it. Returns the outcome and the live object
/// (the API server's answer, or the cached copy when nothing was sent).
pub async fn apply<K>(api: &Api<K>, kind: &Kind, desired: K, cached: Option<&K>) -> Result<(Outcome, K), Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    match plan(kind, desired, cached)? {
        Plan::Unchanged(live) => Ok((Outcome::Unchanged, live)),
        Plan::Write(write) => write.send(api).await,
    }
}

/// What applying a child takes, decided from the cache alone (no request).
pub enum Plan<K> {
    /// The cached child already holds everything wanted: nothing to send. The cached copy.
    Unchanged(K),
    /// A write is needed.
    Write(Write<K>),
}

/// A write of one child, conditioned on the object being as the cache showed it.
pub struct Write<K> {
    kind: Kind,
    name: String,
    /// The desired object, carrying its hash.
    desired: K,
    /// `desired` as JSON, to compare live objects with.
    want: serde_json::Value,
    /// The controlling owner's uid, if `desired` has one.
    owner_uid: Option<String>,
    /// The cached `resourceVersion` ([`ABSENT`] if the cache has no such object).
    expected: String,
}

/// Decides from `cached` whether `desired` needs writing. Fails if the cached object with that
/// name belongs to someone else: never take over an object someone else made that happens to bear
/// the child's name (an apply with force would, and garbage collection would later delete it).
pub fn plan<K>(kind: &Kind, mut desired: K, cached: Option<&K>) -> Result<Plan<K>, Error>
where
    K: Resource + Clone + Serialize,
{
    let serialize = |source| Error::SerializeChild { kind: kind.clone(), source };
    let digest = canonical::hash(&desired).map_err(serialize)?;
    desired.annotations_mut().insert(APPLIED_HASH_ANNOTATION.to_owned(), digest);
    let want = serde_json::to_value(&desired).map_err(serialize)?;
    let owner_uid = desired.meta().owner_references.iter().flatten().find(|r| r.controller == Some(true));
    let write = Write {
        kind: kind.clone(),
        name: desired.name_any(),
        owner_uid: owner_uid.map(|o| o.uid.clone()),
        expected: cached.and_then(|c| c.meta().resource_version.clone()).unwrap_or_else(|| ABSENT.to_owned()),
        desired,
        want,
    };
    if let Some(c) = cached {
        if write.matches(c)? {
            return Ok(Plan::Unchanged(c.clone()));
        }
        if !write.ours(c) {
            return Err(Error::NotOwned { kind: write.kind, name: write.name });
        }
    }
    Ok(Plan::Write(write))
}

impl<K> Write<K>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    /// The child's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends the write. Returns the outcome and the live object.
    ///
    /// The write is conditioned on the object being as the cache showed it: absent, or at the
    /// cached resourceVersion. That needs no read first. A conflict means the cache was behind (a
    /// child created or changed since, or someone else's object with that name, which the
    /// label-filtered cache never shows): only then is the object read, and the decision made on
    /// what the API server holds.
    pub async fn send(self, api: &Api<K>) -> Result<(Outcome, K), Error> {
        let Self { kind, name, .. } = &self;
        let outcome = if self.expected == ABSENT { Outcome::Created } else { Outcome::Updated };
        match conditional_apply(api, &self.desired, Some(&self.expected)).await {
            Ok(live) => return Ok(applied(kind, name, outcome, live)),
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(source) => return Err(Error::ApplyChild { kind: kind.clone(), name: name.clone(), source }),
        }
        // A consistent read: the conflict came from storage, which the API server's watch cache
        // may not show yet.
        let failed = |source| Error::ApplyChild { kind: kind.clone(), name: name.clone(), source };
        let live = api.get_opt(name).await.map_err(failed)?;
        let (expected, outcome) = match &live {
            None => (Some(ABSENT), Outcome::Created),
            Some(live) if !self.ours(live) => return Err(Error::NotOwned { kind: kind.clone(), name: name.clone() }),
            Some(live) if self.matches(live)? => return Ok((Outcome::Unchanged, live.clone())),
            // Ours: the controllers updating its status meanwhile must not fail the write.
            Some(_) => (None, Outcome::Updated),
        };
        // A second conflict (someone created the object meanwhile) fails the reconcile, which
        // retries.
        let live = conditional_apply(api, &self.desired, expected).await.map_err(failed)?;
        Ok(applied(kind, name, outcome, live))
    }
}

impl<K: Resource + Serialize> Write<K> {
    /// Whether `obj` already holds everything wanted.
    fn matches(&self, obj: &K) -> Result<bool, Error> {
        // A cached child without its body: the digest of the fields the operator applied to it.
        if let Some(have) = obj.meta().annotations.as_ref().and_then(|a| a.get(APPLIED_FIELDS_ANNOTATION)) {
            return Ok(applied_fields::of_desired(&self.want).as_ref() == Some(have));
        }
        let have =
            serde_json::to_value(obj).map_err(|source| Error::SerializeChild { kind: self.kind.clone(), source })?;
        Ok(canonical::contains(&have, &self.want))
    }

    /// Whether `obj` is ours to write (controlled by the desired object's owner, if it has one).
    fn ours(&self, obj: &K) -> bool {
        self.owner_uid.as_deref().is_none_or(|uid| controlled_by(obj, uid))
    }
}

/// The `resourceVersion` precondition of a create: no stored object has it (etcd's first
/// revision predates every object a cluster's users make), so an apply carrying it creates the
/// object if it is absent and fails with a conflict if it exists. The API server clears it from
/// what it stores.
const ABSENT: &str = "1";

/// Server-side apply of `desired` under the operator's field manager, on the condition (if any)
/// that the stored object has `resource_version` ([`ABSENT`]: that there is none).
async fn conditional_apply<K>(api: &Api<K>, desired: &K, resource_version: Option<&str>) -> Result<K, kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let mut desired = desired.clone();
    desired.meta_mut().resource_version = resource_version.map(str::to_owned);
    let params = PatchParams::apply(prism_api::FIELD_MANAGER).force();
    api.patch(&desired.name_any(), &params, &Patch::Apply(&desired)).await
}

fn applied<K>(kind: &Kind, name: &str, outcome: Outcome, live: K) -> (Outcome, K) {
    tracing::debug!(kind = %kind, %name, ?outcome, "applied");
    (outcome, live)
}

/// Deletes every object in `owned` that `keep` rejects. Returns the names deleted.
pub async fn sweep<K>(api: &Api<K>, kind: &Kind, owned: &[K], keep: impl Fn(&str) -> bool) -> Result<Vec<String>, Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut deleted = Vec::new();
    for obj in owned {
        let name = obj.name_any();
        if keep(&name) || obj.meta().deletion_timestamp.is_some() {
            continue;
        }
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => deleted.push(name),
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(source) => return Err(Error::DeleteChild { kind: kind.clone(), name, source }),
        }
    }
    Ok(deleted)
}

/// Whether `child` is controlled by the object with `owner_uid`.
pub fn controlled_by<K: Resource>(child: &K, owner_uid: &str) -> bool {
    child.meta().owner_references.iter().flatten().any(|r| r.controller == Some(true) && r.uid == owner_uid)
}
