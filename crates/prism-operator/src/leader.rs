//! Leader election on a coordination.k8s.io Lease (kube-lease-manager): with several operator
//! processes only the lease holder runs the controllers. A holder that loses the lease (API
//! server outage, long pause) stops its controllers and stands by again instead of exiting; a
//! holder that shuts down releases the lease so a standby takes over at once.

use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::{sync::watch, task::JoinHandle};

/// Leader-election settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This instance's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: Duration,
    /// How long the holder may go without renewing before it gives up: it renews
    /// `lease_duration - renew_deadline` before the lease would expire.
    pub renew_deadline: Duration,
}

/// Invalid leader-election settings.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Durations that cannot work together.
    #[error("--lease-duration ({lease:?}) must be longer than --renew-deadline ({renew:?}), both at least 1s")]
    Durations {
        /// Lease duration.
        lease: Duration,
        /// Renew deadline.
        renew: Duration,
    },
    /// The lease could not be created or read.
    #[error("failed to set up leader election on lease {namespace}/{name}")]
    Lease {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// Cause.
        #[source]
        source: LeaseManagerError,
    },
}

/// A running election: `is_leader` follows the lease; dropping it releases the lease.
pub struct Election {
    /// True while this instance holds the lease.
    pub is_leader: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

impl Election {
    /// Joins the election.
    pub async fn join(client: Client, s: &Settings) -> Result<Self, Error> {
        let (lease, renew) = (s.lease_duration.as_secs(), s.renew_deadline.as_secs());
        if renew == 0 || lease <= renew {
            return Err(Error::Durations { lease: s.lease_duration, renew: s.renew_deadline });
        }
        let manager = LeaseManagerBuilder::new(client, &s.lease_name)
            .with_namespace(&s.namespace)
            .with_identity(&s.identity)
            .with_field_manager(format!("{}-leader-election", prism_api::FIELD_MANAGER))
            .with_duration(lease)
            .with_grace(lease - renew)
            .build()
            .await
            .map_err(|source| Error::Lease { namespace: s.namespace.clone(), name: s.lease_name.clone(), source })?;
        let (is_leader, task) = manager.watch().await;
        Ok(Self { is_leader, task })
    }

    /// Resolves when this instance's leadership equals `leader`.
    pub async fn until(&mut self, leader: bool) {
        while *self.is_leader.borrow_and_update() != leader {
            if self.is_leader.changed().await.is_err() {
                // The election task ended: we can never become (or stay) leader.
                if leader {
                    std::future::pending::<()>().await;
                }
                return;
            }
        }
    }

    /// Leaves the election, releasing the lease if held.
    pub async fn leave(self) {
        let Self { is_leader, task } = self;
        drop(is_leader);
        match tokio::time::timeout(Duration::from_secs(5), task).await {
            Ok(Ok(Ok(_))) => tracing::info!("released the leader lease"),
            Ok(Ok(Err(err))) => tracing::warn!(%err, "failed to release the leader lease"),
            Ok(Err(err)) => tracing::warn!(%err, "leader election task failed"),
            Err(_) => tracing::warn!("timed out releasing the leader lease"),
        }
    }
}
