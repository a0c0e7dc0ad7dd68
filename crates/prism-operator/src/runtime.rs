//! Runs every controller of the operator until shutdown: the entry point shared by
//! `prism-operator run` and the integration tests.

use std::{future::Future, pin::Pin, sync::Arc};

use futures::{FutureExt, future::join_all};
use kube::Client;

use crate::{
    config::Defaults,
    context::Context,
    controller::{self, Scope},
    leader::{self, Election},
    metrics::Metrics,
    server::{Phase, Readiness},
};

/// The User-Agent of every request the operator makes (audit logs and API server metrics show
/// it; tests count the operator's writes by it).
pub const USER_AGENT: &str = concat!("prism-operator/", env!("CARGO_PKG_VERSION"));

/// How the controllers run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces watched.
    pub scope: Scope,
    /// Defaults applied to specs.
    pub defaults: Defaults,
    /// Reconciles running at once, per controller.
    pub concurrency: u16,
    /// Prism admin endpoint (`http://host:port`) for every PrismNamespace without the
    /// `prism.io/admin-endpoint` annotation; None finds each admin from `spec.proxyRef`.
    pub admin_endpoint: Option<String>,
    /// How long deleting a PrismNamespace retries RevokeNamespace on an unreachable admin before
    /// it removes the finalizer anyway (with a Warning Event).
    pub revoke_grace_period: std::time::Duration,
}

/// A kube client config with the operator's User-Agent.
pub fn with_user_agent(mut config: kube::Config, user_agent: &str) -> kube::Config {
    if let Ok(value) = http::HeaderValue::from_str(user_agent) {
        config.headers.retain(|(name, _)| name != http::header::USER_AGENT);
        config.headers.push((http::header::USER_AGENT, value));
    }
    config
}

/// The operator's shared services: metrics and readiness (served over HTTP by `main`).
#[derive(Clone, Default)]
pub struct Services {
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// What `/readyz` reports.
    pub readiness: Arc<Readiness>,
}

/// Number of controllers per watched scope (pattern, stack, backend, namespace).
const CONTROLLERS: usize = 4;

/// Runs the controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(client: Client, settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) {
    run_with(client, settings, Services::default(), shutdown).await;
}

/// Runs the controllers with the given services until `shutdown` resolves. Readiness turns
/// `Ready` once every controller's caches have synced.
pub async fn run_with(
    client: Client,
    settings: Settings,
    services: Services,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (keda_tx, keda_rx) = tokio::sync::watch::channel(false);
    let keda = tokio::spawn(controller::keda_watch::track(client.clone(), keda_tx));
    let shutdown = (Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>).shared();
    let ctx = Context::new(client, settings.defaults.clone(), keda_rx, services.metrics.clone());
    let scopes = settings.scope.split();
    let expected = CONTROLLERS * scopes.len();
    services.readiness.set(Phase::Syncing);
    let readiness = services.readiness.clone();
    let mut synced = ctx.synced.subscribe();
    let sync_watch = tokio::spawn(async move {
        if synced.wait_for(|n| *n >= expected).await.is_ok() {
            tracing::info!("caches synced; reconciling");
            readiness.set(Phase::Ready);
        }
    });
    // The line controller-runtime operators log here, which runbooks grep for.
    tracing::info!(
        controllers = CONTROLLERS,
        scopes = scopes.len(),
        concurrency = settings.concurrency,
        "Starting workers"
    );
    join_all(scopes.into_iter().map(|scope| {
        let settings = Settings { scope, ..settings.clone() };
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        async move {
            tokio::join!(
                controller::pattern::run(ctx.clone(), settings.scope.clone(), settings.concurrency, shutdown.clone()),
                controller::stack::run(ctx.clone(), settings.scope.clone(), settings.concurrency, shutdown.clone()),
                controller::backend::run(ctx.clone(), settings.scope.clone(), settings.concurrency, shutdown.clone()),
                controller::namespace::run(
                    ctx,
                    settings.scope,
                    settings.concurrency,
                    controller::namespace::Settings {
                        admin_endpoint: settings.admin_endpoint,
                        revoke_grace_period: settings.revoke_grace_period,
                    },
                    shutdown,
                ),
            );
        }
    }))
    .await;
    sync_watch.abort();
    keda.abort();
}

/// Runs the operator: with `election`, only while this instance holds the leader lease (losing it
/// stops the controllers and stands by again); without, at once. Returns after `shutdown`.
pub async fn run_elected(
    client: Client,
    settings: Settings,
    services: Services,
    election: Option<leader::Settings>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), leader::Error> {
    let shutdown = (Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>).shared();
    let Some(election) = election else {
        services.metrics.set_leader(true);
        run_with(client, settings, services, shutdown).await;
        return Ok(());
    };
    services.readiness.set(Phase::Standby);
    let mut e = Election::join(client.clone(), &election).await?;
    loop {
        services.readiness.set(Phase::Standby);
        services.metrics.set_leader(false);
        tracing::info!(lease = %election.lease_name, identity = %election.identity, "waiting for the leader lease");
        tokio::select! {
            () = shutdown.clone() => break,
            () = e.until(true) => {}
        }
        tracing::info!("acquired the leader lease; starting controllers");
        services.metrics.set_leader(true);
        let mut leading = e.is_leader.clone();
        let lost = async move {
            while *leading.borrow_and_update() {
                if leading.changed().await.is_err() {
                    break;
                }
            }
        };
        let stop = futures::future::select(shutdown.clone(), Box::pin(lost)).map(|_| ());
        run_with(client.clone(), settings.clone(), services.clone(), stop).await;
        if shutdown.peek().is_some() {
            break;
        }
        tracing::warn!("lost the leader lease; controllers stopped, standing by");
    }
    services.metrics.set_leader(false);
    e.leave().await;
    Ok(())
}
