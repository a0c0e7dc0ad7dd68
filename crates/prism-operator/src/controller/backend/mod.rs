//! The PrismBackend controller: renders each backend's connection into a ConfigMap
//! `<name>-prism-connection` and a Secret `<name>-prism-credentials` (both owned by the PrismBackend), checks
//! the backend's health in its own protocol every `healthCheck.interval`, and reports it in the
//! status, whose `configHash` rolls the pattern runners that use the backend.
//!
//! While KEDA is installed, a backend whose provider KEDA can scale on (redis, postgres, rabbitmq)
//! also gets a TriggerAuthentication `<name>-prism-keda`, for triggers with `backendRef`.
//!
//! Reconcile: resolve (GET the referenced Secrets) -> validate (pure) -> build (pure) -> apply
//! (server-side apply of what differs) -> health check -> status (written only when it changed;
//! see [`status`]). The health check is the one timer: a valid backend is requeued after its
//! interval; an invalid one is retried with the per-object backoff, and Secret changes retrigger
//! it at once.
//!
//! Referenced Secrets are watched through a metadata-only watch with no cache: each change is
//! mapped by name to the PrismBackends that reference it, and only those Secrets are ever read
//! (with a GET). Holding every Secret of the cluster in memory is what this avoids.

pub mod build;
pub mod endpoint;
pub mod health;
pub mod status;
pub mod validate;

use std::sync::Arc;

use k8s_openapi::{
    api::core::v1::{ConfigMap, Secret},
    jiff::Timestamp,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::DynamicObject,
    core::PartialObjectMeta,
    runtime::{controller::Action, reflector::ObjectRef, watcher},
};
use prism_api::{labels, v1alpha1::PrismBackend};
use tracing::{info, instrument};

use self::{
    health::{Health, Target},
    status::Observation,
    validate::{Resolved, SecretLookup, ValidatedBackend},
};
use super::{
    Scope,
    children::{Applier, Owned},
    watches::Watches,
};
use crate::{
    conditions,
    context::{Context, Synced},
    credentials::SecretValues,
    error::Error,
    keda, naming,
};

/// The controller's view of the cluster: caches of the rendered children.
pub struct Ctx {
    base: Arc<Context>,
    /// Resolves once every cache below has its first list (reconciles wait for it).
    synced: Synced,
    config_maps: Owned<ConfigMap>,
    secrets: Owned<Secret>,
    /// The rendered KEDA TriggerAuthentications (filled once KEDA is installed).
    trigger_auths: Owned<DynamicObject>,
}

/// The label selector of the rendered ConfigMaps and Secrets.
pub fn rendered_selector() -> String {
    format!("{},{}={}", naming::managed_selector(), labels::COMPONENT, build::COMPONENT)
}

/// Runs the PrismBackend controller until `shutdown` resolves.
pub async fn run(
    base: Arc<Context>,
    scope: Scope,
    concurrency: u16,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let rendered = watcher::Config::default().labels(&rendered_selector());
    // Status writes (ours) do not change the generation: they need no reconcile.
    let mut watches = Watches::<PrismBackend>::new(&base, &scope).generation_changes_only();
    let config_maps = watches.owns(&rendered);
    let secrets = watches.owns(&rendered);
    let trigger_auths =
        watches.owns_keda(keda::trigger_authentication_resource(), &rendered, keda::trigger_authentications);
    // Every Secret in scope, metadata only and uncached: a change is mapped to the backends
    // referencing that Secret by name.
    watches.watches_uncached(scope.api::<PartialObjectMeta<Secret>>(&base.client), |backends, secret| {
        let (name, ns) = (secret.name_any(), secret.namespace());
        backends
            .state()
            .into_iter()
            .filter(|b| b.namespace() == ns && references(b, &name))
            .map(|b| ObjectRef::from_obj(&*b))
            .collect()
    });
    let (controller, synced) = watches.start(concurrency);
    let ctx = Arc::new(Ctx { base, synced, config_maps, secrets, trigger_auths });
    super::log_results(controller.graceful_shutdown_on(shutdown).run(reconcile, error_policy, ctx)).await;
}

/// Whether `backend` reads the Secret `name` (connection or TLS).
fn references(backend: &PrismBackend, name: &str) -> bool {
    let spec = &backend.spec;
    let connection = spec.connection.as_ref().and_then(|c| c.secret_ref.as_ref()).is_some_and(|r| r.name == name);
    let tls = spec.tls.as_ref().and_then(|t| t.secret_ref.as_ref()).is_some_and(|r| r.name == name);
    connection || tls
}

