//! Temporary namespaces: one fresh namespace per test (random suffix), deleted on drop, so tests
//! sharing a control plane do not see each other's objects.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{DeleteParams, ObjectMeta, PostParams},
};

use crate::{
    ControlPlane, Error,
    datadir::random_suffix,
    ready::{poll_until, probe_default_service_account},
};

/// Prefix of every temporary namespace name.
pub const TEMP_NAMESPACE_PREFIX: &str = "test-";
/// Label on every temporary namespace (value `true`).
pub const TEMP_NAMESPACE_LABEL: &str = "prism-testkit/temporary";
/// How long creation waits for the namespace's `default` ServiceAccount.
const SERVICE_ACCOUNT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the guard's best-effort delete may take (the apiserver may be down).
const DELETE_TIMEOUT: Duration = Duration::from_secs(5);

/// Deletes its namespace (best effort, without waiting for finalization) when dropped.
#[derive(Debug)]
pub struct NamespaceGuard {
    name: String,
    config: kube::Config,
}

impl NamespaceGuard {
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Creates `test-<random>` and waits until its `default` ServiceAccount exists (pods are rejected
/// before that). Returns the name and a guard that deletes the namespace on drop.
pub async fn temp_namespace(cp: &ControlPlane) -> Result<(String, NamespaceGuard), Error> {
    let config = cp.kube_config().await?;
    let client = Client::try_from(config.clone()).map_err(Error::BuildClient)?;
    let name = format!("{TEMP_NAMESPACE_PREFIX}{}", random_suffix());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(TEMP_NAMESPACE_LABEL.to_owned(), "true".to_owned())])),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .map_err(|source| Error::CreateNamespace { name: name.clone(), source })?;
    // Guard first, so the namespace is deleted even if the wait below fails.
    let guard = NamespaceGuard { name: name.clone(), config };
    let deadline = Instant::now() + SERVICE_ACCOUNT_TIMEOUT;
    poll_until("the namespace's default ServiceAccount", deadline, &mut || Ok(()), async || {
        probe_default_service_account(&client, &name).await
    })
    .await?;
    Ok((name, guard))
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        // The caller's runtime may be shutting down (or be a current-thread runtime blocked in
        // this very drop), so delete from a separate thread with its own runtime and client.
        let name = std::mem::take(&mut self.name);
        let config = self.config.clone();
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let client = Client::try_from(config).map_err(std::io::Error::other)?;
                let api = Api::<Namespace>::all(client);
                let params = DeleteParams::background();
                let delete = api.delete(&name, &params);
                match tokio::time::timeout(DELETE_TIMEOUT, delete).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(std::io::Error::other(format!("delete {name}: {e}"))),
                    Err(_) => Err(std::io::Error::other(format!("delete {name}: timed out"))),
                }
            })
        });
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot delete temporary namespace"),
            Err(_) => tracing::warn!("temporary namespace cleanup thread panicked"),
        }
    }
}
