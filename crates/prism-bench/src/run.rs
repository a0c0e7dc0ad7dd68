//! One benchmark run, phase by phase: floor (and the same children by server-side apply, as a
//! diagnostic), operator convergence (its requests from the audit log, CPU from `/proc`, reconciles
//! from its `/metrics`), steady state, reconcile latency, memory at the other sizes and against
//! unrelated Deployments. Each operator run is a fresh `prism-operator` process.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use kube::{Api, Client};
use prism_api::v1alpha1::{PatternPhase, PrismPattern};
use prism_testkit::ControlPlane;
use serde_json::json;

use crate::{
    audit::{self, AuditLog, Load, Requests},
    cluster,
    converge::{self, Converged, Limits},
    floor::{self, Method},
    latency, memory,
    operator::{Launch, Operator},
    procfs::Sample,
    report::{Figure, Target},
    shapes,
};

/// The bench's User-Agent.
pub const BENCH_AGENT: &str = concat!("prism-bench/", env!("CARGO_PKG_VERSION"));
/// Children per PrismPattern (Deployment, Service, HPA); the writes target is this plus 2.
const CHILDREN: f64 = 3.0;
const FLOOR_NS: &str = "bench-floor";
const FLOOR_SSA_NS: &str = "bench-floor-ssa";
pub const MAIN_NS: &str = "bench-main";
pub const UNRELATED_NS: &str = "bench-unrelated";
/// Always empty: the second namespace of the extra memory runs, so that every operator run
/// watches two namespaces (as the main run does: its own and the unrelated one).
pub const SPARE_NS: &str = "bench-spare";

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub mode: String,
    pub n: usize,
    /// Sizes of the memory figure other than `n` (measured by the main run).
    pub other_sizes: Vec<usize>,
    pub steady: Duration,
    pub latency_samples: usize,
    pub rate: f64,
    pub unrelated: usize,
    pub concurrency: usize,
    pub operator: PathBuf,
    /// The operator's `--log-level` (its logs go beside the results).
    pub operator_log_level: String,
    pub logs: PathBuf,
}

/// Figures plus what explains them.
pub struct Results {
    pub figures: Vec<Figure>,
    /// Figures without targets that explain the others (CPU, reconciles, SSA floor).
    pub diagnostics: Vec<Figure>,
    pub converge_requests: Requests,
    /// The operator's requests from its start until every status reported Running.
    pub running_requests: Requests,
    pub steady_requests: Requests,
    /// Every client's requests while the floor was timed, and while the operator converged.
    pub floor_load: Load,
    pub converge_load: Load,
    /// Create-to-Deployment latency of each latency-phase PrismPattern, in creation order.
    pub latency_ms: Vec<Option<f64>>,
    /// The same broken into [`latency::Steps`] (milliseconds by step name).
    pub latency_steps_ms: Vec<Option<std::collections::BTreeMap<String, f64>>>,
}

/// The order of figures in reports: as issue 7 lists them.
const ORDER: [&str; 16] = [
    "floor_seconds",
    "converge_seconds",
    "converge_over_floor",
    "running_seconds",
    "writes_per_pattern",
    "reads_per_pattern",
    "writes_per_pattern_to_running",
    "reads_per_pattern_to_running",
    "steady_writes",
    "steady_cpu",
    "peak_rss",
    "restart_peak_rss",
    "restart_peak_rss_unrelated",
    "rss_growth_unrelated",
    "create_to_deployment_p50",
    "create_to_deployment_p99",
];

pub fn limits(n: usize) -> Limits {
    Limits { children: Duration::from_secs(300 + n as u64 * 3 / 10), running: Duration::from_secs(600 + n as u64 / 5) }
}

/// The API server's and etcd's pids.
fn server_pids(cp: &ControlPlane) -> Vec<u32> {
    ["kube-apiserver", "etcd"]
        .iter()
        .filter_map(|name| cp.process_ids().into_iter().find(|(n, _)| n == name).map(|(_, pid)| pid))
        .collect()
}

