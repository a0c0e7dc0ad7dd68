//! Runs every controller of the operator until shutdown: the entry point shared by
//! `prism-operator run` and the integration tests.

use std::{future::Future, pin::Pin};

use futures::FutureExt;
use kube::Client;

use crate::{
    config::Defaults,
    context::Context,
    controller::{self, Scope},
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

/// Runs the controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(client: Client, settings: Settings, shutdown: impl Future<Output = ()> + Send + 'static) {
    let (keda_tx, keda_rx) = tokio::sync::watch::channel(false);
    let keda = tokio::spawn(controller::keda_watch::track(client.clone(), keda_tx));
    let shutdown = (Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>).shared();
    let ctx = Context::new(client, settings.defaults, keda_rx);
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
    keda.abort();
}
