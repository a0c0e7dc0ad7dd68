//! The PrismStack controller: the proxy and admin (Deployments, Services, PodDisruptionBudgets,
//! the proxy's autoscaler, the admin's leader-election RBAC), one child PrismPattern per pattern
//! entry and one child PrismBackend per backend entry, and the stack's aggregated status.
//!
//! Same pipeline as the pattern controller: resolve (cache reads) -> validate (pure) -> build
//! (pure) -> apply what differs and sweep what is no longer wanted -> status if changed. Children
//! the stack does not control are never touched.

pub(crate) mod build;
mod leader_election;
mod status;
pub(crate) mod validate;

use std::sync::Arc;

use k8s_openapi::{
    api::{
        apps::v1::Deployment,
        autoscaling::v2::HorizontalPodAutoscaler,
        core::v1::{Service, ServiceAccount},
        policy::v1::PodDisruptionBudget,
        rbac::v1::{Role, RoleBinding},
    },
    jiff::Timestamp,
};
use kube::{
    Api, Resource, ResourceExt,
    api::DynamicObject,
    core::DeserializeGuard,
    runtime::{
        controller::Action,
        events::EventType,
        reflector::{ObjectRef, Store},
        watcher,
    },
};
use prism_api::v1alpha1::{PrismBackend, PrismPattern, PrismStack, PrismStackStatus};
use tracing::{info, instrument, warn};

use super::{CacheRole, Changes, Scope, children::ensure_all, keda_watch, wait};
use crate::{
    conditions,
    context::{Context, Synced},
    error::Error,
    keda, naming,
};

/// Caches of everything the stack controller owns.
pub struct Ctx {
    base: Arc<Context>,
    synced: Synced,
    deployments: Store<Deployment>,
    services: Store<Service>,
    hpas: Store<HorizontalPodAutoscaler>,
    scaled_objects: Store<DynamicObject>,
    pdbs: Store<PodDisruptionBudget>,
    service_accounts: Store<ServiceAccount>,
    roles: Store<Role>,
    role_bindings: Store<RoleBinding>,
    patterns: Store<PrismPattern>,
    backends: Store<PrismBackend>,
}

/// Runs the PrismStack controller until `shutdown` resolves.
pub async fn run(
    base: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let client = base.client.clone();
    let components = watcher::Config::default().labels(&naming::stack_children_selector());
    let managed = watcher::Config::default().labels(&naming::managed_selector());
    macro_rules! owned {
        ($kind:ty, $config:expr) => {
            super::cache(scope.api::<$kind>(&client), $config)
        };
    }
    let (deployments, deployment_events) = owned!(Deployment, components.clone());
    let (services, service_events) = owned!(Service, components.clone());
    let (hpas, hpa_events) = owned!(HorizontalPodAutoscaler, components.clone());
    let (pdbs, pdb_events) = owned!(PodDisruptionBudget, components.clone());
    let (service_accounts, sa_events) = owned!(ServiceAccount, components.clone());
    let (roles, role_events) = owned!(Role, components.clone());
    let (role_bindings, rb_events) = owned!(RoleBinding, components.clone());
    let (patterns, pattern_events) = super::guarded_cache(
        scope.api::<DeserializeGuard<PrismPattern>>(&client),
        managed.clone(),
        CacheRole::Secondary,
    );
    let (backends, backend_events) =
        super::guarded_cache(scope.api::<DeserializeGuard<PrismBackend>>(&client), managed, CacheRole::Secondary);
    let so_resource = keda::scaled_object_resource();
    let (scaled_objects, so_events) =
        keda_watch::scaled_objects(scope.dynamic_api(&client, &so_resource), components, base.keda.clone());

    let (stacks, stack_events) = super::guarded_cache(
        scope.api::<DeserializeGuard<PrismStack>>(&client),
        watcher::Config::default(),
        CacheRole::Primary(base.clone()),
    );
    let controller = super::controller(stack_events, stacks.clone(), concurrency);
    let synced = base.track_sync(
        "PrismStack",
        [wait(stacks), wait(deployments.clone()), wait(services.clone()), wait(hpas.clone()), wait(pdbs.clone())]
            .into_iter()
            .chain([wait(service_accounts.clone()), wait(roles.clone()), wait(role_bindings.clone())])
            .chain([wait(patterns.clone()), wait(backends.clone())])
            .collect(),
    );
    let ctx = Arc::new(Ctx {
        base: base.clone(),
        synced,
        deployments,
        services,
        hpas,
        scaled_objects,
        pdbs,
        service_accounts,
        roles,
        role_bindings,
        patterns,
        backends,
    });
    let results = controller
        .owns_stream(super::without_errors(deployment_events))
        .owns_stream(super::without_errors(service_events))
        .owns_stream(super::without_errors(hpa_events))
        .owns_stream(super::without_errors(pdb_events))
        .owns_stream(super::without_errors(sa_events))
        .owns_stream(super::without_errors(role_events))
        .owns_stream(super::without_errors(rb_events))
        .owns_stream(super::without_errors(pattern_events))
        .owns_stream(super::without_errors(backend_events))
        .owns_stream_with(super::without_errors(so_events), so_resource)
        .reconcile_all_on(keda_watch::changes(base.keda.clone()))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx);
    super::log_results(results).await;
}

