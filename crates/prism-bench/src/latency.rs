//! Reconcile latency: PrismPatterns created at a steady rate, each timed from just before its
//! create request until a watch on Deployments sees its runner Deployment. Interleaved with them,
//! a few Deployments created directly are timed the same way: the API server's own
//! create-to-watch latency under the same load, which the operator's figure cannot beat.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime},
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

use crate::{
    audit::{AuditLog, Entry, Window},
    cluster::BENCH_MANAGER,
    report::Figure,
    shapes,
};

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
    /// Wall-clock time each PrismPattern's create was sent (to line up with the audit log).
    pub pattern_sent: Vec<SystemTime>,
    /// The same for each probe.
    pub probe_sent: Vec<SystemTime>,
}

#[derive(Default)]
struct Book {
    sent: HashMap<String, (Instant, SystemTime)>,
    seen: HashMap<String, Duration>,
}

/// Notes that `name`'s create is being sent now (monotonic time for the latency, wall-clock time
/// to line up with the audit log).
fn mark_sent(book: &Mutex<Book>, name: String) {
    let mut b = book.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    b.sent.insert(name, (Instant::now(), SystemTime::now()));
}

/// The steps of one PrismPattern's create-to-Deployment latency, from the API server's audit
/// timestamps and the bench's clock (the same machine, so the same clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Steps {
    /// Sent to the API server having stored the PrismPattern and answered.
    pub create: Duration,
    /// The PrismPattern stored to the operator's first request about its Deployment: watch
    /// delivery to the operator, its work queue, and the reconcile up to its first request.
    pub to_operator: Duration,
    /// That first request (the read that confirms a write is needed) to the apply's arrival.
    pub confirm_read: Duration,
    /// The server-side apply that creates the Deployment, inside the API server.
    pub apply: Duration,
    /// The Deployment stored to the bench's watch seeing it.
    pub to_watch: Duration,
}

/// Names of [`Steps`]' fields, in order, for reports.
pub const STEP_NAMES: [&str; 5] = ["create", "to_operator", "confirm_read", "apply", "to_watch"];

impl Steps {
    pub fn values(&self) -> [Duration; 5] {
        [self.create, self.to_operator, self.confirm_read, self.apply, self.to_watch]
    }
}

