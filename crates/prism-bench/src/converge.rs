//! Creating a batch of PrismPatterns and timing the operator's convergence: until every child
//! exists with the expected spec (checked with the operator's own comparison against the objects
//! its builders make), and until every status reports Running. Driven by watches, not polling.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use futures::{StreamExt, channel::mpsc, stream::BoxStream};
use k8s_openapi::api::{apps::v1::Deployment, autoscaling::v2::HorizontalPodAutoscaler, core::v1::Service};
use kube::{
    Api, Client, ResourceExt,
    api::PostParams,
    runtime::{WatchStreamExt, watcher},
};
use prism_api::v1alpha1::PrismPattern;
use serde_json::Value;
use tokio::sync::watch;

use crate::{
    audit::{AuditLog, Window},
    cluster::BENCH_MANAGER,
    procfs::{Sample, Usage},
    shapes,
};

const KINDS: [&str; 3] = ["Deployment", "Service", "HorizontalPodAutoscaler"];

/// How long to wait for each stage.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub children: Duration,
    pub running: Duration,
}

/// Timings of one batch, from the first create request.
#[derive(Clone, Debug)]
pub struct Converged {
    /// Until the last PrismPattern create returned.
    pub created: Duration,
    /// Until every child existed with the expected spec.
    pub children: Duration,
    /// Until every status reported Running (None: not within the limit).
    pub running: Option<Duration>,
    /// The audit log from the first create until every child matched.
    pub window: Window,
    /// CPU use in the same window, for the processes given.
    pub usage: Usage,
}

#[derive(Clone, Debug, Default)]
struct Progress {
    matched: usize,
    running: usize,
    children_at: Option<Instant>,
    running_at: Option<Instant>,
    mismatch: Option<String>,
}

enum Msg {
    Want(String, Box<[Value; 3]>),
    Child(usize, Value),
    ChildGone(usize, String),
    Pattern(String, bool),
    Synced,
    Ignore,
}

/// Creates `n` PrismPatterns `<prefix>-00000...` in `ns`, `concurrency` requests at a time, and
/// times the convergence.
#[allow(clippy::too_many_arguments)]
pub async fn converge(
    client: &Client,
    audit: &AuditLog,
    ns: &str,
    prefix: &str,
    n: usize,
    concurrency: usize,
    limits: Limits,
    pids: &[u32],
) -> anyhow::Result<Converged> {
    let (tx, mut progress, tracker) = track(client, ns, prefix, n).await?;
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let params = PostParams { field_manager: Some(BENCH_MANAGER.to_owned()), ..Default::default() };
    let (from, start) = (audit.offset()?, Sample::take(pids));
    let started = Instant::now();
    let creates = futures::stream::iter(0..n)
        .map(|i| {
            let (api, params) = (api.clone(), params.clone());
            async move {
                let p = shapes::pattern(&shapes::pattern_name(prefix, i))?;
                let created =
                    api.create(&params, &p).await.with_context(|| format!("create PrismPattern {}", p.name_any()))?;
                anyhow::Ok((created.name_any(), shapes::children(&created, ns)?.to_json()?))
            }
        })
        .buffer_unordered(concurrency.max(1));
    let mut creates = std::pin::pin!(creates);
    while let Some(result) = creates.next().await {
        let (name, want) = result?;
        tx.unbounded_send(Msg::Want(name, Box::new(want)))?;
    }
    let created = started.elapsed();
    tracing::info!(n, ?created, "PrismPatterns created");

    let children = wait_for(
        &mut progress,
        limits.children,
        "children",
        |p| p.children_at,
        |p| format!("{} of {} children match; e.g. {}", p.matched, 3 * n, p.mismatch.as_deref().unwrap_or("-")),
    )
    .await?
    .context("children never matched")?;
    let (window, usage) = (Window { from, to: audit.offset()? }, start.until(&Sample::take(pids)));
    tracing::info!(n, elapsed = ?(children - started), "every child exists with the expected spec");
    let running = wait_for(
        &mut progress,
        limits.running,
        "Running",
        |p| p.running_at,
        |p| format!("{} of {n} Running", p.running),
    )
    .await;
    tracker.abort();
    let running = match running {
        Ok(Some(at)) => Some(at - started),
        Ok(None) | Err(_) => {
            tracing::warn!(n, limit = ?limits.running, "not every PrismPattern was Running within the limit");
            None
        }
    };
    Ok(Converged { created, children: children - started, running, window, usage })
}

/// Waits until `get` yields an instant; fails after `limit` with `describe`'s view of progress.
async fn wait_for(
    progress: &mut watch::Receiver<Progress>,
    limit: Duration,
    what: &str,
    get: impl Fn(&Progress) -> Option<Instant>,
    describe: impl Fn(&Progress) -> String,
) -> anyhow::Result<Option<Instant>> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last_log = Instant::now();
    loop {
        if let Some(at) = get(&progress.borrow_and_update()) {
            return Ok(Some(at));
        }
        if last_log.elapsed() > Duration::from_secs(15) {
            tracing::info!("waiting for {what}: {}", describe(&progress.borrow()));
            last_log = Instant::now();
        }
        match tokio::time::timeout_at(
            deadline.min(tokio::time::Instant::now() + Duration::from_secs(5)),
            progress.changed(),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) => anyhow::bail!("the convergence tracker stopped"),
            Err(_) if tokio::time::Instant::now() >= deadline => {
                anyhow::bail!("timed out after {limit:?} waiting for {what}: {}", describe(&progress.borrow()))
            }
            Err(_) => {}
        }
    }
}

