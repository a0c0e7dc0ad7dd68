//! The operator's HTTP endpoints: `/metrics` (Prometheus text) on the metrics address, `/healthz`
//! and `/readyz` on the health-probe address.
//!
//! `/healthz` answers while the process runs. `/readyz` answers 200 once this instance is either
//! a standby waiting for the leader lease, or the leader with every controller's caches synced
//! (first list of every watch done); 503 otherwise.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use axum::{Router, extract::State, http::StatusCode, routing::get};

use crate::metrics::Metrics;

/// What `/readyz` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Starting up: checks running.
    Starting = 0,
    /// Waiting for the leader lease (ready: a standby is healthy).
    Standby = 1,
    /// Leading; caches not synced yet.
    Syncing = 2,
    /// Leading with synced caches.
    Ready = 3,
}

/// Readiness shared between the runtime and the HTTP server.
#[derive(Debug, Default)]
pub struct Readiness(AtomicU8);

impl Readiness {
    /// Sets the phase.
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::SeqCst);
    }

    /// The phase.
    pub fn phase(&self) -> Phase {
        match self.0.load(Ordering::SeqCst) {
            1 => Phase::Standby,
            2 => Phase::Syncing,
            3 => Phase::Ready,
            _ => Phase::Starting,
        }
    }

    /// Whether `/readyz` answers 200.
    pub fn is_ready(&self) -> bool {
        matches!(self.phase(), Phase::Standby | Phase::Ready)
    }
}

/// Failure to serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address could not be bound.
    #[error("failed to listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Binds both listeners (so that a taken port fails at startup) and returns the server futures.
pub async fn serve(
    metrics_addr: SocketAddr,
    health_addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> Result<impl Future<Output = ()> + Send, Error> {
    let metrics_listener = tokio::net::TcpListener::bind(metrics_addr)
        .await
        .map_err(|source| Error::Bind { addr: metrics_addr, source })?;
    let health_listener =
        tokio::net::TcpListener::bind(health_addr).await.map_err(|source| Error::Bind { addr: health_addr, source })?;
    let metrics_app = Router::new().route("/metrics", get(render_metrics)).with_state(metrics);
    let health_app =
        Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(ready)).with_state(readiness);
    Ok(async move {
        let (a, b) = tokio::join!(axum::serve(metrics_listener, metrics_app), axum::serve(health_listener, health_app));
        for result in [a, b] {
            if let Err(err) = result {
                tracing::error!(%err, "HTTP server stopped");
            }
        }
    })
}

async fn render_metrics(State(metrics): State<Arc<Metrics>>) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], metrics.render())
}

async fn ready(State(readiness): State<Arc<Readiness>>) -> (StatusCode, String) {
    let phase = readiness.phase();
    let code = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, format!("{phase:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_as_standby_or_synced_leader() {
        let r = Readiness::default();
        assert!(!r.is_ready(), "starting");
        r.set(Phase::Standby);
        assert!(r.is_ready());
        r.set(Phase::Syncing);
        assert!(!r.is_ready(), "leader before caches synced");
        r.set(Phase::Ready);
        assert!(r.is_ready());
    }
}
