//! Reads for a PrismStack reconcile, from the caches only: what the validate step needs (KEDA's
//! presence), and what the status step observes of the children when applying them stopped.

use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Resource,
    runtime::reflector::{ObjectRef, Store},
};
use prism_api::v1alpha1::{PrismBackend, PrismPattern};

use super::Ctx;
use crate::{autoscaling::KedaRefs, context::Context};

/// What the reconcile read from the cluster before validating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// KEDA's presence. The proxy's trigger references are not checked here (KEDA reports a
    /// missing one on the ScaledObject, and the stack shows it through `AutoscalingReady`).
    pub keda: KedaRefs,
}

/// The reads the validate step needs.
pub fn resolve(base: &Context) -> Resolved {
    Resolved { keda: KedaRefs::unchecked(base.keda_installed()) }
}

/// What the apply step saw of the children the status depends on.
pub struct Live {
    /// The proxy Deployment.
    pub proxy: Option<Deployment>,
    /// The admin Deployment.
    pub admin: Option<Deployment>,
    /// The child PrismPatterns.
    pub patterns: Vec<PrismPattern>,
    /// The child PrismBackends.
    pub backends: Vec<PrismBackend>,
}

/// What the caches show of the children the status depends on, when applying them stopped.
pub(super) fn cached_live(ctx: &Ctx, ns: &str, uid: &str, proxy: &str, admin: &str) -> Live {
    let deployment = |name: &str| ctx.deployments.get(&ObjectRef::new(name).within(ns)).map(|d| (*d).clone());
    Live {
        proxy: deployment(proxy),
        admin: deployment(admin),
        patterns: owned_by(&ctx.patterns, ns, uid),
        backends: owned_by(&ctx.backends, ns, uid),
    }
}

/// The objects in `store` in namespace `ns` that the owner with `uid` owns.
fn owned_by<K: Resource + Clone>(store: &Store<K>, ns: &str, uid: &str) -> Vec<K>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .state()
        .iter()
        .filter(|o| o.meta().namespace.as_deref() == Some(ns))
        .filter(|o| o.meta().owner_references.as_ref().is_some_and(|r| r.iter().any(|r| r.uid == uid)))
        .map(|o| (**o).clone())
        .collect()
}
