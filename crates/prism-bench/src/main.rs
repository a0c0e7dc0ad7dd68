//! `prism-bench`: benchmarks the Prism operator on its own local control plane (issue 7) and
//! reports each figure beside its target: converge time against the API server's floor, requests
//! per PrismPattern, steady-state writes and CPU, peak memory at scale and with unrelated
//! Deployments, and create-to-Deployment latency. Writes `target/bench/results.json` and
//! `docs/performance.md`; a missed target is reported, never a failure.
#![forbid(unsafe_code)]

mod audit;
mod cluster;
mod converge;
mod figures;
mod floor;
mod latency;
mod memory;
mod operator;
mod procfs;
mod report;
mod run;
mod scaling;
mod shapes;

use std::{fmt::Write as _, path::PathBuf, time::Duration, time::Instant};

use anyhow::Context as _;
use clap::{Parser, ValueEnum};

use crate::{audit::Requests, figures::details_json, report::Context, run::Plan};

/// Benchmarks the Prism operator on a local control plane of its own.
#[derive(Debug, Parser)]
#[command(name = "prism-bench", version, about)]
struct Cli {
    /// `full` (N = 100, 1,000, 5,000; 60 s steady window) or `quick` for CI (N = 100, 1,000;
    /// 20 s steady window).
    #[arg(long, value_enum, default_value = "full")]
    mode: Mode,
    /// PrismPatterns of the main run (floor, converge, requests, steady state, latency).
    #[arg(long, default_value_t = 1000)]
    n: usize,
    /// Other sizes of the memory figure (default: 100 in quick mode; 100 and 5000 in full mode).
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Steady-state window in seconds (default: 20 quick, 60 full).
    #[arg(long)]
    steady_secs: Option<u64>,
    /// Create-to-Deployment samples.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// PrismPattern creates per second during the latency phase.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Unrelated Deployments for the memory-growth figure.
    #[arg(long, default_value_t = 5000)]
    unrelated: usize,
    /// Requests in flight for the bench's own creates (the operator's default concurrency).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The operator binary (default: `prism-operator` beside this binary).
    #[arg(long)]
    operator: Option<PathBuf>,
    /// The operator's log filter (`--log-level`), e.g. `info,kube_runtime=debug`.
    #[arg(long, default_value = "info")]
    operator_log_level: String,
    /// JSON results file.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// Copy the API server's audit log of the whole run here (for analysis beyond the report).
    #[arg(long)]
    keep_audit: Option<PathBuf>,
    /// Measure only the scaling figure (a control plane of its own with metrics-server and KEDA;
    /// about 3 minutes) and print it; writes no results.
    #[arg(long)]
    scaling_only: bool,
    /// Markdown report (`-` to skip).
    #[arg(long, default_value = "docs/performance.md")]
    doc: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    Quick,
    Full,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{},prism_bench=info", prism_testkit::DEFAULT_LOG_FILTER))
    });
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let started = Instant::now();
    let quick = cli.mode == Mode::Quick;
    let operator = match cli.operator.clone() {
        Some(path) => path,
        None => std::env::current_exe()?.parent().context("bench binary directory")?.join("prism-operator"),
    };
    anyhow::ensure!(
        operator.exists(),
        "operator binary {} not found (build it: cargo build --release -p prism-operator)",
        operator.display()
    );
    let logs = cli.out.parent().map_or_else(|| PathBuf::from("."), PathBuf::from);
    std::fs::create_dir_all(&logs)?;
    let plan = Plan {
        mode: if quick { "quick" } else { "full" }.to_owned(),
        n: cli.n,
        other_sizes: cli.sizes.clone().unwrap_or_else(|| if quick { vec![100] } else { vec![100, 5000] }),
        steady: Duration::from_secs(cli.steady_secs.unwrap_or(if quick { 20 } else { 60 })),
        latency_samples: cli.latency_samples,
        rate: cli.rate,
        unrelated: cli.unrelated,
        concurrency: cli.concurrency,
        operator,
        operator_log_level: cli.operator_log_level.clone(),
        logs,
    };
    if cli.scaling_only {
        println!("{}", report::table(&scaling::scaling(&plan).await?));
        return Ok(());
    }
    let mut ctx = Context::machine(&plan.mode, std::env::args().collect::<Vec<_>>().join(" "));
    tracing::info!(?plan, load = %ctx.load_before, "starting");

    // One runner pod per PrismPattern (the HPA's minimum), for every batch and the floor.
    let pods = 2 * plan.n + plan.latency_samples + plan.other_sizes.iter().sum::<usize>();
    let cp = cluster::start(pods).await?;
    let results = run::run(&cp, &plan).await;
    ctx.versions = versions(&cp, &plan).await;
    if let Some(path) = &cli.keep_audit {
        std::fs::copy(cp.audit_log_path(), path)
            .with_context(|| format!("copy the audit log to {}", path.display()))?;
    }
    cp.stop().await;
    let mut results = results?;
    // The scaling figure, on a control plane of its own with the real autoscalers.
    results.figures.extend(scaling::scaling(&plan).await?);

    ctx.load_after = report::loadavg();
    ctx.duration_secs = started.elapsed().as_secs_f64();
    let details = details_markdown(&results, &plan);
    report::write_json(&cli.out, &ctx, &results.figures, &results.diagnostics, details_json(&results, plan.n))?;
    if cli.doc != "-" {
        report::write_markdown(std::path::Path::new(&cli.doc), &ctx, &results.figures, &details)?;
    }
    println!(
        "\nprism-bench, {} mode, {:.1} min (load before/after: {} / {})\n",
        plan.mode,
        ctx.duration_secs / 60.0,
        ctx.load_before,
        ctx.load_after
    );
    println!("{}", report::table(&results.figures));
    println!("{details}");
    println!("Results: {}{}", cli.out.display(), if cli.doc == "-" { String::new() } else { format!(", {}", cli.doc) });
    Ok(())
}

