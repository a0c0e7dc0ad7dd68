//! The floor: the API server's own cost of the operator's output. Creates, directly with kube-rs
//! and the operator's concurrency, the Deployment, Service and HPA of N PrismPatterns (the exact
//! objects the operator would apply), and times it.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::{FutureExt, StreamExt, TryStreamExt, future::BoxFuture};
use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams, PostParams},
};
use prism_api::v1alpha1::PrismPattern;
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    audit::{AuditLog, Window},
    cluster::{self, BENCH_MANAGER, ToCreate},
    procfs::{Sample, Usage},
    shapes,
};

/// How the floor writes each child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `POST`: the cheapest way to create an object.
    Post,
    /// Server-side apply (`PATCH`, force, one field manager): what the operator sends.
    Apply,
}

/// One timed floor.
pub struct Floor {
    pub elapsed: Duration,
    pub window: Window,
    /// CPU use in the timed part, for the processes given.
    pub usage: Usage,
}

/// Creates the children of `n` PrismPatterns in `ns` with `method`, `concurrency` requests at a
/// time, timing only the children. The PrismPatterns themselves are created first, untimed, so the
/// children carry valid owner references (no operator watches `ns`).
pub async fn floor(
    client: &Client,
    ns: &str,
    n: usize,
    concurrency: usize,
    method: Method,
    audit: &AuditLog,
    pids: &[u32],
) -> anyhow::Result<Floor> {
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let owners = (0..n)
        .map(|i| Ok(ToCreate { api: patterns.clone(), obj: shapes::pattern(&shapes::pattern_name("floor", i))? }))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let owners = cluster::create_all(owners, concurrency).await?;
    let mut requests: Vec<BoxFuture<'static, anyhow::Result<()>>> = Vec::with_capacity(3 * n);
    for p in &owners {
        let c = shapes::children(p, ns)?;
        requests.push(write(Api::<Deployment>::namespaced(client.clone(), ns), c.deployment, method));
        requests.push(write(Api::<Service>::namespaced(client.clone(), ns), c.service, method));
        requests.push(write(Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns), c.hpa, method));
    }
    let (from, start) = (audit.offset()?, Sample::take(pids));
    let started = Instant::now();
    futures::stream::iter(requests).buffer_unordered(concurrency.max(1)).try_collect::<()>().await?;
    let elapsed = started.elapsed();
    let (window, usage) = (Window { from, to: audit.offset()? }, start.until(&Sample::take(pids)));
    tracing::info!(n, ?method, ?elapsed, "floor: every child written");
    Ok(Floor { elapsed, window, usage })
}

fn write<K>(api: Api<K>, obj: K, method: Method) -> BoxFuture<'static, anyhow::Result<()>>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    async move {
        let name = obj.name_any();
        let kind = K::kind(&Default::default()).into_owned();
        let result = match method {
            Method::Post => {
                let params = PostParams { field_manager: Some(BENCH_MANAGER.to_owned()), ..Default::default() };
                api.create(&params, &obj).await
            }
            Method::Apply => {
                let params = PatchParams::apply(prism_api::FIELD_MANAGER).force();
                api.patch(&name, &params, &Patch::Apply(&obj)).await
            }
        };
        result.map(drop).with_context(|| format!("{method:?} {kind} {name}"))
    }
    .boxed()
}