/// Runs every phase on `cp`.
pub async fn run(cp: &ControlPlane, plan: &Plan) -> anyhow::Result<Results> {
    // The bench's own requests carry a User-Agent of their own, so the audit log tells them apart.
    let client = Client::try_from(prism_operator::runtime::with_user_agent(cp.kube_config().await?, BENCH_AGENT))?;
    cluster::install_crds(&client).await?;
    for ns in [FLOOR_NS, FLOOR_SSA_NS, MAIN_NS, UNRELATED_NS, SPARE_NS] {
        cluster::namespace(&client, ns).await?;
    }
    let audit = AuditLog::new(cp.audit_log_path());
    let (n, k) = (plan.n, plan.concurrency);
    let servers = server_pids(cp);
    let (mut figures, mut diagnostics) = (Vec::new(), Vec::new());

    // 1. Floor, then the same by server-side apply. Each namespace is deleted afterwards: the
    //    floor's objects keep the control plane busy (its HPA controller syncs every HPA each 15 s).
    let f = floor::floor(&client, FLOOR_NS, n, k, Method::Post, &audit, &servers).await?;
    let floor_load = audit.load(f.window)?;
    diagnostics.extend(duration_figures(
        "floor_request",
        &audit.entries(f.window, |_| true)?,
        BENCH_AGENT,
        "create",
        n,
    ));
    figures.push(
        Figure::new("floor_seconds", f.elapsed.as_secs_f64(), "s", n)
            .note(format!("create the {} children directly (POST, kube-rs, {k} in flight)", 3 * n)),
    );
    diagnostics.extend(usage_figures("floor", &f.usage, n, &["kube-apiserver", "etcd"]));
    let t = Instant::now();
    cluster::delete_namespace(&client, FLOOR_NS, Duration::from_secs(900)).await?;
    tracing::info!(elapsed = ?t.elapsed(), "floor namespace deleted");
    let ssa = floor::floor(&client, FLOOR_SSA_NS, n, k, Method::Apply, &audit, &servers).await?;
    diagnostics.push(
        Figure::new("floor_ssa_seconds", ssa.elapsed.as_secs_f64(), "s", n)
            .note(format!("the floor's children by server-side apply (force), {k} in flight")),
    );
    diagnostics.extend(usage_figures("floor_ssa", &ssa.usage, n, &["kube-apiserver", "etcd"]));
    cluster::delete_namespace(&client, FLOOR_SSA_NS, Duration::from_secs(900)).await?;

    // 2. The operator converges N PrismPatterns.
    let from = audit.offset()?;
    let op = start(cp, plan, "main", &[MAIN_NS, UNRELATED_NS]).await?;
    let before = op.reconciles().await?;
    let pids = [servers.clone(), vec![op.pid()]].concat();
    let c = converge::converge(&client, &audit, MAIN_NS, "conv", n, k, limits(n), &pids).await?;
    let converge_requests = audit.requests(&op.user_agent, c.window.from, c.window.to)?;
    let to_running = audit.requests(&op.user_agent, from, audit.offset()?)?;
    let converge_load = audit.load(c.window)?;
    let converge_entries = audit.entries(c.window, |_| true)?;
    diagnostics.extend(duration_figures("converge_request", &converge_entries, &op.user_agent, "patch", n));
    figures.extend(converge_figures(&c, f.elapsed, n, &converge_requests, &to_running));
    diagnostics.extend(usage_figures("converge", &c.usage, n, &["kube-apiserver", "etcd", "operator"]));
    diagnostics.push(
        Figure::new("converge_over_floor_ssa", c.children.as_secs_f64() / ssa.elapsed.as_secs_f64(), "ratio", n)
            .note("converge time over the server-side-apply floor"),
    );
    let operator_program = op.user_agent.split('/').next().unwrap_or_default().to_owned();
    diagnostics.extend(work_figures(&floor_load, &converge_load, &operator_program, (f.elapsed, c.children), n));
    let after = op.reconciles().await?;
    let (count, _) = before.since(&after, 50.0);
    diagnostics.push(
        Figure::new("reconciles_per_pattern", count / n as f64, "reconciles", n)
            .note("PrismPattern reconciles from the operator's /metrics, operator start to all Running"),
    );

    // 3. Steady state.
    let (from, cpu) = (audit.offset()?, op.cpu_seconds()?);
    tokio::time::sleep(plan.steady).await;
    let steady_cpu = op.cpu_seconds()? - cpu;
    let steady_requests = audit.requests(&op.user_agent, from, audit.offset()?)?;
    let window = format!("over {} s after convergence", plan.steady.as_secs());
    figures.push(
        Figure::new("steady_writes", steady_requests.writes() as f64, "requests", n)
            .target(Target::AtMost(0.0))
            .note(window.clone()),
    );
    figures.push(
        Figure::new("steady_cpu", 100.0 * steady_cpu / plan.steady.as_secs_f64(), "% of a core", n)
            .target(Target::Below(1.0))
            .note(format!("{window}: {steady_cpu:.2} CPU s (utime+stime)")),
    );
    figures.push(
        Figure::new("peak_rss", op.peak_rss_mib()?, "MiB", n)
            .target(Target::AtMost(64.0))
            .note("VmHWM of the operator that converged them"),
    );

    // 4. Reconcile latency under a steady stream of creates.
    let (before, start, from) = (op.reconciles().await?, Sample::take(&pids), audit.offset()?);
    let probe = {
        let mut template = shapes::pattern("probe-template")?;
        template.metadata.uid = Some("none".to_owned());
        shapes::children(&template, MAIN_NS)?.deployment
    };
    let measured =
        latency::measure(&client, MAIN_NS, plan.latency_samples, plan.rate, Duration::from_secs(120), &probe).await?;
    let usage = start.until(&Sample::take(&pids));
    let window = audit::Window { from, to: audit.offset()? };
    let steps = latency::audit_steps(&audit, window, &op.user_agent, &measured)?;
    diagnostics.extend(latency::step_figures(&steps.patterns, &measured.patterns, n));
    diagnostics.extend(latency::probe_figures(&steps.probes, n));
    let sorted = |v: &[Option<Duration>]| {
        let mut s: Vec<Duration> = v.iter().flatten().copied().collect();
        s.sort();
        s
    };
    let (in_order, samples, probes) = (measured.patterns.clone(), sorted(&measured.patterns), sorted(&measured.probes));
    for q in [50.0, 99.0] {
        if let Some(v) = latency::percentile(&probes, q) {
            diagnostics.push(Figure::new(&format!("latency_floor_p{q}"), v.as_secs_f64() * 1000.0, "ms", n).note(
                format!(
                    "a Deployment created directly (1 per {} PrismPatterns, {} of {} seen), create request to watch \
                     event: the API server's own latency under the same load",
                    latency::PROBE_EVERY,
                    probes.len(),
                    measured.probes.len()
                ),
            ));
        }
    }
    let lat_note = format!(
        "create request to Deployment watch event; {} of {} samples, {} creates/s",
        samples.len(),
        plan.latency_samples,
        plan.rate
    );
    for (q, target) in [(50.0, None), (99.0, Some(Target::AtMost(250.0)))] {
        if let Some(v) = latency::percentile(&samples, q) {
            let f = Figure::new(&format!("create_to_deployment_p{q}"), v.as_secs_f64() * 1000.0, "ms", n)
                .note(lat_note.clone());
            figures.push(match target {
                Some(t) => f.target(t),
                None => f,
            });
        }
    }
    let after = op.reconciles().await?;
    for q in [50.0, 99.0] {
        let (count, bound) = before.since(&after, q);
        diagnostics.push(
            Figure::new(&format!("latency_reconcile_p{q}_le"), bound.unwrap_or(f64::NAN) * 1000.0, "ms", n)
                .note(format!("bucket bound of the p{q} reconcile duration in the latency phase ({count} reconciles)")),
        );
    }
    diagnostics.extend(usage_figures("latency", &usage, n, &["kube-apiserver", "etcd", "operator"]));
    all_running(&client, MAIN_NS, n + plan.latency_samples, Duration::from_secs(600)).await;
    op.stop().await?;

    // 5. Memory at the other sizes, each a fresh operator and namespace; before the unrelated
    //    Deployments, which keep the deployment controller busy for minutes.
    for &size in &plan.other_sizes {
        figures.extend(memory::other_size(cp, plan, &client, &audit, size).await?);
    }

    // 6. Memory with unrelated Deployments.
    figures.extend(memory::unrelated_growth(cp, plan, &client).await?);
    let rank = |f: &Figure| ORDER.iter().position(|name| *name == f.name).unwrap_or(ORDER.len());
    figures.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.n.cmp(&b.n)));
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let latency_ms = in_order.iter().map(|d| d.map(ms)).collect();
    let latency_steps_ms = steps
        .patterns
        .iter()
        .map(|s| s.map(|s| latency::STEP_NAMES.iter().zip(s.values()).map(|(k, v)| ((*k).to_owned(), ms(v))).collect()))
        .collect();
    Ok(Results {
        figures,
        diagnostics,
        converge_requests,
        running_requests: to_running,
        steady_requests,
        floor_load,
        converge_load,
        latency_ms,
        latency_steps_ms,
    })
}

