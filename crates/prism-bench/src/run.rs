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
use prism_api::v1alpha1::PrismPattern;
use prism_testkit::ControlPlane;

use crate::{
    audit::{self, AuditLog, Load, Requests},
    cluster,
    converge::{self, Limits},
    figures::{
        converge_figures, create_to_deployment_figures, duration_figures, latency_floor_figures,
        reconcile_latency_figures, usage_figures, work_figures,
    },
    floor::{self, Method},
    latency, memory,
    operator::{Launch, Operator},
    procfs::Sample,
    report::{Figure, Target},
    shapes,
};

/// The bench's User-Agent.
pub const BENCH_AGENT: &str = concat!("prism-bench/", env!("CARGO_PKG_VERSION"));
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
const ORDER: [&str; 17] = [
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
    "create_to_deployment_p99_over_floor",
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

/// The figures and the diagnostics, as the phases add them.
#[derive(Default)]
struct Out {
    figures: Vec<Figure>,
    diagnostics: Vec<Figure>,
}

/// What the floor phase leaves for the later phases.
struct FloorRun {
    elapsed: Duration,
    ssa_elapsed: Duration,
    load: Load,
}

/// The pids the main run's operator is measured with, and what its convergence left.
struct MainRun {
    pids: Vec<u32>,
    converge_requests: Requests,
    to_running: Requests,
    converge_load: Load,
}

/// What the latency phase leaves for the results: the latencies in creation order, and their steps.
struct LatencyRun {
    in_order: Vec<Option<Duration>>,
    steps: Vec<Option<latency::Steps>>,
}

/// Runs every phase on `cp`.
pub async fn run(cp: &ControlPlane, plan: &Plan) -> anyhow::Result<Results> {
    let client = prepare(cp).await?;
    let audit = AuditLog::new(cp.audit_log_path());
    let servers = server_pids(cp);
    let mut out = Out::default();

    // 1. Floor, then the same by server-side apply. Each namespace is deleted afterwards: the
    //    floor's objects keep the control plane busy (its HPA controller syncs every HPA each 15 s).
    let floor = floor_phase(&client, plan, &audit, &servers, &mut out).await?;

    // 2. The operator converges N PrismPatterns.
    let (op, main) = converge_phase(cp, &client, plan, &audit, &servers, &floor, &mut out).await?;

    // 3. Steady state.
    let steady_requests = steady_phase(plan, &audit, &op, &mut out).await?;

    // 4. Reconcile latency under a steady stream of creates.
    let latency = latency_phase(&client, plan, &audit, &op, &main.pids, &mut out).await?;
    all_running(&client, MAIN_NS, plan.n + plan.latency_samples, Duration::from_secs(600)).await;
    op.stop().await?;

    // 5. Memory at the other sizes, each a fresh operator and namespace; before the unrelated
    //    Deployments, which keep the deployment controller busy for minutes.
    for &size in &plan.other_sizes {
        out.figures.extend(memory::other_size(cp, plan, &client, &audit, size).await?);
    }

    // 6. Memory with unrelated Deployments.
    out.figures.extend(memory::unrelated_growth(cp, plan, &client).await?);
    Ok(results(out, floor, main, steady_requests, latency))
}

/// The bench's client, with the CRDs installed and every namespace of the run created.
async fn prepare(cp: &ControlPlane) -> anyhow::Result<Client> {
    // The bench's own requests carry a User-Agent of their own, so the audit log tells them apart.
    let client = Client::try_from(prism_operator::runtime::with_user_agent(cp.kube_config().await?, BENCH_AGENT))?;
    cluster::install_crds(&client).await?;
    for ns in [FLOOR_NS, FLOOR_SSA_NS, MAIN_NS, UNRELATED_NS, SPARE_NS] {
        cluster::namespace(&client, ns).await?;
    }
    Ok(client)
}

/// Phase 1: the floor, then the same children by server-side apply.
async fn floor_phase(
    client: &Client,
    plan: &Plan,
    audit: &AuditLog,
    servers: &[u32],
    out: &mut Out,
) -> anyhow::Result<FloorRun> {
    let (n, k) = (plan.n, plan.concurrency);
    let Out { figures, diagnostics } = out;
    let f = floor::floor(client, FLOOR_NS, n, k, Method::Post, audit, servers).await?;
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
    cluster::delete_namespace(client, FLOOR_NS, Duration::from_secs(900)).await?;
    tracing::info!(elapsed = ?t.elapsed(), "floor namespace deleted");
    let ssa = floor::floor(client, FLOOR_SSA_NS, n, k, Method::Apply, audit, servers).await?;
    diagnostics.push(
        Figure::new("floor_ssa_seconds", ssa.elapsed.as_secs_f64(), "s", n)
            .note(format!("the floor's children by server-side apply (force), {k} in flight")),
    );
    diagnostics.extend(usage_figures("floor_ssa", &ssa.usage, n, &["kube-apiserver", "etcd"]));
    cluster::delete_namespace(client, FLOOR_SSA_NS, Duration::from_secs(900)).await?;
    Ok(FloorRun { elapsed: f.elapsed, ssa_elapsed: ssa.elapsed, load: floor_load })
}

/// Phase 2: a fresh operator converges N PrismPatterns.
async fn converge_phase(
    cp: &ControlPlane,
    client: &Client,
    plan: &Plan,
    audit: &AuditLog,
    servers: &[u32],
    floor: &FloorRun,
    out: &mut Out,
) -> anyhow::Result<(Operator, MainRun)> {
    let (n, k) = (plan.n, plan.concurrency);
    let Out { figures, diagnostics } = out;
    let from = audit.offset()?;
    let op = start(cp, plan, "main", &[MAIN_NS, UNRELATED_NS]).await?;
    let before = op.reconciles().await?;
    let pids = [servers.to_vec(), vec![op.pid()]].concat();
    let c = converge::converge(client, audit, MAIN_NS, "conv", n, k, limits(n), &pids).await?;
    let converge_requests = audit.requests(&op.user_agent, c.window.from, c.window.to)?;
    let to_running = audit.requests(&op.user_agent, from, audit.offset()?)?;
    let converge_load = audit.load(c.window)?;
    let converge_entries = audit.entries(c.window, |_| true)?;
    diagnostics.extend(duration_figures("converge_request", &converge_entries, &op.user_agent, "patch", n));
    figures.extend(converge_figures(&c, floor.elapsed, n, &converge_requests, &to_running));
    diagnostics.extend(usage_figures("converge", &c.usage, n, &["kube-apiserver", "etcd", "operator"]));
    diagnostics.push(
        Figure::new("converge_over_floor_ssa", c.children.as_secs_f64() / floor.ssa_elapsed.as_secs_f64(), "ratio", n)
            .note("converge time over the server-side-apply floor"),
    );
    let operator_program = op.user_agent.split('/').next().unwrap_or_default().to_owned();
    diagnostics.extend(work_figures(&floor.load, &converge_load, &operator_program, (floor.elapsed, c.children), n));
    let after = op.reconciles().await?;
    let (count, _) = before.since(&after, 50.0);
    diagnostics.push(
        Figure::new("reconciles_per_pattern", count / n as f64, "reconciles", n)
            .note("PrismPattern reconciles from the operator's /metrics, operator start to all Running"),
    );
    Ok((op, MainRun { pids, converge_requests, to_running, converge_load }))
}

/// Phase 3: steady state, the operator left alone with what it converged.
async fn steady_phase(plan: &Plan, audit: &AuditLog, op: &Operator, out: &mut Out) -> anyhow::Result<Requests> {
    let n = plan.n;
    let figures = &mut out.figures;
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
    Ok(steady_requests)
}

/// Phase 4: reconcile latency under a steady stream of creates.
async fn latency_phase(
    client: &Client,
    plan: &Plan,
    audit: &AuditLog,
    op: &Operator,
    pids: &[u32],
    out: &mut Out,
) -> anyhow::Result<LatencyRun> {
    let n = plan.n;
    let Out { figures, diagnostics } = out;
    let (before, start, from) = (op.reconciles().await?, Sample::take(pids), audit.offset()?);
    let probe = probe_deployment()?;
    let measured =
        latency::measure(client, MAIN_NS, plan.latency_samples, plan.rate, Duration::from_secs(120), &probe).await?;
    let usage = start.until(&Sample::take(pids));
    let window = audit::Window { from, to: audit.offset()? };
    let steps = latency::audit_steps(audit, window, &op.user_agent, &measured)?;
    diagnostics.extend(latency::step_figures(&steps.patterns, &measured.patterns, n));
    diagnostics.extend(latency::probe_figures(&steps.probes, n));
    let sorted = |v: &[Option<Duration>]| {
        let mut s: Vec<Duration> = v.iter().flatten().copied().collect();
        s.sort();
        s
    };
    let (in_order, samples, probes) = (measured.patterns.clone(), sorted(&measured.patterns), sorted(&measured.probes));
    diagnostics.extend(latency_floor_figures(&probes, measured.probes.len(), n));
    figures.extend(create_to_deployment_figures(&samples, &probes, plan, n));
    let after = op.reconciles().await?;
    diagnostics.extend(reconcile_latency_figures(&before, &after, n));
    diagnostics.extend(usage_figures("latency", &usage, n, &["kube-apiserver", "etcd", "operator"]));
    Ok(LatencyRun { in_order, steps: steps.patterns })
}

/// The Deployment of a PrismPattern, as the probes of the latency phase create it directly.
fn probe_deployment() -> anyhow::Result<k8s_openapi::api::apps::v1::Deployment> {
    let mut template = shapes::pattern("probe-template")?;
    template.metadata.uid = Some("none".to_owned());
    Ok(shapes::children(&template, MAIN_NS)?.deployment)
}

/// The figures in report order, and the breakdowns that explain them.
fn results(out: Out, floor: FloorRun, main: MainRun, steady_requests: Requests, latency: LatencyRun) -> Results {
    let Out { mut figures, diagnostics } = out;
    let rank = |f: &Figure| ORDER.iter().position(|name| *name == f.name).unwrap_or(ORDER.len());
    figures.sort_by(|a, b| rank(a).cmp(&rank(b)).then(a.n.cmp(&b.n)));
    let ms = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
    let latency_ms = latency.in_order.iter().map(|d| d.map(ms)).collect();
    let latency_steps_ms = latency
        .steps
        .iter()
        .map(|s| s.map(|s| latency::STEP_NAMES.iter().zip(s.values()).map(|(k, v)| ((*k).to_owned(), ms(v))).collect()))
        .collect();
    Results {
        figures,
        diagnostics,
        converge_requests: main.converge_requests,
        running_requests: main.to_running,
        steady_requests,
        floor_load: floor.load,
        converge_load: main.converge_load,
        latency_ms,
        latency_steps_ms,
    }
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

/// Waits (up to `limit`) until `count` PrismPatterns in `ns` have their runners up
/// ([`crate::shapes::runners_ready`]).
async fn all_running(client: &Client, ns: &str, count: usize, limit: Duration) {
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let result =
        cluster::poll(&format!("{count} PrismPatterns Running in {ns}"), limit, Duration::from_secs(5), async || {
            let list = api.list(&Default::default()).await.context("list PrismPatterns")?;
            let running = list.items.iter().filter(|p| crate::shapes::runners_ready(p)).count();
            Ok(running >= count)
        })
        .await;
    if let Err(err) = result {
        tracing::warn!(%err, "continuing anyway");
    }
}