/// The operator's requests behind the figures, and how each figure is measured.
fn details_markdown(r: &run::Results, plan: &Plan) -> String {
    let mut md =
        String::from("## Diagnostics\n\nMeasured in the same run to explain the figures above (no targets).\n\n");
    md.push_str(&report::table(&r.diagnostics));
    md.push('\n');
    let n = plan.n as f64;
    let _ = writeln!(md, "## The operator's requests during convergence (N = {})\n", plan.n);
    md.push_str(&breakdown(&r.converge_requests, Some(n)));
    let _ = writeln!(
        md,
        "\n## The operator's requests from its start until every PrismPattern is Ready (N = {})\n",
        plan.n
    );
    md.push_str(&breakdown(&r.running_requests, Some(n)));
    md.push_str(&load_table(r, plan));
    let _ = writeln!(md, "\n## The operator's requests in the steady-state window ({} s)\n", plan.steady.as_secs());
    md.push_str(&breakdown(&r.steady_requests, None));
    if !r.steady_requests.sample_writes.is_empty() {
        md.push_str("\nWrites seen (first 20):\n\n");
        for w in &r.steady_requests.sample_writes {
            let _ = writeln!(md, "- `{w}`");
        }
    }
    let _ = write!(
        md,
        "\n## How each figure is measured\n\n\
         - **Floor**: {n} PrismPatterns are created untimed (owners, unwatched namespace), then their {c} \
         children, built with the operator's own builders (`prism_operator::workload`, `autoscaling`, \
         the same applied-hash annotation), are created with `POST`, {k} requests in flight; timed until the last \
         answer. The bench then deletes the floor's namespace and waits until it is gone, so that its objects do \
         not load the control plane during the operator's run.\n\
         - **Converge**: a fresh `prism-operator run --namespaces bench-main,bench-unrelated` (release build, \
         default settings, concurrency 16); timed from the first of {n} PrismPattern creates ({k} in flight) \
         until watches show every Deployment, Service and HPA holding every field the builders produce \
         (the operator's own `canonical::contains`), and separately until every PrismPattern reports Ready=True (its runners Running; the phase stays Degraded because the bench runs no metrics-server for the HPAs).\n\
         - **Requests**: audit-log events (one per `auditID`) whose `userAgent` is the operator's. \
         `writes_per_pattern` counts the convergence window (first create until every child matches, as the \
         issue defines convergence); `writes_per_pattern_to_running` counts from the operator's start until \
         every PrismPattern is Ready, which adds the status write of the Ready transition. Access reviews \
         (startup checks) are not counted.\n\
         - **Steady state**: the audit log and `/proc/<pid>/stat` (utime + stime) over the window right after \
         every PrismPattern is Ready ({s} s in this run).\n\
         - **Memory**: `VmHWM` of the operator process. At N = {n} that of the operator that converged them; \
         at other N a fresh operator and namespace each. Growth: two fresh operators on the converged \
         `bench-main` ({n} + {l} PrismPatterns), read {settle} s after `/readyz`, before and after {u} \
         unrelated Deployments (runner-sized, no Prism labels, 0 replicas) are created in `bench-unrelated`, \
         which the operator watches.\n\
         - **Latency**: {l} PrismPatterns created at {rate} per second into `bench-main` (with the {n} converged \
         ones); each timed from just before its create request until a Deployment watch sees its Deployment.\n\
         - **Diagnostics**: the same floor by server-side apply (`PATCH`, force) in a namespace of its own; CPU \
         seconds of kube-apiserver, etcd and the operator from `/proc/<pid>/stat` and the machine's busy share \
         from `/proc/stat` in each timed window; reconcile counts and duration buckets from the operator's \
         `/metrics`.\n\
         - **Latency steps** (`latency_step_*`): each latency sample cut at the API server's own audit \
         timestamps (`requestReceivedTimestamp`, `stageTimestamp`; same machine, same clock as the bench): \
         `create` is the bench's PrismPattern create until it is stored, `to_operator` from then until the \
         operator's first request about its Deployment (watch delivery, work queue, reconcile), `confirm_read` \
         the read that confirms a write is needed, `apply` the server-side apply that creates the Deployment, \
         `to_watch` until the bench's watch sees it. `*_tail_mean` averages each step over the slowest 5 % of \
         samples. The probes (`latency_probe_*`) are cut the same way: the API server's own share under the \
         same load.\n\
         - **Scaling** (`scaling_*`): a control plane of its own with metrics-server and KEDA, and a fresh \
         operator; the README's HPA example (CPU 75 % of 500m, scale-down window shortened to 15 s) under a \
         simulated total CPU load spread over its pods (kwok's usage annotations): 100m, then 1300m (4 \
         replicas), then 100m again (back to 2). Each timed from the load change until the Deployment asks for \
         another count (`first_replica_change`) and until it has the new count ready (`settled`); the operator's \
         writes are counted from the audit log over the whole cycle.\n\
         - **Request times** (`floor_request_*`, `converge_request_*`): how long the API server took to answer \
         the floor's creates and the operator's applies, by resource, from the audit log. Services stand out: the \
         API server allocates each ClusterIP under one lock (its ServiceCIDR allocator), held while it creates \
         the IPAddress object, so Service creates queue behind each other in both windows.\n\
         - **Work** (`converge_writes_over_floor_writes`, `converge_over_floor_per_write`): the writes each \
         window had to get through, by User-Agent from the audit log. The converge window holds the \
         PrismPattern creates and every operator write (children, one `Created` Event, status); the floor only \
         the children. Where the API server's CPU is the limit, the converge ratio follows the ratio of writes; \
         the per-write ratio is what is left once the work is equal. The control plane's own controllers write \
         at a flat rate in both windows (`*_other_writes`): their clients are rate limited.\n\
         - Runner pods: each PrismPattern has one (HPA minReplicas 1); kwok simulates the nodes (capacity raised \
         to hold every pod). No metrics-server: the HPAs never scale.\n",
        n = plan.n,
        c = 3 * plan.n,
        k = plan.concurrency,
        s = plan.steady.as_secs(),
        l = plan.latency_samples,
        u = plan.unrelated,
        rate = plan.rate,
        settle = 15,
    );
    md
}

