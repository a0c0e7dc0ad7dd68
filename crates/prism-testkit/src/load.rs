//! Simulated load: the CPU and memory usage kwok reports for pods (their annotations
//! `kwok.x-k8s.io/usage-cpu` / `-memory`, read by `kwok-metrics.yaml`), which metrics-server
//! serves and HPAs act on, and the request rate kwok exports for Prometheus
//! (`http_requests_per_second`, from `prism.io/simulated-http-requests-per-second`). A [`Load`] keeps every pod matching a label selector at its usage,
//! pods created later included, until it is changed or dropped.
//!
//! Usage is given per pod, or as a total spread evenly over the pods (a fixed request rate behind
//! a Service: more replicas, less each), which makes the replica count an HPA settles on a
//! plain function of the load: `ceil(total / (target% x request))`.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{WatchStreamExt, watcher},
};
use serde_json::json;
use tokio::sync::watch;

use crate::{REQUESTS_PER_SECOND_ANNOTATION, USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION};

/// How much a set of pods uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU in millicores.
    pub cpu_millis: Option<u64>,
    /// Memory in bytes.
    pub memory_bytes: Option<u64>,
    /// HTTP requests served per second.
    pub requests_per_second: Option<u64>,
    /// Whether the figures are the total over all pods (spread evenly) rather than per pod.
    pub total: bool,
}

impl Usage {
    /// The same usage on every pod.
    pub fn per_pod(cpu_millis: Option<u64>, memory_bytes: Option<u64>) -> Self {
        Self { cpu_millis, memory_bytes, requests_per_second: None, total: false }
    }

    /// A total spread evenly over the pods.
    pub fn total(cpu_millis: Option<u64>, memory_bytes: Option<u64>) -> Self {
        Self { cpu_millis, memory_bytes, requests_per_second: None, total: true }
    }

    /// A request rate (per pod or in total, as the CPU and memory figures).
    pub fn with_requests_per_second(self, requests_per_second: u64) -> Self {
        Self { requests_per_second: Some(requests_per_second), ..self }
    }

    /// The annotations one of `pods` pods gets.
    fn annotations(&self, pods: usize) -> BTreeMap<&'static str, String> {
        let share = |v: u64| if self.total { v.div_ceil(pods.max(1) as u64) } else { v };
        let mut a = BTreeMap::new();
        if let Some(cpu) = self.cpu_millis {
            a.insert(USAGE_CPU_ANNOTATION, format!("{}m", share(cpu)));
        }
        if let Some(memory) = self.memory_bytes {
            a.insert(USAGE_MEMORY_ANNOTATION, share(memory).to_string());
        }
        if let Some(rate) = self.requests_per_second {
            a.insert(REQUESTS_PER_SECOND_ANNOTATION, share(rate).to_string());
        }
        a
    }
}

/// Parses a CPU quantity (`900m`, `2`, `1.5`) into millicores.
pub fn parse_cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    let cores: f64 = q.parse().ok()?;
    (cores >= 0.0).then(|| (cores * 1000.0).round() as u64)
}

/// Parses a memory quantity (`256Mi`, `1Gi`, `500M`, `1048576`) into bytes.
pub fn parse_memory_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let units: [(&str, u64); 8] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
    ];
    for (suffix, factor) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u64>().ok().map(|n| n * factor);
        }
    }
    q.parse().ok()
}

/// Keeps the pods matching a selector at a [`Usage`]; stops when dropped.
pub struct Load {
    usage: watch::Sender<Usage>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Load {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Load").field("usage", &*self.usage.borrow()).finish()
    }
}

impl Load {
    /// Starts keeping the pods in `namespace` matching `selector` (a label selector) at `usage`.
    pub fn start(client: Client, namespace: &str, selector: &str, usage: Usage) -> Self {
        let (tx, rx) = watch::channel(usage);
        let api: Api<Pod> = Api::namespaced(client, namespace);
        let task = tokio::spawn(hold(api, selector.to_owned(), rx));
        Self { usage: tx, task }
    }

    /// Changes the usage (applied to every pod at once).
    pub fn set(&self, usage: Usage) {
        self.usage.send_replace(usage);
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Re-annotates the pods whenever they or the usage change.
async fn hold(api: Api<Pod>, selector: String, mut usage: watch::Receiver<Usage>) {
    let (store, writer) = kube::runtime::reflector::store::<Pod>();
    let config = watcher::Config::default().labels(&selector);
    let events = watcher(api.clone(), config).default_backoff().reflect(writer).touched_objects();
    let mut events = std::pin::pin!(events);
    let store = Arc::new(store);
    loop {
        let current = *usage.borrow_and_update();
        let pods: Vec<Arc<Pod>> =
            store.state().into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
        let wanted = current.annotations(pods.len());
        for pod in &pods {
            let have = pod.annotations();
            if wanted.iter().all(|(k, v)| have.get(*k) == Some(v)) {
                continue;
            }
            let patch = json!({"metadata": {"annotations": wanted}});
            if let Err(e) = api.patch(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await {
                tracing::debug!(pod = %pod.name_any(), error = %e, "could not set simulated usage");
            }
        }
        tokio::select! {
            changed = usage.changed() => if changed.is_err() { return },
            event = events.next() => if event.is_none() { return },
            // A patch that lost a race with a pod update is retried on the next round.
            () = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse() {
        assert_eq!(parse_cpu_millis("900m"), Some(900));
        assert_eq!(parse_cpu_millis("2"), Some(2000));
        assert_eq!(parse_cpu_millis("1.5"), Some(1500));
        assert_eq!(parse_memory_bytes("256Mi"), Some(256 << 20));
        assert_eq!(parse_memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(parse_memory_bytes("4096"), Some(4096));
        assert_eq!(parse_cpu_millis("lots"), None);
    }

    #[test]
    fn a_total_is_spread_over_the_pods() {
        let total = Usage::total(Some(1300), Some(800 << 20));
        assert_eq!(total.annotations(4)[USAGE_CPU_ANNOTATION], "325m");
        assert_eq!(total.annotations(4)[USAGE_MEMORY_ANNOTATION], (200u64 << 20).to_string());
        assert_eq!(total.annotations(0)[USAGE_CPU_ANNOTATION], "1300m", "no pods: nothing to divide by");
        let per_pod = Usage::per_pod(Some(900), None);
        assert_eq!(per_pod.annotations(3)[USAGE_CPU_ANNOTATION], "900m");
        assert!(!per_pod.annotations(3).contains_key(USAGE_MEMORY_ANNOTATION));
        let requests = Usage::total(None, None).with_requests_per_second(3500);
        assert_eq!(requests.annotations(4)[REQUESTS_PER_SECOND_ANNOTATION], "875");
        assert_eq!(requests.annotations(3)[REQUESTS_PER_SECOND_ANNOTATION], "1167", "rounded up");
        assert!(!requests.annotations(4).contains_key(USAGE_CPU_ANNOTATION));
    }
}