/// The writes each window had to get through, and the converge ratio per write. On a machine
/// where the API server's CPU is the limit, the converge ratio follows the ratio of writes: the
/// converge window holds the PrismPattern creates and every write of the operator (children,
/// Events, status), the floor only the children.
fn work_figures(
    floor: &Load,
    converge: &Load,
    operator: &str,
    (floor_time, converge_time): (Duration, Duration),
    n: usize,
) -> Vec<Figure> {
    let bench = BENCH_AGENT.split('/').next().unwrap_or(BENCH_AGENT);
    let writes = |load: &Load, client: &str| load.get(client).map_or(0, |(w, _)| *w);
    let floor_writes = writes(floor, bench);
    let converge_writes = writes(converge, bench) + writes(converge, operator);
    let others = |load: &Load| -> u64 {
        load.iter().filter(|(c, _)| c.as_str() != bench && c.as_str() != operator).map(|(_, (w, _))| w).sum()
    };
    if floor_writes == 0 || converge_writes == 0 {
        return Vec::new();
    }
    let ratio = converge_writes as f64 / floor_writes as f64;
    let per_write =
        (converge_time.as_secs_f64() / converge_writes as f64) / (floor_time.as_secs_f64() / floor_writes as f64);
    vec![
        Figure::new("converge_writes_over_floor_writes", ratio, "ratio", n).note(format!(
            "{converge_writes} writes by the bench (PrismPattern creates) and the operator in the converge window, \
             against the floor's {floor_writes}"
        )),
        Figure::new("converge_over_floor_per_write", per_write, "ratio", n).note(
            "converge time per write over floor time per write: what is left of the ratio once the work is equal",
        ),
        Figure::new("floor_other_writes", others(floor) as f64 / floor_time.as_secs_f64(), "writes/s", n)
            .note("writes by every other client (the control plane's controllers, kwok) during the floor"),
        Figure::new("converge_other_writes", others(converge) as f64 / converge_time.as_secs_f64(), "writes/s", n)
            .note("the same during convergence: the controllers' client rate limits keep this flat"),
    ]
}