/// Breaks each sample down from `entries` (the audit log over the latency phase): the bench's
/// create of PrismPattern `name`, then `operator`'s requests on Deployment `name`. None where a
/// step is missing (not seen, or not in the log).
pub fn steps(
    entries: &[Entry],
    operator: &str,
    names: &[String],
    sent: &[SystemTime],
    latencies: &[Option<Duration>],
) -> Vec<Option<Steps>> {
    per_sample(names, sent, latencies, |name, sent, seen| {
        let of = |e: &&Entry| e.name == name;
        let created = entries.iter().filter(of).find(|e| e.verb == "create" && e.resource == "prismpatterns")?;
        let mut ops = entries.iter().filter(of).filter(|e| e.user_agent == operator && e.resource == "deployments");
        let first = ops.clone().next()?;
        let apply = ops.find(|e| e.verb == "patch")?;
        Some(Steps {
            create: since(created.done, sent),
            to_operator: since(first.received, created.done),
            confirm_read: since(apply.received, first.received),
            apply: since(apply.done, apply.received),
            to_watch: since(seen, apply.done),
        })
    })
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
                    if let Some((sent, _)) = b.sent.get(&name).copied() {
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
        mark_sent(&book, p.name_any());
        let (patterns, pp) = (api.clone(), params.clone());
        creates.spawn(async move { patterns.create(&pp, &p).await.map(drop) });
        if (i + 1) % PROBE_EVERY == 0 {
            let mut d = shapes::unrelated_deployment(probe, ns, i / PROBE_EVERY);
            d.metadata.name = Some(shapes::pattern_name(PROBE_PREFIX, i / PROBE_EVERY));
            mark_sent(&book, d.name_any());
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
    let sent = |prefix: &str, count: usize| -> Vec<SystemTime> {
        (0..count)
            .map(|i| book.sent.get(&shapes::pattern_name(prefix, i)).map_or(SystemTime::UNIX_EPOCH, |s| s.1))
            .collect()
    };
    Ok(Latencies {
        patterns: of(PREFIX, samples),
        probes: of(PROBE_PREFIX, probes),
        pattern_sent: sent(PREFIX, samples),
        probe_sent: sent(PROBE_PREFIX, probes),
    })
}

/// Both breakdowns of one latency phase.
pub struct AllSteps {
    pub patterns: Vec<Option<Steps>>,
    pub probes: Vec<Option<(Duration, Duration)>>,
}

/// Reads the latency phase's requests from the audit log (`window`) and breaks every sample down.
pub fn audit_steps(audit: &AuditLog, window: Window, operator: &str, measured: &Latencies) -> anyhow::Result<AllSteps> {
    let prefixes = [format!("{PREFIX}-"), format!("{PROBE_PREFIX}-")];
    let entries = audit.entries(window, |name| prefixes.iter().any(|p| name.starts_with(p.as_str())))?;
    let names =
        |prefix: &str, count: usize| -> Vec<String> { (0..count).map(|i| shapes::pattern_name(prefix, i)).collect() };
    Ok(AllSteps {
        patterns: steps(
            &entries,
            operator,
            &names(PREFIX, measured.patterns.len()),
            &measured.pattern_sent,
            &measured.patterns,
        ),
        probes: probe_steps(
            &entries,
            &names(PROBE_PREFIX, measured.probes.len()),
            &measured.probe_sent,
            &measured.probes,
        ),
    })
}

/// p50 and p99 of each latency step, and the mean of each step over the slowest 5 % of samples:
/// where the tail of the create-to-Deployment latency goes.
pub fn step_figures(steps: &[Option<Steps>], totals: &[Option<Duration>], n: usize) -> Vec<Figure> {
    let known: Vec<(Steps, Duration)> = steps.iter().zip(totals).filter_map(|(s, t)| Some(((*s)?, (*t)?))).collect();
    if known.is_empty() {
        return Vec::new();
    }
    let mut totals: Vec<Duration> = known.iter().map(|(_, t)| *t).collect();
    totals.sort();
    let p95 = percentile(&totals, 95.0).unwrap_or_default();
    let tail: Vec<&Steps> = known.iter().filter(|(_, t)| *t >= p95).map(|(s, _)| s).collect();
    let mut out = Vec::new();
    for (i, name) in STEP_NAMES.iter().enumerate() {
        let values = known.iter().map(|(s, _)| s.values()[i]).collect();
        let note = format!("from the audit log's timestamps, {} samples", known.len());
        out.extend(percentile_figures(&format!("latency_step_{name}"), values, &[50.0, 99.0], n, &note));
        let mean = tail.iter().map(|s| s.values()[i].as_secs_f64()).sum::<f64>() / tail.len().max(1) as f64;
        out.push(Figure::new(&format!("latency_step_{name}_tail_mean"), mean * 1000.0, "ms", n).note(format!(
            "mean over the {} slowest samples (at or above p95 = {:.0} ms)",
            tail.len(),
            p95.as_secs_f64() * 1000.0
        )));
    }
    out
}

/// p50 and p99 of the probes' two steps.
pub fn probe_figures(steps: &[Option<(Duration, Duration)>], n: usize) -> Vec<Figure> {
    let mut out = Vec::new();
    for (i, step) in ["create", "to_watch"].iter().enumerate() {
        let values: Vec<Duration> = steps.iter().flatten().map(|s| if i == 0 { s.0 } else { s.1 }).collect();
        let note = format!("the direct-create probes' {step} step ({} probes), from the audit log", values.len());
        out.extend(percentile_figures(&format!("latency_probe_{step}"), values, &[50.0, 99.0], n, &note));
    }
    out
}

/// One figure `{name}_p{q}` in milliseconds per quantile `q` of `values` (none when empty).
pub fn percentile_figures(name: &str, mut values: Vec<Duration>, qs: &[f64], n: usize, note: &str) -> Vec<Figure> {
    values.sort();
    qs.iter()
        .filter_map(|&q| {
            let v = percentile(&values, q)?;
            Some(Figure::new(&format!("{name}_p{q}"), v.as_secs_f64() * 1000.0, "ms", n).note(note))
        })
        .collect()
}

/// The nearest-rank percentile `q` (0-100) of sorted samples.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The two steps of each probe (a Deployment the bench creates itself): sent to stored, and
/// stored to the bench's watch seeing it. The API server's share of [`Steps`], under the same load.
pub fn probe_steps(
    entries: &[Entry],
    names: &[String],
    sent: &[SystemTime],
    latencies: &[Option<Duration>],
) -> Vec<Option<(Duration, Duration)>> {
    per_sample(names, sent, latencies, |name, sent, seen| {
        let created = entries.iter().find(|e| e.name == name && e.verb == "create" && e.resource == "deployments")?;
        Some((since(created.done, sent), since(seen, created.done)))
    })
}

/// `step(name, sent, seen)` for every sample that was seen (None for the others).
fn per_sample<T>(
    names: &[String],
    sent: &[SystemTime],
    latencies: &[Option<Duration>],
    step: impl Fn(&str, SystemTime, SystemTime) -> Option<T>,
) -> Vec<Option<T>> {
    names.iter().zip(sent).zip(latencies).map(|((name, &sent), latency)| step(name, sent, sent + (*latency)?)).collect()
}

/// `later - earlier`, zero when the clock says otherwise.
fn since(later: SystemTime, earlier: SystemTime) -> Duration {
    later.duration_since(earlier).unwrap_or_default()
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

    #[test]
    fn steps_follow_the_audit_timestamps() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let entry = |ua: &str, verb: &str, resource: &str, name: &str, from: u64, to: u64| Entry {
            user_agent: ua.to_owned(),
            verb: verb.to_owned(),
            resource: resource.to_owned(),
            name: name.to_owned(),
            received: at(from),
            done: at(to),
        };
        let entries = vec![
            entry("bench", "create", "prismpatterns", "lat-0", 2, 10),
            entry("other", "get", "deployments", "lat-0", 11, 12),
            entry("op", "get", "deployments", "lat-0", 30, 31),
            entry("op", "patch", "deployments", "lat-0", 33, 45),
            entry("op", "patch", "deployments", "lat-0", 90, 95),
            entry("bench", "create", "prismpatterns", "lat-1", 50, 55),
        ];
        let names = vec!["lat-0".to_owned(), "lat-1".to_owned(), "lat-2".to_owned()];
        let sent = vec![t0, at(49), at(100)];
        let lat = vec![Some(Duration::from_millis(60)), Some(Duration::from_millis(20)), None];
        let got = steps(&entries, "op", &names, &sent, &lat);
        let ms = Duration::from_millis;
        assert_eq!(
            got[0],
            Some(Steps { create: ms(10), to_operator: ms(20), confirm_read: ms(3), apply: ms(12), to_watch: ms(15) })
        );
        // The operator never asked about lat-1's Deployment in this log; lat-2 was never seen.
        assert_eq!(got[1..], [None, None]);
        let probes = vec![entry("bench", "create", "deployments", "probe-0", 1, 4)];
        let got = probe_steps(&probes, &["probe-0".to_owned()], &[t0], &[Some(ms(9))]);
        assert_eq!(got, [Some((ms(4), ms(5)))]);
    }
}