fn events<K, F>(api: Api<K>, config: watcher::Config, to_msg: F) -> BoxStream<'static, Msg>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
    F: Fn(watcher::Event<K>) -> Msg + Send + 'static,
{
    watcher(api, config)
        .default_backoff()
        .map(move |e| match e {
            Ok(watcher::Event::InitDone) => Msg::Synced,
            Ok(e) => to_msg(e),
            Err(err) => {
                tracing::debug!(%err, "bench watch error");
                Msg::Ignore
            }
        })
        .boxed()
}

fn child<K: serde::Serialize + ResourceExt>(kind: usize, e: watcher::Event<K>) -> Msg {
    match e {
        watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
            serde_json::to_value(&o).map_or(Msg::Ignore, |v| Msg::Child(kind, v))
        }
        watcher::Event::Delete(o) => Msg::ChildGone(kind, o.name_any()),
        _ => Msg::Ignore,
    }
}

type Tracker = (mpsc::UnboundedSender<Msg>, watch::Receiver<Progress>, tokio::task::JoinHandle<()>);

/// Starts the watches (children by the operator's label selector, and PrismPatterns) and waits
/// for their first lists, so that setting up watches is not part of any timing.
async fn track(client: &Client, ns: &str, prefix: &str, n: usize) -> anyhow::Result<Tracker> {
    let selector = watcher::Config::default().labels(&prism_operator::naming::runner_children_selector());
    let streams = vec![
        events(Api::<Deployment>::namespaced(client.clone(), ns), selector.clone(), |e| child(0, e)),
        events(Api::<Service>::namespaced(client.clone(), ns), selector.clone(), |e| child(1, e)),
        events(Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), ns), selector, |e| child(2, e)),
        events(Api::<PrismPattern>::namespaced(client.clone(), ns), watcher::Config::default(), |e| match e {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => {
                let running = crate::shapes::runners_ready(&p);
                Msg::Pattern(p.name_any(), running)
            }
            _ => Msg::Ignore,
        }),
    ];
    let (tx, rx) = mpsc::unbounded();
    let (progress_tx, progress) = watch::channel(Progress::default());
    let (synced_tx, synced) = tokio::sync::oneshot::channel();
    let mut merged = futures::stream::select(futures::stream::select_all(streams), rx);
    let prefix = format!("{prefix}-");
    let task = tokio::spawn(async move {
        let mut state = State { n, ..State::default() };
        let mut synced_tx = Some(synced_tx);
        let mut synced = 0;
        while let Some(msg) = merged.next().await {
            match msg {
                Msg::Synced => {
                    synced += 1;
                    if synced == 4 {
                        synced_tx.take().map(|tx| tx.send(()));
                    }
                }
                Msg::Ignore => {}
                msg => state.apply(msg, &prefix),
            }
            progress_tx.send_modify(|p| state.report(p));
        }
    });
    tokio::time::timeout(Duration::from_secs(60), synced).await.context("bench watches did not sync in 60s")??;
    Ok((tx, progress, task))
}

#[derive(Default)]
struct State {
    n: usize,
    want: HashMap<String, Box<[Value; 3]>>,
    live: [HashMap<String, Value>; 3],
    ok: [HashSet<String>; 3],
    running: HashSet<String>,
    mismatch: Option<String>,
}

impl State {
    fn apply(&mut self, msg: Msg, prefix: &str) {
        match msg {
            Msg::Want(name, want) => {
                self.want.insert(name.clone(), want);
                for kind in 0..3 {
                    self.check(kind, &name);
                }
            }
            Msg::Child(kind, obj) => {
                let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_owned();
                if name.starts_with(prefix) {
                    self.live[kind].insert(name.clone(), obj);
                    self.check(kind, &name);
                }
            }
            Msg::ChildGone(kind, name) => {
                self.live[kind].remove(&name);
                self.ok[kind].remove(&name);
            }
            Msg::Pattern(name, running) if name.starts_with(prefix) => {
                if running {
                    self.running.insert(name);
                } else {
                    self.running.remove(&name);
                }
            }
            _ => {}
        }
    }

    fn check(&mut self, kind: usize, name: &str) {
        let (Some(want), Some(live)) = (self.want.get(name), self.live[kind].get(name)) else { return };
        if shapes::matches(live, &want[kind]) {
            self.ok[kind].insert(name.to_owned());
        } else {
            self.ok[kind].remove(name);
            let diff = shapes::first_difference(live, &want[kind], "");
            self.mismatch = Some(format!("{} {name}: {}", KINDS[kind], diff.unwrap_or_default()));
        }
    }

    fn report(&self, p: &mut Progress) {
        p.matched = self.ok.iter().map(HashSet::len).sum();
        p.running = self.running.len();
        p.mismatch.clone_from(&self.mismatch);
        if p.children_at.is_none() && p.matched >= 3 * self.n {
            p.children_at = Some(Instant::now());
        }
        if p.running_at.is_none() && p.running >= self.n {
            p.running_at = Some(Instant::now());
        }
    }
}