#[instrument(skip_all, fields(namespace = stack.namespace().unwrap_or_default(), name = %stack.name_any()))]
async fn reconcile(stack: Arc<PrismStack>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.synced.clone().await;
    let _timer = ctx.base.metrics.reconcile("PrismStack");
    let ns = stack.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let owner = stack.controller_owner_ref(&()).ok_or(Error::MissingObjectKey("uid"))?;
    let valid = validate::validate(&stack, &ns, owner.clone(), ctx.base.keda_installed(), &ctx.base.defaults);
    let desired = build::build(&valid);
    let (proxy_name, admin_name) = (desired.proxy_name.clone(), desired.admin_name.clone());
    let mut changes = Changes::default();
    let mut rejected = None;
    let live = match apply_children(&ctx, &ns, &owner.uid, desired, &mut changes).await {
        Ok(live) => live,
        // Applying the same child again cannot succeed: report it (condition, Event) and wait for
        // the spec or the child to change instead of retrying on a timer.
        Err(e) => match e.rejected_child() {
            Some(message) => {
                ctx.base.metrics.failure("PrismStack", conditions::CHILD_REJECTED);
                warn!(%message, "child rejected by the API server; waiting for a change");
                rejected = Some(message);
                cached_live(&ctx, &ns, &owner.uid, &proxy_name, &admin_name)
            }
            None => return Err(e),
        },
    };
    let proxy_autoscaler = keda_watch::live_autoscaler(&ctx.hpas, &ctx.scaled_objects, &ns, &proxy_name);
    let mut observed = status::observe(
        &valid,
        live.proxy.as_ref(),
        live.admin.as_ref(),
        &live.patterns,
        &live.backends,
        &proxy_autoscaler,
    );
    if let Some(message) = rejected {
        status::rejected(&mut observed, message);
    }
    changes.publish(&ctx.base, &*stack).await;
    write_status(&ctx, &stack, &ns, observed).await?;
    ctx.base.reset_backoff(&Context::key(&*stack));
    Ok(Action::await_change())
}

fn error_policy(stack: Arc<PrismStack>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.base.on_error(stack, err, None)
}

/// What the apply step saw of the children the status depends on.
struct Live {
    proxy: Option<Deployment>,
    admin: Option<Deployment>,
    patterns: Vec<PrismPattern>,
    backends: Vec<PrismBackend>,
}

