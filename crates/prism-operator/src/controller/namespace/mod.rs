//! The PrismNamespace controller: provisions each tenant namespace on the Prism admin over gRPC
//! (CreateNamespace), revokes it before deletion (RevokeNamespace, behind the finalizer
//! `prism.io/namespace-revoke`), and deletes expired namespaces (`spec.ttl`).
//!
//! Provisioning is idempotent although CreateNamespace is not: the status remembers the
//! generation last pushed (`observedGeneration` with `Provisioned=True`), so repeated reconciles
//! and operator restarts send nothing, and an "already exists" answer counts as success. A spec
//! change (new generation) sends the whole config again. The only timers are the TTL (a requeue
//! at the moment it runs out) and the per-object backoff of failures; a deletion whose admin stays
//! unreachable completes after the revoke grace period with a Warning Event.
//!
//! Provisioning is a short pipeline: resolve (GETs: the admin endpoint, the PrismPatterns and
//! their backends' rendered connections) -> validate (pure: the validated model, or why it
//! cannot be provisioned) -> build (pure: the CreateNamespaceRequest) -> the admin call ->
//! status (written only when it changed).

pub mod build;
pub mod lifecycle;
pub mod resolve;
pub mod status;
pub mod validate;

use std::{sync::Arc, time::Duration};

use k8s_openapi::jiff::Timestamp;
use kube::{
    Api, ResourceExt,
    api::DeleteParams,
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalizer},
        reflector::ObjectRef,
    },
};
use prism_api::v1alpha1::{PrismNamespace, PrismStack};
use tracing::{info, instrument, warn};

use self::status::Outcome;
use super::{Scope, watches::Watches};
use crate::{
    admin::{self, proto::NamespaceRevocation},
    conditions,
    context::Context,
    error::Error,
};

/// Default time a deletion waits for an unreachable admin before it completes anyway.
pub const DEFAULT_REVOKE_GRACE_PERIOD: Duration = Duration::from_secs(300);
/// `graceful_timeout_seconds` of RevokeNamespace (the admin's own default).
pub const REVOKE_GRACEFUL_TIMEOUT_SECONDS: i32 = 30;

/// Settings of the PrismNamespace controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Admin endpoint for every PrismNamespace without the `prism.io/admin-endpoint`
    /// annotation (out-of-cluster runs); None finds the admin from `proxyRef`.
    pub admin_endpoint: Option<String>,
    /// How long a deletion retries RevokeNamespace before removing the finalizer anyway.
    pub revoke_grace_period: Duration,
}

struct Ctx {
    base: Arc<Context>,
    settings: Settings,
}

/// Runs the PrismNamespace controller until `shutdown` resolves.
pub async fn run(
    base: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let mut watches = Watches::<PrismNamespace>::new(&base, &scope);
    watches.watches_uncached(scope.api::<PrismStack>(&base.client), |namespaces, stack| {
        let (name, ns) = (stack.name_any(), stack.namespace().unwrap_or_default());
        namespaces
            .state()
            .into_iter()
            .filter(|n| {
                let own = n.namespace().unwrap_or_default();
                n.spec.proxy_ref.namespace_or(&own) == ns
                    && validate::stack_candidates(&n.spec.proxy_ref.name).contains(&name)
            })
            .map(|n| ObjectRef::from_obj(&*n))
            .collect()
    });
    // No child caches: reconciles need not wait for the sync.
    let (controller, _synced) = watches.start(concurrency);
    let ctx = Arc::new(Ctx { base, settings });
    super::log_results(controller.graceful_shutdown_on(shutdown).run(reconcile, error_policy, ctx)).await;
}

#[instrument(skip_all, fields(namespace = obj.namespace().unwrap_or_default(), name = %obj.name_any()))]
async fn reconcile(obj: Arc<PrismNamespace>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let _timer = ctx.base.metrics.reconcile("PrismNamespace");
    let ns = obj.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let api: Api<PrismNamespace> = Api::namespaced(ctx.base.client.clone(), &ns);
    finalizer::finalizer(&api, prism_api::NAMESPACE_FINALIZER, obj, |event| async {
        match event {
            Finalizer::Apply(obj) => provision(&obj, &ctx, &ns).await,
            Finalizer::Cleanup(obj) => revoke(&obj, &ctx, &ns).await,
        }
    })
    .await
    .map_err(|err| match err {
        finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e,
        finalizer::Error::AddFinalizer(source) | finalizer::Error::RemoveFinalizer(source) => {
            Error::Finalizer { source }
        }
        finalizer::Error::UnnamedObject => Error::MissingObjectKey("name"),
        finalizer::Error::InvalidFinalizer => Error::MissingObjectKey("finalizer"),
    })
}

/// How long to wait before looking again: the backoff, but never past the TTL or the end of
/// the revoke grace period.
fn retry_delay(obj: &PrismNamespace, ctx: &Ctx) -> Duration {
    let now = Timestamp::now();
    let mut delay = ctx.base.next_backoff(&Context::key(obj));
    let deadline = match lifecycle::grace_deadline(obj, ctx.settings.revoke_grace_period) {
        Some(grace) => Some(grace),
        None => lifecycle::expiry(obj).ok().flatten(),
    };
    if let Some(deadline) = deadline {
        // A little past the deadline, so the retry finds it passed.
        delay = delay.min(lifecycle::until(deadline, now) + Duration::from_millis(100));
    }
    delay
}

fn error_policy(obj: Arc<PrismNamespace>, err: &Error, ctx: Arc<Ctx>) -> Action {
    let delay = retry_delay(&obj, &ctx);
    ctx.base.on_error(obj, err, Some(delay))
}