/// Every client's requests in the two timed windows: what the API server had to do.
fn load_table(r: &run::Results, plan: &Plan) -> String {
    let mut md = format!(
        "\n## API server requests in the timed windows (all clients, N = {})\n\n\
         The floor window is the {} child creates; the converge window runs from the first PrismPattern \
         create until every child matched.\n\n\
         | Client | Floor writes | Floor reads | Converge writes | Converge reads |\n|---|---:|---:|---:|---:|\n",
        plan.n,
        3 * plan.n
    );
    let clients: std::collections::BTreeSet<&String> = r.floor_load.keys().chain(r.converge_load.keys()).collect();
    let (mut total_f, mut total_c) = ((0, 0), (0, 0));
    for client in clients {
        let f = r.floor_load.get(client).copied().unwrap_or_default();
        let c = r.converge_load.get(client).copied().unwrap_or_default();
        (total_f.0, total_f.1, total_c.0, total_c.1) =
            (total_f.0 + f.0, total_f.1 + f.1, total_c.0 + c.0, total_c.1 + c.1);
        if f != (0, 0) || c != (0, 0) {
            let name = if client.is_empty() { "(none)" } else { client.as_str() };
            let _ = writeln!(md, "| {name} | {} | {} | {} | {} |", f.0, f.1, c.0, c.1);
        }
    }
    let _ = writeln!(md, "| **all** | {} | {} | {} | {} |", total_f.0, total_f.1, total_c.0, total_c.1);
    md
}