async fn apply_children(
    ctx: &Ctx,
    ns: &str,
    uid: &str,
    d: build::Children,
    changes: &mut Changes,
) -> Result<Live, Error> {
    let c = &ctx.base.client;
    let retain = &d.retain;
    // Backends first: patterns refer to their rendered connections.
    let backends =
        ensure_all(&Api::namespaced(c.clone(), ns), "PrismBackend", &ctx.backends, d.backends, &[], ns, uid, changes)
            .await?;
    let deployments = ensure_all(
        &Api::namespaced(c.clone(), ns),
        "Deployment",
        &ctx.deployments,
        d.deployments,
        retain,
        ns,
        uid,
        changes,
    )
    .await?;
    ensure_all(&Api::namespaced(c.clone(), ns), "Service", &ctx.services, d.services, retain, ns, uid, changes).await?;
    ensure_all(&Api::namespaced(c.clone(), ns), "PodDisruptionBudget", &ctx.pdbs, d.pdbs, retain, ns, uid, changes)
        .await?;
    ensure_all(&Api::namespaced(c.clone(), ns), "HorizontalPodAutoscaler", &ctx.hpas, d.hpas, retain, ns, uid, changes)
        .await?;
    if ctx.base.keda_installed() {
        let api = Api::namespaced_with(c.clone(), ns, &keda::scaled_object_resource());
        ensure_all(&api, "ScaledObject", &ctx.scaled_objects, d.scaled_objects, retain, ns, uid, changes).await?;
    }
    ensure_all(
        &Api::namespaced(c.clone(), ns),
        "ServiceAccount",
        &ctx.service_accounts,
        d.service_accounts,
        retain,
        ns,
        uid,
        changes,
    )
    .await?;
    ensure_all(&Api::namespaced(c.clone(), ns), "Role", &ctx.roles, d.roles, retain, ns, uid, changes).await?;
    ensure_all(
        &Api::namespaced(c.clone(), ns),
        "RoleBinding",
        &ctx.role_bindings,
        d.role_bindings,
        retain,
        ns,
        uid,
        changes,
    )
    .await?;
    let patterns =
        ensure_all(&Api::namespaced(c.clone(), ns), "PrismPattern", &ctx.patterns, d.patterns, &[], ns, uid, changes)
            .await?;
    let find = |name: &str| {
        deployments.iter().find(|x| x.name_any() == name).cloned().or_else(|| {
            // A component left alone (invalid placement) is observed from the cache.
            ctx.deployments.find(|x| x.namespace().as_deref() == Some(ns) && x.name_any() == name).map(|a| (*a).clone())
        })
    };
    Ok(Live { proxy: find(&d.proxy_name), admin: find(&d.admin_name), patterns, backends })
}

/// What the caches show of the children the status depends on, when applying them stopped.
fn cached_live(ctx: &Ctx, ns: &str, uid: &str, proxy: &str, admin: &str) -> Live {
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

async fn write_status(ctx: &Ctx, stack: &PrismStack, ns: &str, observed: status::Observed) -> Result<(), Error> {
    let stored = stack.status.clone().unwrap_or_default();
    let generation = stack.metadata.generation;
    let next = PrismStackStatus {
        phase: Some(observed.phase),
        observed_generation: generation,
        proxy: Some(observed.proxy),
        admin: observed.admin,
        patterns: Some(observed.patterns),
        backends: Some(observed.backends),
        conditions: conditions::merge(&stored.conditions, &observed.conditions, generation, Timestamp::now()),
    };
    let api: Api<PrismStack> = Api::namespaced(ctx.base.client.clone(), ns);
    if conditions::write_if_changed(&api, &ctx.base.status_memo, stack, stack.status.as_ref(), &next).await? {
        info!(phase = ?observed.phase, "status updated");
    }
    for t in conditions::transitions(&stored.conditions, &observed.conditions) {
        if !t.status && !status::is_progress(&t.reason) {
            ctx.base.publish(stack, EventType::Warning, &t.reason, t.type_, t.message.clone()).await;
        }
    }
    Ok(())
}
