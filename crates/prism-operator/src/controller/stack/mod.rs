//! The PrismStack controller: the proxy and admin (Deployments, Services, PodDisruptionBudgets,
//! the proxy's autoscaler, the admin's leader-election RBAC), one child PrismPattern per pattern
//! entry and one child PrismBackend per backend entry, and the stack's aggregated status.
//!
//! Same pipeline as the pattern controller: resolve (cache reads) -> validate (pure) -> build
//! (pure) -> apply what differs and sweep what is no longer wanted -> status if changed. Children
//! the stack does not control are never touched.

pub(crate) mod build;
mod leader_election;
mod resolve;
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
    Resource, ResourceExt,
    api::DynamicObject,
    runtime::{controller::Action, watcher},
};
use prism_api::v1alpha1::{PrismBackend, PrismPattern, PrismStack};
use tracing::{info, instrument, warn};

use self::resolve::Live;
use super::{
    Scope,
    children::{Applier, Owned},
    keda_watch,
    watches::Watches,
};
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
    deployments: Owned<Deployment>,
    services: Owned<Service>,
    hpas: Owned<HorizontalPodAutoscaler>,
    scaled_objects: Owned<DynamicObject>,
    pdbs: Owned<PodDisruptionBudget>,
    service_accounts: Owned<ServiceAccount>,
    roles: Owned<Role>,
    role_bindings: Owned<RoleBinding>,
    patterns: Owned<PrismPattern>,
    backends: Owned<PrismBackend>,
}

/// Runs the PrismStack controller until `shutdown` resolves.
pub async fn run(
    base: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let components = watcher::Config::default().labels(&naming::stack_children_selector());
    let managed = watcher::Config::default().labels(&naming::managed_selector());
    let mut watches = Watches::<PrismStack>::new(&base, &scope);
    let deployments = watches.owns(&components);
    let services = watches.owns(&components);
    let hpas = watches.owns(&components);
    let pdbs = watches.owns(&components);
    let service_accounts = watches.owns(&components);
    let roles = watches.owns(&components);
    let role_bindings = watches.owns(&components);
    let patterns = watches.owns_guarded(&managed);
    let backends = watches.owns_guarded(&managed);
    let scaled_objects = watches.owns_keda(keda::scaled_object_resource(), &components, keda::scaled_objects);
    let (controller, synced) = watches.start(concurrency);
    let ctx = Arc::new(Ctx {
        base,
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
    super::log_results(controller.graceful_shutdown_on(shutdown).run(reconcile, error_policy, ctx)).await;
}

#[instrument(skip_all, fields(namespace = stack.namespace().unwrap_or_default(), name = %stack.name_any()))]
async fn reconcile(stack: Arc<PrismStack>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.synced.clone().await;
    let _timer = ctx.base.metrics.reconcile("PrismStack");
    let ns = stack.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let owner = stack.controller_owner_ref(&()).ok_or(Error::MissingObjectKey("uid"))?;
    let resolved = resolve::resolve(&ctx.base);
    let valid = validate::validate(&stack, &ns, owner.clone(), &resolved, &ctx.base.defaults);
    let desired = build::build(&valid);
    let (proxy_name, admin_name) = (desired.proxy_name.clone(), desired.admin_name.clone());
    let applier = Applier::new(&ctx.base.client, &ns, &owner.uid);
    let mut rejected = None;
    let live = match apply_children(&ctx, &applier, desired).await {
        Ok(live) => live,
        // Applying the same child again cannot succeed: report it (condition, Event) and wait for
        // the spec or the child to change instead of retrying on a timer.
        Err(e) => match e.rejected_child() {
            Some(message) => {
                ctx.base.metrics.failure("PrismStack", conditions::CHILD_REJECTED);
                warn!(%message, "child rejected by the API server; waiting for a change");
                rejected = Some(message);
                resolve::cached_live(&ctx, &ns, &owner.uid, &proxy_name, &admin_name)
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
    applier.into_changes().publish(&ctx.base, &*stack).await;
    write_status(&ctx, &stack, observed).await?;
    ctx.base.reset_backoff(&Context::key(&*stack));
    Ok(Action::await_change())
}

fn error_policy(stack: Arc<PrismStack>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.base.on_error(stack, err, None)
}

async fn apply_children(ctx: &Ctx, applier: &Applier<'_>, d: build::Children) -> Result<Live, Error> {
    let retain = &d.retain;
    // Backends first: patterns refer to their rendered connections.
    let backends = applier.ensure_all(&ctx.backends, d.backends, &[]).await?;
    let deployments = applier.ensure_all(&ctx.deployments, d.deployments, retain).await?;
    applier.ensure_all(&ctx.services, d.services, retain).await?;
    applier.ensure_all(&ctx.pdbs, d.pdbs, retain).await?;
    applier.ensure_all(&ctx.hpas, d.hpas, retain).await?;
    if ctx.base.keda_installed() {
        applier.ensure_all(&ctx.scaled_objects, d.scaled_objects, retain).await?;
    }
    applier.ensure_all(&ctx.service_accounts, d.service_accounts, retain).await?;
    applier.ensure_all(&ctx.roles, d.roles, retain).await?;
    applier.ensure_all(&ctx.role_bindings, d.role_bindings, retain).await?;
    let patterns = applier.ensure_all(&ctx.patterns, d.patterns, &[]).await?;
    let ns = applier.namespace();
    let find = |name: &str| {
        deployments.iter().find(|x| x.name_any() == name).cloned().or_else(|| {
            // A component left alone (invalid placement) is observed from the cache.
            ctx.deployments.find(|x| x.namespace().as_deref() == Some(ns) && x.name_any() == name).map(|a| (*a).clone())
        })
    };
    Ok(Live { proxy: find(&d.proxy_name), admin: find(&d.admin_name), patterns, backends })
}

async fn write_status(ctx: &Ctx, stack: &PrismStack, observed: status::Observed) -> Result<(), Error> {
    let stored = stack.status.as_ref();
    let next = status::next(stored, &observed, stack.metadata.generation, Timestamp::now());
    if conditions::write(&ctx.base, stack, stored, &next, status::events(stored, &observed)).await? {
        info!(phase = ?observed.phase, "status updated");
    }
    Ok(())
}