fn converge_figures(c: &Converged, floor: Duration, n: usize, r: &Requests, to_running: &Requests) -> Vec<Figure> {
    let per = |v: u64| v as f64 / n as f64;
    let running = match c.running {
        Some(d) => Figure::new("running_seconds", d.as_secs_f64(), "s", n).note(
            "first create to every status Running (pods are made Running by the control plane's controllers and kwok)",
        ),
        None => Figure::new("running_seconds", f64::NAN, "s", n).note("not every status was Running within the limit"),
    };
    vec![
        Figure::new("converge_seconds", c.children.as_secs_f64(), "s", n).note(format!(
            "first PrismPattern create to every child matching; creating the {n} PrismPatterns took {:.1} s",
            c.created.as_secs_f64()
        )),
        Figure::new("converge_over_floor", c.children.as_secs_f64() / floor.as_secs_f64(), "ratio", n)
            .target(Target::AtMost(1.3)),
        running,
        Figure::new("writes_per_pattern", per(r.writes()), "requests", n)
            .target(Target::AtMost(CHILDREN + 2.0))
            .note("create/update/patch/delete by the operator's User-Agent, first create to every child matching"),
        Figure::new("reads_per_pattern", per(r.reads()), "requests", n).note("get/list/watch in the same window"),
        Figure::new("writes_per_pattern_to_running", per(to_running.writes()), "requests", n).note(
            "the same from operator start to every status Running: adds the status write of the Running transition",
        ),
        Figure::new("reads_per_pattern_to_running", per(to_running.reads()), "requests", n)
            .note("get/list/watch from operator start to every status Running"),
    ]
}

