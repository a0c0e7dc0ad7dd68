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
}

/// A kube client config with the operator's User-Agent.
pub fn with_user_agent(mut config: kube::Config, user_agent: &str) -> kube::Config {
    if let Ok(value) = http::HeaderValue::from_str(user_agent) {
        config
            .headers
            .retain(|(name, _)| name != http::header::USER_AGENT);
        config.headers.push((http::header::USER_AGENT, value));
    }
    config
}

/// Runs the controllers until `shutdown` resolves, then lets in-flight reconciles finish.
pub async fn run(
    client: Client,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (keda_tx, keda_rx) = tokio::sync::watch::channel(false);
    let keda = tokio::spawn(controller::keda_watch::track(client.clone(), keda_tx));
    let shutdown = (Box::pin(shutdown) as Pin<Box<dyn Future<Output = ()> + Send>>).shared();
    let ctx = Context::new(client, settings.defaults, keda_rx);
    controller::pattern::run(ctx, settings.scope, settings.concurrency, shutdown).await;
    keda.abort();
}
