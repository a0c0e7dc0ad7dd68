//! The bench's own local control plane (nodes with room for every runner pod), the Prism CRDs,
//! namespaces, and creating many objects with a fixed concurrency.

use std::{collections::BTreeMap, time::Duration};

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::{
    api::core::v1::Namespace, apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::api::resource::Quantity,
};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams},
    runtime::{conditions, wait::await_condition},
};
use prism_testkit::{ControlPlane, ControlPlaneOptions};
use serde::{Serialize, de::DeserializeOwned};

/// Field manager of what the bench itself creates.
pub const BENCH_MANAGER: &str = "prism-bench";

/// Starts a control plane whose six nodes hold `pods` pods in all (with CPU and memory to match
/// the benchmark pattern's requests).
pub async fn start(pods: usize) -> anyhow::Result<ControlPlane> {
    let mut nodes = prism_testkit::default_nodes();
    let per_node = pods.div_ceil(nodes.len()) * 3 / 2 + 110;
    for node in &mut nodes {
        let capacity =
            [("pods", per_node.to_string()), ("cpu", (per_node / 5 + 32).to_string()), ("memory", "64Ti".into())];
        node.capacity = capacity.into_iter().map(|(k, v)| (k.to_owned(), Quantity(v))).collect::<BTreeMap<_, _>>();
    }
    tracing::info!(nodes = nodes.len(), pods_per_node = per_node, "starting the control plane");
    let opts = ControlPlaneOptions { nodes, start_timeout: Duration::from_secs(600), ..Default::default() };
    Ok(ControlPlane::start(opts).await?)
}

/// Server-side applies the Prism CRDs and waits until each is Established.
pub async fn install_crds(client: &Client) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply(BENCH_MANAGER).force();
    for crd in prism_api::crds() {
        let name = crd.name_any();
        api.patch(&name, &params, &Patch::Apply(&crd)).await.with_context(|| format!("apply CRD {name}"))?;
        tokio::time::timeout(
            Duration::from_secs(60),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .with_context(|| format!("CRD {name} not Established within 60s"))??;
    }
    Ok(())
}

/// Creates a namespace.
pub async fn namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns =
        Namespace { metadata: ObjectMeta { name: Some(name.to_owned()), ..Default::default() }, ..Default::default() };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("create namespace {name}"))?;
    Ok(())
}

/// Deletes a namespace and waits (up to `limit`) until it and everything in it are gone.
pub async fn delete_namespace(client: &Client, name: &str, limit: Duration) -> anyhow::Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    api.delete(name, &DeleteParams::background()).await.with_context(|| format!("delete namespace {name}"))?;
    poll(&format!("namespace {name} to be gone"), limit, Duration::from_secs(2), async || {
        Ok(api.get_opt(name).await?.is_none())
    })
    .await
}

/// One object to create: its namespaced API and the object.
pub struct ToCreate<K: Resource> {
    pub api: Api<K>,
    pub obj: K,
}

/// Creates every object with at most `concurrency` requests in flight; returns the created objects
/// in completion order.
pub async fn create_all<K>(objects: Vec<ToCreate<K>>, concurrency: usize) -> anyhow::Result<Vec<K>>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let params = PostParams { field_manager: Some(BENCH_MANAGER.to_owned()), ..Default::default() };
    stream::iter(objects)
        .map(|c| {
            let params = params.clone();
            async move {
                let name = c.obj.name_any();
                c.api
                    .create(&params, &c.obj)
                    .await
                    .with_context(|| format!("create {} {name}", K::kind(&Default::default())))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}

/// Polls `probe` every `every` until it returns true, failing after `timeout`.
pub async fn poll(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: impl AsyncFnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if probe().await? {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}