/// p50 and p90 time the API server took to answer `agent`'s `verb` requests in a window, by
/// resource: which kind of child is the long pole. (A Service's ClusterIP is allocated under one
/// lock in the API server, held while it creates the IPAddress object.)
fn duration_figures(prefix: &str, entries: &[audit::Entry], agent: &str, verb: &str, n: usize) -> Vec<Figure> {
    let mut by_resource: std::collections::BTreeMap<&str, Vec<Duration>> = std::collections::BTreeMap::new();
    for e in entries.iter().filter(|e| e.user_agent == agent && e.verb == verb && !e.resource.contains('/')) {
        let took = e.done.duration_since(e.received).unwrap_or_default();
        by_resource.entry(e.resource.as_str()).or_default().push(took);
    }
    by_resource
        .into_iter()
        .flat_map(|(resource, took)| {
            let note = format!("{verb} {resource}: API server time, {} requests", took.len());
            latency::percentile_figures(&format!("{prefix}_{resource}"), took, &[50.0, 90.0], n, &note)
        })
        .collect()
}

/// CPU figures of one timed window: each process's CPU seconds and the machine's busy share.
fn usage_figures(window: &str, u: &crate::procfs::Usage, n: usize, names: &[&str]) -> Vec<Figure> {
    let mut out: Vec<Figure> = names
        .iter()
        .zip(&u.procs)
        .map(|(name, secs)| {
            Figure::new(&format!("{window}_cpu_{name}"), *secs, "CPU s", n).note(format!(
                "{:.0}% of one core over the {:.1} s window",
                100.0 * secs / u.wall.max(1e-9),
                u.wall
            ))
        })
        .collect();
    out.push(
        Figure::new(&format!("{window}_machine_busy"), u.machine_busy, "%", n)
            .note("all CPUs, every process on the machine (it is shared)"),
    );
    out
}

pub async fn start(cp: &ControlPlane, plan: &Plan, tag: &str, namespaces: &[&str]) -> anyhow::Result<Operator> {
    let namespaces: Vec<String> = namespaces.iter().map(|s| (*s).to_owned()).collect();
    Operator::start(Launch {
        binary: &plan.operator,
        kubeconfig: cp.kubeconfig_path(),
        namespaces: &namespaces,
        user_agent: format!("prism-operator-bench/{tag}"),
        log_file: plan.logs.join(format!("operator-{tag}.log")),
        log_level: &plan.operator_log_level,
    })
    .await
}

/// Waits (up to `limit`) until `count` PrismPatterns in `ns` are Running.
async fn all_running(client: &Client, ns: &str, count: usize, limit: Duration) {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let result =
        cluster::poll(&format!("{count} PrismPatterns Running in {ns}"), limit, Duration::from_secs(5), async || {
            let list = api.list(&Default::default()).await.context("list PrismPatterns")?;
            let running = list
                .items
                .iter()
                .filter(|p| p.status.as_ref().and_then(|s| s.phase) == Some(PatternPhase::Running))
                .count();
            Ok(running >= count)
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(%err, "continuing anyway");
    }
}

/// The request breakdowns as JSON.
pub fn details_json(r: &Results, n: usize) -> serde_json::Value {
    json!({
        "convergence_requests": {"n": n, "by_verb": r.converge_requests.by_verb,
            "writes_by_resource": r.converge_requests.writes_by_resource,
            "reads_by_resource": r.converge_requests.reads_by_resource},
        "requests_to_running": {"n": n, "by_verb": r.running_requests.by_verb,
            "writes_by_resource": r.running_requests.writes_by_resource,
            "reads_by_resource": r.running_requests.reads_by_resource},
        "api_server_load": {"floor": r.floor_load, "converge": r.converge_load},
        "latency_ms_in_creation_order": r.latency_ms,
        "latency_steps_ms_in_creation_order": r.latency_steps_ms,
        "steady_state_requests": {"by_verb": r.steady_requests.by_verb,
            "writes_by_resource": r.steady_requests.writes_by_resource,
            "reads_by_resource": r.steady_requests.reads_by_resource,
            "sample_writes": r.steady_requests.sample_writes},
    })
}
