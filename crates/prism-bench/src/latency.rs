//! Reconcile latency: PrismPatterns created at a steady rate, each timed from just before its
//! create request until a watch on Deployments sees its runner Deployment. Interleaved with them,
//! a few Deployments created directly are timed the same way: the API server's own
//! create-to-watch latency under the same load, which the operator's figure cannot beat.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::{
    Api, Client, ResourceExt,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};
use prism_api::v1alpha1::PrismPattern;

use crate::{cluster::BENCH_MANAGER, shapes};

/// Prefix of the latency phase's PrismPatterns.
pub const PREFIX: &str = "lat";
/// Prefix of the directly created probe Deployments.
pub const PROBE_PREFIX: &str = "probe";
/// One probe Deployment per this many PrismPatterns.
pub const PROBE_EVERY: usize = 10;

/// Each timed object's latency, in creation order (None: not seen within the limit).
pub struct Latencies {
    /// PrismPattern create to its Deployment's watch event.
    pub patterns: Vec<Option<Duration>>,
    /// Direct Deployment create to its watch event.
    pub probes: Vec<Option<Duration>>,
}

#[derive(Default)]
struct Book {
    sent: HashMap<String, Instant>,
    seen: HashMap<String, Duration>,
}

/// Creates `samples` PrismPatterns in `ns` at `rate` per second, and after every
/// [`PROBE_EVERY`]th one a copy of `probe` directly, and returns their latencies.
pub async fn measure(
    client: &Client,
    ns: &str,
    samples: usize,
    rate: f64,
    limit: Duration,
    probe: &Deployment,
) -> anyhow::Result<Latencies> {
    let book = Arc::new(Mutex::new(Book::default()));
    let (synced_tx, synced) = tokio::sync::oneshot::channel();
    let mut events = watcher(Api::<Deployment>::namespaced(client.clone(), ns), watcher::Config::default())
        .default_backoff()
        .boxed();
    let watch_book = book.clone();
    let watch = tokio::spawn(async move {
        let mut synced_tx = Some(synced_tx);
        while let Some(event) = events.next().await {
            let at = Instant::now();
            match event {
                Ok(watcher::Event::InitDone) => {
                    synced_tx.take().map(|tx| tx.send(()));
                }
                Ok(watcher::Event::Apply(d) | watcher::Event::InitApply(d)) => {
                    let mut b = watch_book.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    let name = d.name_any();
                    if let Some(sent) = b.sent.get(&name).copied() {
                        b.seen.entry(name).or_insert(at - sent);
                    }
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(60), synced).await.context("Deployment watch did not sync in 60s")??;

    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let probes = samples / PROBE_EVERY;
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut creates = tokio::task::JoinSet::new();
    let started = Instant::now();
    let params = PostParams { field_manager: Some(BENCH_MANAGER.to_owned()), ..Default::default() };
    for i in 0..samples {
        ticks.tick().await;
        let p = shapes::pattern(&shapes::pattern_name(PREFIX, i))?;
        book.lock().unwrap_or_else(std::sync::PoisonError::into_inner).sent.insert(p.name_any(), Instant::now());
        let (patterns, pp) = (api.clone(), params.clone());
        creates.spawn(async move { patterns.create(&pp, &p).await.map(drop) });
        if (i + 1) % PROBE_EVERY == 0 {
            let mut d = shapes::unrelated_deployment(probe, ns, i / PROBE_EVERY);
            d.metadata.name = Some(shapes::pattern_name(PROBE_PREFIX, i / PROBE_EVERY));
            book.lock().unwrap_or_else(std::sync::PoisonError::into_inner).sent.insert(d.name_any(), Instant::now());
            let (deployments, pp) = (deployments.clone(), params.clone());
            creates.spawn(async move { deployments.create(&pp, &d).await.map(drop) });
        }
    }
    let achieved = samples as f64 / started.elapsed().as_secs_f64().max(f64::EPSILON);
    tracing::info!(samples, achieved_rate = format!("{achieved:.1}/s"), "latency phase: every create sent");
    while let Some(result) = creates.join_next().await {
        result?.context("create a latency-phase PrismPattern or probe")?;
    }
    let deadline = Instant::now() + limit;
    loop {
        let seen = book.lock().unwrap_or_else(std::sync::PoisonError::into_inner).seen.len();
        if seen >= samples + probes || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    watch.abort();
    let book = book.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let of = |prefix: &str, count: usize| -> Vec<Option<Duration>> {
        (0..count).map(|i| book.seen.get(&shapes::pattern_name(prefix, i)).copied()).collect()
    };
    Ok(Latencies { patterns: of(PREFIX, samples), probes: of(PROBE_PREFIX, probes) })
}

/// The nearest-rank percentile `q` (0-100) of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=200).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0).unwrap(), Duration::from_millis(100));
        assert_eq!(percentile(&ms, 99.0).unwrap(), Duration::from_millis(198));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