fn breakdown(r: &Requests, per: Option<f64>) -> String {
    let mut md = String::from("| Requests | Count | Per PrismPattern |\n|---|---:|---:|\n");
    let per_text = |v: u64| per.map_or_else(String::new, |n| report::num(v as f64 / n));
    for (verb, count) in &r.by_verb {
        let _ = writeln!(md, "| {verb} (all) | {count} | {} |", per_text(*count));
    }
    for (what, count) in r.writes_by_resource.iter().chain(&r.reads_by_resource) {
        let _ = writeln!(md, "| {what} | {count} | {} |", per_text(*count));
    }
    md
}

async fn versions(cp: &prism_testkit::ControlPlane, plan: &Plan) -> Vec<(String, String)> {
    let cmd = |program: PathBuf, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let kubernetes = match cp.client().await {
        Ok(client) => client.apiserver_version().await.map_or_else(|e| e.to_string(), |v| v.git_version),
        Err(e) => e.to_string(),
    };
    let commit = cmd("git".into(), &["rev-parse", "--short", "HEAD"]);
    let dirty = std::process::Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let mut v = vec![
        ("prism-operator".to_owned(), operator::version(&plan.operator)),
        ("git commit".to_owned(), if dirty { format!("{commit} (with uncommitted changes)") } else { commit }),
        ("Kubernetes (kube-apiserver)".to_owned(), kubernetes),
        ("etcd".to_owned(), cmd(cp.bin_dir().join("etcd"), &["--version"])),
        ("kwok".to_owned(), cmd(cp.bin_dir().join("kwok"), &["--version"])),
        ("rustc".to_owned(), cmd("rustc".into(), &["--version"])),
    ];
    if let Ok(lock) = std::fs::read_to_string("Cargo.lock") {
        for krate in ["kube", "k8s-openapi", "tokio"] {
            let needle = format!("name = \"{krate}\"\nversion = \"");
            if let Some(rest) = lock.split_once(&needle).map(|(_, r)| r) {
                v.push((krate.to_owned(), rest.split('"').next().unwrap_or_default().to_owned()));
            }
        }
    }
    v
}