#[instrument(skip_all, fields(namespace = backend.namespace().unwrap_or_default(), name = %backend.name_any()))]
async fn reconcile(backend: Arc<PrismBackend>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    // Applying before the child caches are filled would rewrite children that exist.
    ctx.synced.clone().await;
    let _timer = ctx.base.metrics.reconcile("PrismBackend");
    let ns = backend.namespace().ok_or(Error::MissingObjectKey("namespace"))?;
    let owner = backend.controller_owner_ref(&()).ok_or(Error::MissingObjectKey("uid"))?;
    let key = Context::key(&*backend);
    let resolved = resolve(&ctx.base.client, &backend, &ns).await?;
    let (observation, action) = match validate::validate(&backend, &ns, owner, &resolved) {
        Ok(valid) => {
            let rendered =
                build::render(&valid).map_err(|source| Error::SerializeChild { kind: "Secret".into(), source })?;
            let applier = Applier::new(&ctx.base.client, &ns, &valid.owner.uid);
            let trigger_auth = build::trigger_authentication(&valid);
            apply_children(&ctx, &applier, rendered.config_map, rendered.secret, trigger_auth).await?;
            applier.into_changes().publish(&ctx.base, &*backend).await;
            let config_hash = rendered.hash;
            if valid.health.enabled {
                let health = health::check(&target(&valid)).await;
                let action = if matches!(health, Health::UnknownHost(_)) {
                    Action::requeue(ctx.base.next_backoff(&key))
                } else {
                    ctx.base.reset_backoff(&key);
                    Action::requeue(valid.health.interval)
                };
                (Observation::Checked { health, config_hash }, action)
            } else {
                ctx.base.reset_backoff(&key);
                (Observation::Unchecked { config_hash }, Action::await_change())
            }
        }
        // A Secret change retriggers at once; the backoff covers what no watch sees.
        Err(invalid) => (Observation::Invalid(invalid), Action::requeue(ctx.base.next_backoff(&key))),
    };
    write_status(&ctx, &backend, &observation).await?;
    Ok(action)
}

fn error_policy(backend: Arc<PrismBackend>, err: &Error, ctx: Arc<Ctx>) -> Action {
    ctx.base.on_error(backend, err, None)
}

/// Reads the referenced Secrets (GETs; nothing else touches the API before validation).
async fn resolve(client: &Client, backend: &PrismBackend, ns: &str) -> Result<Resolved, Error> {
    let spec = &backend.spec;
    let connection =
        spec.connection.as_ref().and_then(|c| c.secret_ref.as_ref()).map(|r| (r.name.as_str(), r.namespace.as_deref()));
    let tls = spec.tls.as_ref().and_then(|t| t.secret_ref.as_ref()).map(|r| (r.name.as_str(), r.namespace.as_deref()));
    Ok(Resolved { connection: lookup(client, ns, connection).await?, tls: lookup(client, ns, tls).await? })
}

async fn lookup(client: &Client, ns: &str, reference: Option<(&str, Option<&str>)>) -> Result<SecretLookup, Error> {
    let Some((name, namespace)) = reference else {
        return Ok(SecretLookup::NotReferenced);
    };
    if let Some(other) = namespace.filter(|n| *n != ns) {
        return Ok(SecretLookup::OtherNamespace(other.to_owned()));
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    match api.get_opt(name).await {
        Ok(Some(secret)) => Ok(SecretLookup::Found(name.to_owned(), SecretValues::from_secret(secret))),
        Ok(None) => Ok(SecretLookup::Missing(name.to_owned())),
        Err(source) => Err(Error::ResolveReference { kind: "Secret", name: name.to_owned(), source }),
    }
}

/// The health-check target of a validated backend.
fn target(v: &ValidatedBackend) -> Target {
    Target {
        provider: v.provider,
        endpoint: v.endpoint.clone().unwrap_or_else(|| endpoint::Endpoint {
            host: "localhost".into(),
            port: 0,
            tls: false,
            database: None,
            username: None,
            password: None,
        }),
        username: v.credentials.username.clone(),
        password: v.credentials.password.clone(),
        tls: v.tls.clone(),
        timeout: v.health.timeout,
    }
}

async fn apply_children(
    ctx: &Ctx,
    applier: &Applier<'_>,
    config_map: ConfigMap,
    secret: Secret,
    trigger_auth: Option<DynamicObject>,
) -> Result<(), Error> {
    applier.apply(&ctx.config_maps, config_map).await?;
    applier.apply(&ctx.secrets, secret).await?;
    // After the objects it points into; swept when the provider no longer has a KEDA scaler.
    if ctx.base.keda_installed() {
        applier.ensure(&ctx.trigger_auths, trigger_auth).await?;
    }
    Ok(())
}

async fn write_status(ctx: &Ctx, backend: &PrismBackend, observation: &Observation) -> Result<(), Error> {
    let stored = backend.status.as_ref();
    let next = status::next(stored, observation, backend.metadata.generation, Timestamp::now());
    let events = status::events(stored, &next);
    if conditions::write(&ctx.base, backend, stored, &next, events).await? {
        info!(phase = ?next.phase, message = next.message.as_deref().unwrap_or_default(), "status updated");
    }
    Ok(())
}
