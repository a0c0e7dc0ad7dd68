//! Server-side apply of child objects under the operator's one field manager, skipped when the
//! cached child already holds everything the operator wants; and the sweep of children the
//! current spec no longer asks for.
//!
//! Skipping no-op applies is what makes a converged cluster see zero writes: an apply that
//! changes nothing is still a write request. Each applied object carries the hash of its desired
//! form ([`APPLIED_HASH_ANNOTATION`]), so when the operator stops setting a field the hash changes
//! and the next apply removes it.

use std::fmt::Debug;

use kube::{
    Api, Resource, ResourceExt,
    api::{DeleteParams, GetParams, Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    canonical,
    error::{Error, Kind},
    naming::APPLIED_HASH_ANNOTATION,
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
pub async fn apply<K>(api: &Api<K>, kind: &Kind, mut desired: K, cached: Option<&K>) -> Result<(Outcome, K), Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
{
    let name = desired.name_any();
    let digest = canonical::hash(&desired).map_err(|source| Error::SerializeChild { kind: kind.clone(), source })?;
    desired.annotations_mut().insert(APPLIED_HASH_ANNOTATION.to_owned(), digest);
    let want = serde_json::to_value(&desired).map_err(|source| Error::SerializeChild { kind: kind.clone(), source })?;
    let matches = |obj: &K| -> Result<bool, Error> {
        let have = serde_json::to_value(obj).map_err(|source| Error::SerializeChild { kind: kind.clone(), source })?;
        Ok(canonical::contains(&have, &want))
    };
    // The cache may lag behind this operator's own last write (or not have seen a fresh child
    // yet), and it holds only objects with the operator's labels: before writing, confirm with the
    // API server that a write is needed and that no one else's object holds the name. That costs
    // a read only when a write is likely; a converged object never gets here. The read is served
    // from the API server's watch cache (`resourceVersion=0`), which feeds this operator's own
    // watches and so is never older than its cache, at a fraction of a quorum read's cost.
    let cached = match cached {
        Some(c) if matches(c)? => return Ok((Outcome::Unchanged, c.clone())),
        _ => match api.get_with(&name, &GetParams::any()).await {
            Ok(live) => Some(live),
            Err(kube::Error::Api(status)) if status.is_not_found() => None,
            Err(source) => return Err(Error::ApplyChild { kind: kind.clone(), name, source }),
        },
    };
    if let Some(live) = &cached {
        // Never take over an object someone else made that happens to bear the child's name
        // (server-side apply with force would, and garbage collection would later delete it).
        let owner = desired.meta().owner_references.iter().flatten().find(|r| r.controller == Some(true));
        if let Some(owner) = owner
            && !controlled_by(live, &owner.uid)
        {
            return Err(Error::NotOwned { kind: kind.clone(), name });
        }
        if matches(live)? {
            return Ok((Outcome::Unchanged, live.clone()));
        }
    }
    let params = PatchParams::apply(prism_api::FIELD_MANAGER).force();
    let live = api.patch(&name, &params, &Patch::Apply(&desired)).await.map_err(|source| Error::ApplyChild {
        kind: kind.clone(),
        name: name.clone(),
        source,
    })?;
    let outcome = if cached.is_some() { Outcome::Updated } else { Outcome::Created };
    tracing::debug!(kind = %kind, %name, ?outcome, "applied");
    Ok((outcome, live))
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