/// The Apply branch: expire, or provision unless the generation is already synced.
async fn provision(obj: &PrismNamespace, ctx: &Ctx, ns: &str) -> Result<Action, Error> {
    let now = Timestamp::now();
    let expiry = lifecycle::expiry(obj).unwrap_or_else(|invalid| {
        warn!(reason = invalid.reason, message = %invalid.message, "ignoring ttl");
        None
    });
    if let Some(expiry) = expiry.filter(|e| lifecycle::passed(*e, now)) {
        info!(%expiry, "ttl passed: deleting");
        let api: Api<PrismNamespace> = Api::namespaced(ctx.base.client.clone(), ns);
        match api.delete(&obj.name_any(), &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(source) => return Err(Error::DeleteExpired { source }),
        }
        let note = format!("spec.ttl {:?} passed at {expiry}; deleting", obj.spec.ttl.as_deref().unwrap_or_default());
        ctx.base.publish(obj, EventType::Normal, "Expired", "Delete", note).await;
        return Ok(Action::await_change());
    }
    let settled = || match expiry {
        Some(e) => Action::requeue(lifecycle::until(e, now)),
        None => Action::await_change(),
    };
    if status::is_synced(obj) {
        ctx.base.reset_backoff(&Context::key(obj));
        return Ok(settled());
    }
    let client = &ctx.base.client;
    let override_ = ctx.settings.admin_endpoint.as_deref();
    let built = match resolve::endpoint(client, obj, ns, override_).await? {
        Ok(endpoint) => {
            let inputs = resolve::inputs(client, obj, ns).await?;
            validate::validate(obj, ns, &inputs).map(|v| (endpoint, build::create_request(&v)))
        }
        Err(invalid) => Err(invalid),
    };
    let (endpoint, request) = match built {
        Ok(pair) => pair,
        Err(invalid) => {
            write_status(ctx, obj, &Outcome::Unresolved(invalid)).await?;
            return Ok(Action::requeue(retry_delay(obj, ctx)));
        }
    };
    match admin::create_namespace(&endpoint, request).await {
        Ok(response) => {
            let outcome = Outcome::Synced { endpoint, response };
            write_status(ctx, obj, &outcome).await?;
            ctx.base.reset_backoff(&Context::key(obj));
            Ok(settled())
        }
        Err(source) => {
            write_status(ctx, obj, &Outcome::AdminFailed(source.clone())).await?;
            Err(Error::AdminCall { method: "CreateNamespace", source })
        }
    }
}

/// The Cleanup branch: revoke on the admin; give up after the grace period.
async fn revoke(obj: &PrismNamespace, ctx: &Ctx, ns: &str) -> Result<Action, Error> {
    let stored = obj.status.clone().unwrap_or_default();
    if stored.provisioned_at.is_none() {
        // Never provisioned: nothing to revoke.
        return Ok(Action::await_change());
    }
    let override_ = ctx.settings.admin_endpoint.as_deref();
    let result = match resolve::endpoint(&ctx.base.client, obj, ns, override_).await? {
        Err(invalid) => Err(admin::AdminError::Unreachable { endpoint: "(none)".to_owned(), message: invalid.message }),
        Ok(endpoint) => {
            let request = NamespaceRevocation {
                proxy_id: stored.assigned_proxy.clone().unwrap_or_else(|| obj.spec.proxy_ref.name.clone()),
                namespace: obj.spec.namespace_id.clone(),
                graceful_timeout_seconds: REVOKE_GRACEFUL_TIMEOUT_SECONDS,
            };
            // A slow admin does not hold the deletion past its grace period: the call gets
            // whatever is left of it (at least a second), and CALL_TIMEOUT at most.
            let grace = lifecycle::grace_deadline(obj, ctx.settings.revoke_grace_period);
            let left = grace.map_or(admin::CALL_TIMEOUT, |deadline| {
                lifecycle::until(deadline, Timestamp::now()).clamp(Duration::from_secs(1), admin::CALL_TIMEOUT)
            });
            match tokio::time::timeout(left, admin::revoke_namespace(&endpoint, request)).await {
                Ok(answer) => answer,
                Err(_) => Err(admin::AdminError::Unreachable {
                    endpoint,
                    message: format!("no answer within {left:?}, the rest of the revoke grace period"),
                }),
            }
        }
    };
    let source = match result {
        Ok(_) => {
            let note = format!("namespace {:?} revoked on the admin", obj.spec.namespace_id);
            ctx.base.publish(obj, EventType::Normal, "Revoked", "Revoke", note).await;
            ctx.base.reset_backoff(&Context::key(obj));
            return Ok(Action::await_change());
        }
        Err(source) => source,
    };
    let grace = ctx.settings.revoke_grace_period;
    let expired = lifecycle::grace_deadline(obj, grace).is_some_and(|d| lifecycle::passed(d, Timestamp::now()));
    if expired {
        let note = format!(
            "could not revoke namespace {:?} within the grace period of {grace:?} ({source}); removing the finalizer anyway: the namespace may remain on the admin",
            obj.spec.namespace_id
        );
        ctx.base.publish(obj, EventType::Warning, "RevokeAbandoned", "Revoke", note).await;
        ctx.base.reset_backoff(&Context::key(obj));
        return Ok(Action::await_change());
    }
    write_status(ctx, obj, &Outcome::Revoking(source.clone())).await?;
    Err(Error::AdminCall { method: "RevokeNamespace", source })
}

async fn write_status(ctx: &Ctx, obj: &PrismNamespace, outcome: &Outcome) -> Result<(), Error> {
    let next = status::next(obj, outcome, Timestamp::now());
    if conditions::write(&ctx.base, obj, obj.status.as_ref(), &next, status::events(obj, outcome)).await? {
        info!(phase = ?next.phase, "status updated");
    }
    Ok(())
}
