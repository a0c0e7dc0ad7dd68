//! The PrismPattern controller: one runner Deployment, an optional Service, and an HPA or a KEDA
//! ScaledObject per PrismPattern.
//!
//! Reconcile is a short pipeline: resolve (cache reads) -> validate (pure) -> build (pure) ->
//! apply (server-side apply of what differs, sweep of what is no longer wanted) -> status (written
//! only when it changed). Watches drive reconciles; nothing is requeued on a timer.

pub mod build;
mod status;
pub mod validate;

use std::sync::Arc;

use futures::FutureExt;
use k8s_openapi::{
    api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service},
    jiff::Timestamp,
};
use kube::{
    Resource, ResourceExt,
    api::DynamicObject,
    runtime::{
        controller::Action,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use prism_api::v1alpha1::{KedaTrigger, PrismBackend, PrismPattern};
use tracing::{debug, info, instrument, warn};

use self::validate::{BackendConfig, Resolved};
use super::{
    Scope,
    children::{Applier, Owned},
    deferred::Deferred,
    keda_watch,
    watches::Watches,
};
use crate::conditions::Invalid;
use crate::{
    autoscaling::{self, Authentications, KedaRefs, TriggerBackend},
    conditions,
    context::{Context, Synced},
    error::Error,
    keda, naming,
};

/// The controller's view of the cluster: caches of the children and of PrismBackends.
pub struct Ctx {
    base: Arc<Context>,
    synced: Synced,
    deployments: Owned<Deployment>,
    services: Owned<Service>,
    /// Service writes: they wait on the API server's ClusterIP allocator, so they do not hold a
    /// reconcile slot.
    service_writes: Deferred<Service, PrismPattern>,
    hpas: Owned<HorizontalPodAutoscaler>,
    scaled_objects: Owned<DynamicObject>,
    backends: Store<PrismBackend>,
    /// Every TriggerAuthentication in scope and every ClusterTriggerAuthentication (once KEDA is
    /// installed), to check the triggers' references.
    trigger_auths: Store<DynamicObject>,
    cluster_trigger_auths: Store<DynamicObject>,
}

/// Runs the PrismPattern controller until `shutdown` resolves.
pub async fn run(
    base: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let owned = watcher::Config::default().labels(&naming::runner_children_selector());
    let every = watcher::Config::default();
    let mut watches = Watches::<PrismPattern>::new(&base, &scope);
    let deployments = watches.owns(&owned);
    let services = watches.owns(&owned);
    let hpas = watches.owns(&owned);
    let scaled_objects = watches.owns_keda(keda::scaled_object_resource(), &owned, keda::scaled_objects);
    let backends = watches.watches_guarded(&every, |patterns, backend: PrismBackend| {
        let (name, ns) = (backend.name_any(), backend.namespace());
        referring(patterns, ns.as_deref(), |p| uses_backend(p, &name))
    });
    let trigger_auths = watches.watches_keda(keda::trigger_authentication_resource(), &every, false, |patterns, ta| {
        let (name, ns) = (ta.name_any(), ta.namespace());
        referring(patterns, ns.as_deref(), |p| {
            triggers_of(p).is_some_and(|t| autoscaling::referenced(t).0.contains(&name))
        })
    });
    let cluster_trigger_auths =
        watches.watches_keda(keda::cluster_trigger_authentication_resource(), &every, true, |patterns, cta| {
            let name = cta.name_any();
            patterns
                .state()
                .into_iter()
                .filter(|p| triggers_of(p).is_some_and(|t| autoscaling::referenced(t).1.contains(&name)))
                .map(|p| ObjectRef::from_obj(&*p))
                .collect()
        });
    let (controller, synced) = watches.start(concurrency);
    let (service_writes, written) = Deferred::new(controller.store(), concurrency.into());
    let controller = controller.reconcile_on(written);
    let ctx = Arc::new(Ctx {
        base,
        synced,
        deployments,
        services,
        service_writes,
        hpas,
        scaled_objects,
        backends,
        trigger_auths,
        cluster_trigger_auths,
    });
    super::log_results(controller.graceful_shutdown_on(shutdown).run(reconcile, error_policy, ctx)).await;
}

#[instrument(skip_all, fields(namespace = pattern.namespace().unwrap_or_default(), name = %pattern.name_any()))]
async fn reconcile(pattern: Arc<PrismPattern>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.synced.clone().await;
    let _timer = ctx.base.metrics.reconcile("PrismPattern");
    let started = std::time::Instant::now();
    let ns = pattern.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let owner = pattern.controller_owner_ref(&()).ok_or(Error::MissingObjectKey("uid"))?;
    let key = ObjectRef::from_obj(&*pattern);
    keda_caches_ready(&ctx, &pattern).await;
    let resolved = resolve(&ctx, &pattern, &ns);
    let applier = Applier::new(&ctx.base.client, &ns, &owner.uid);
    let mut autoscaler_failed = None;
    let observed = match validate::validate(&pattern, &ns, owner.clone(), &resolved, &ctx.base.defaults) {
        Ok(valid) => {
            let children = build::build(&valid);
            match apply_children(&ctx, &applier, &key, children).await {
                Ok((deployment, applied)) => {
                    debug!(elapsed = ?started.elapsed(), "children applied");
                    let autoscaler =
                        keda_watch::live_autoscaler(&ctx.hpas, &ctx.scaled_objects, &ns, &pattern.name_any());
                    let mut observed = status::observe(&valid, Some(&deployment), &autoscaler);
                    if let Err(e) = applied {
                        // The API server (e.g. KEDA's admission webhook) refused the autoscaler: say
                        // so in the status too, then fail the reconcile for its Event and backoff.
                        status::autoscaler_refused(&mut observed, &e);
                        autoscaler_failed = Some(e);
                    }
                    observed
                }
                // Applying the same child again cannot succeed: report it (condition, Event) and
                // wait for the spec or the child to change instead of retrying on a timer.
                Err(e) => match e.rejected_child() {
                    Some(message) => {
                        ctx.base.metrics.failure("PrismPattern", conditions::CHILD_REJECTED);
                        warn!(%message, "child rejected by the API server; waiting for a change");
                        let cached = ctx.deployments.get(&ObjectRef::new(&pattern.name_any()).within(&ns));
                        let rejected = Invalid { reason: conditions::CHILD_REJECTED, message };
                        status::invalid(&rejected, cached.as_deref())
                    }
                    None => return Err(e),
                },
            }
        }
        Err(invalid) => {
            // Leave running children alone: a bad edit must not take the runners down.
            let cached = ctx.deployments.get(&ObjectRef::new(&pattern.name_any()).within(&ns));
            status::invalid(&invalid, cached.as_deref())
        }
    };
    // The Event and the status write are independent too. While a Service write is in flight both
    // wait for it: one Event then names every child created, and the status never reports a
    // pattern Running whose Service may yet be refused (its name taken, the API server rejecting
    // it). The reconcile the write's end triggers publishes them.
    let Some(changes) = ctx.service_writes.settle(&key, ctx.services.kind(), applier.into_changes()) else {
        debug!(elapsed = ?started.elapsed(), "children applied; the Service write is in flight");
        return Ok(Action::await_change());
    };
    let ((), written) = tokio::join!(changes.publish(&ctx.base, &*pattern), write_status(&ctx, &pattern, observed));
    written?;
    if let Some(e) = autoscaler_failed {
        return Err(e);
    }
    debug!(elapsed = ?started.elapsed(), "reconciled");
    ctx.base.reset_backoff(&Context::key(&*pattern));
    Ok(Action::await_change())
}

fn error_policy(pattern: Arc<PrismPattern>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.base.on_error(pattern, err, None)
}

/// The patterns in `ns` for which `refers` holds.
fn referring(
    patterns: &Store<PrismPattern>,
    ns: Option<&str>,
    refers: impl Fn(&PrismPattern) -> bool,
) -> Vec<ObjectRef<PrismPattern>> {
    patterns
        .state()
        .into_iter()
        .filter(|p| p.namespace().as_deref() == ns && refers(p))
        .map(|p| ObjectRef::from_obj(&*p))
        .collect()
}

/// The pattern's KEDA triggers, if it has any.
fn triggers_of(pattern: &PrismPattern) -> Option<&[KedaTrigger]> {
    pattern.spec.autoscaling.as_ref().and_then(|a| a.triggers.as_deref())
}

/// Whether the pattern uses the PrismBackend `name` (its `backendConfig` or a trigger's `backendRef`).
fn uses_backend(pattern: &PrismPattern, name: &str) -> bool {
    pattern.spec.backend_config.as_ref().is_some_and(|r| r.name == name)
        || triggers_of(pattern).into_iter().flatten().any(|t| t.backend_ref.as_ref().is_some_and(|b| b.name == name))
}

/// Cache reads only: the backend connection, KEDA's presence and what the triggers reference.
fn resolve(ctx: &Ctx, pattern: &PrismPattern, ns: &str) -> Resolved {
    let backend = match &pattern.spec.backend_config {
        None => BackendConfig::None,
        Some(r) if r.namespace_or(ns) != ns => {
            BackendConfig::OtherNamespace { namespace: r.namespace_or(ns).to_owned() }
        }
        Some(r) => match ctx.backends.get(&ObjectRef::new(&r.name).within(ns)) {
            Some(b) => BackendConfig::Found {
                name: r.name.clone(),
                hash: b.status.as_ref().and_then(|s| s.config_hash.clone()),
            },
            None => BackendConfig::Missing { name: r.name.clone() },
        },
    };
    Resolved { backend, keda: keda_refs(ctx, triggers_of(pattern).unwrap_or_default(), ns) }
}

/// How long a reconcile waits for the KEDA caches' first list before going on without checking
/// trigger references (they fill in about a second; a missing permission would keep them empty).
const KEDA_CACHE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits (bounded) until the TriggerAuthentication caches hold their first list, when the pattern
/// references any and KEDA is installed: a reference checked against an empty cache would read as
/// missing, and one not checked would let a ScaledObject be created that KEDA can only fail on.
async fn keda_caches_ready(ctx: &Ctx, pattern: &PrismPattern) {
    let (namespaced, cluster) = autoscaling::referenced(triggers_of(pattern).unwrap_or_default());
    if !ctx.base.keda_installed() || (namespaced.is_empty() && cluster.is_empty()) {
        return;
    }
    let both = async {
        let _ = ctx.trigger_auths.wait_until_ready().await;
        let _ = ctx.cluster_trigger_auths.wait_until_ready().await;
    };
    if tokio::time::timeout(KEDA_CACHE_WAIT, both).await.is_err() {
        tracing::warn!("the TriggerAuthentication caches are not filled yet: trigger references are not checked");
    }
}

/// What the caches show of the objects `triggers` reference. References are checked only once
/// both KEDA caches hold their first list: an operator that just started must not take down a
/// working ScaledObject because its cache is still empty.
fn keda_refs(ctx: &Ctx, triggers: &[KedaTrigger], ns: &str) -> KedaRefs {
    let installed = ctx.base.keda_installed();
    let ready = |s: &Store<DynamicObject>| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok());
    let (namespaced, cluster) = autoscaling::referenced(triggers);
    let authentications = (installed && ready(&ctx.trigger_auths) && ready(&ctx.cluster_trigger_auths)).then(|| {
        let ta = keda::trigger_authentication_resource();
        let cta = keda::cluster_trigger_authentication_resource();
        Authentications {
            namespaced: namespaced
                .into_iter()
                .filter(|n| ctx.trigger_auths.get(&ObjectRef::new_with(n, ta.clone()).within(ns)).is_some())
                .collect(),
            cluster: cluster
                .into_iter()
                .filter(|n| ctx.cluster_trigger_auths.get(&ObjectRef::new_with(n, cta.clone())).is_some())
                .collect(),
        }
    });
    let backends = triggers
        .iter()
        .filter_map(|t| t.backend_ref.as_ref())
        .filter_map(|b| {
            let found = ctx.backends.get(&ObjectRef::new(&b.name).within(ns))?;
            let tls = found.spec.tls.as_ref().and_then(|t| t.enabled).unwrap_or(false);
            Some((b.name.clone(), TriggerBackend { provider: found.spec.provider, tls }))
        })
        .collect();
    KedaRefs { installed, authentications, backends }
}

/// Applies every child that differs from its desired form and deletes the children no longer
/// wanted. Returns the live Deployment, and apart from it how applying the autoscaler went (a
/// refused autoscaler must not hide the status of a Deployment that runs).
async fn apply_children(
    ctx: &Ctx,
    applier: &Applier<'_>,
    key: &ObjectRef<PrismPattern>,
    children: build::Children,
) -> Result<(Deployment, Result<(), Error>), Error> {
    // The Deployment and the Service do not depend on each other: apply them at once (a
    // reconcile that creates them takes one round of requests); the Service write goes on
    // without this reconcile. Every outcome is recorded, even when a sibling failed, so that the
    // Events match what was done.
    let (live, service) = tokio::join!(
        applier.apply(&ctx.deployments, children.deployment),
        applier.ensure_deferred(&ctx.services, &ctx.service_writes, key, children.service)
    );
    let live = live?;
    service?;
    // The autoscalers come after the Deployment they scale, and the one no longer wanted goes
    // before the one wanted is applied: KEDA's admission webhook reads the Deployment (for
    // cpu/memory triggers) and refuses a ScaledObject while another HPA targets it, and two HPAs
    // on one Deployment (ours and KEDA's) would fight.
    let hpa = async || applier.ensure(&ctx.hpas, children.hpa.clone()).await.map(drop);
    let scaled_object = async || {
        if !ctx.base.keda_installed() {
            return Ok(());
        }
        applier.ensure(&ctx.scaled_objects, children.scaled_object.clone()).await.map(drop)
    };
    let autoscaler = if children.scaled_object.is_some() {
        match hpa().await {
            Ok(()) => scaled_object().await,
            e => e,
        }
    } else {
        match scaled_object().await {
            Ok(()) => hpa().await,
            e => e,
        }
    };
    Ok((live, autoscaler))
}

async fn write_status(ctx: &Ctx, pattern: &PrismPattern, observed: status::Observed) -> Result<(), Error> {
    let stored = pattern.status.as_ref();
    let next = status::next(stored, &observed, pattern.metadata.generation, Timestamp::now());
    if conditions::write(&ctx.base, pattern, stored, &next, status::events(stored, &observed)).await? {
        info!(phase = ?observed.phase, "status updated");
    }
    Ok(())
}
