//! `prism-cluster`: runs the local control plane for people (`make cluster-up` / `cluster-down`).
//!
//! `up` starts it (with metrics-server and KEDA unless `--no-autoscalers`, and a Prometheus scraping
//! the request rate kwok emulates for pods when `prometheus` is installed), writes
//! `<dir>/prism-cluster.pid`, then once ready `<dir>/kubeconfig` and the marker `<dir>/ready`, and
//! runs until SIGINT/SIGTERM, when it stops everything. `up --detach` runs the same in a
//! background process (log in `<dir>/prism-cluster.log`) and returns once the ready marker
//! appears. `down` signals the process named in the pid file and waits for it. `load` sets the
//! CPU, memory and request rate that kwok reports for a set of pods, until interrupted
//! (`make local-load`).

use std::{
    fs,
    io::Write,
    os::unix::{fs::OpenOptionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use prism_testkit::{ControlPlane, ControlPlaneOptions, DEFAULT_LOG_FILTER, PidFile, Prometheus, error_chain};
use tokio::signal::unix::{SignalKind, signal};

const PID_FILE: &str = "prism-cluster.pid";
const READY_FILE: &str = "ready";
const KUBECONFIG_FILE: &str = "kubeconfig";
/// The local Prometheus's URL (KEDA's prometheus trigger `serverAddress`), while it runs.
const PROMETHEUS_URL_FILE: &str = "prometheus.url";
/// Output of a detached `up`.
const LOG_FILE: &str = "prism-cluster.log";
/// Data directories (logs, certs, etcd) live under `<dir>/run`.
const DATA_SUBDIR: &str = "run";
const DOWN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a detached start may take beyond `--timeout-secs` (locating binaries, start-up).
const DETACH_SLACK: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);
const LOG_TAIL_LINES: usize = 40;

#[derive(Parser)]
#[command(about = "Run a local Kubernetes control plane (etcd, apiserver, controller-manager, scheduler, kwok nodes)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the control plane and run until interrupted.
    Up {
        /// Directory for the kubeconfig, pid file, ready marker, log and data.
        #[arg(long, default_value = ".local")]
        dir: PathBuf,
        /// Give up if not ready within this many seconds.
        #[arg(long, default_value_t = 180)]
        timeout_secs: u64,
        /// Run in the background and return once the control plane is ready.
        #[arg(long)]
        detach: bool,
        /// Do not start metrics-server and KEDA (operator, metrics API server, webhooks).
        #[arg(long)]
        no_autoscalers: bool,
    },
    /// Simulate load: keep the CPU/memory usage and request rate kwok reports for the pods
    /// matching a selector (pods created later included) until interrupted; metrics-server and
    /// the HPAs see the usage, Prometheus the rate.
    Load {
        /// Kubeconfig of the cluster.
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
        /// Namespace of the pods.
        #[arg(long, short = 'n', default_value = "default")]
        namespace: String,
        /// Label selector of the pods, e.g. `prism.io/pattern-instance=producer-kafka-events`.
        #[arg(long, short = 'l')]
        selector: String,
        /// CPU each pod uses (e.g. `900m`), or with `--total` all of them together.
        #[arg(long)]
        cpu: Option<String>,
        /// Memory each pod uses (e.g. `300Mi`), or with `--total` all of them together.
        #[arg(long)]
        memory: Option<String>,
        /// HTTP requests per second each pod serves (the `http_requests_per_second` Prometheus
        /// scrapes), or with `--total` all of them together.
        #[arg(long)]
        requests_per_second: Option<u64>,
        /// The figures are a total spread evenly over the pods (a fixed request rate).
        #[arg(long)]
        total: bool,
    },
    /// Stop the control plane started by `up` with the same directory.
    Down {
        #[arg(long, default_value = ".local")]
        dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match Cli::parse().command {
        Command::Up { dir, timeout_secs, detach, no_autoscalers } => {
            fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
            let dir = std::path::absolute(&dir)?;
            ensure_not_running(&dir)?;
            if detach {
                up_detached(&dir, timeout_secs, no_autoscalers).await
            } else {
                up(&dir, Duration::from_secs(timeout_secs), !no_autoscalers).await
            }
        }
        Command::Down { dir } => down(&dir).await,
        Command::Load { kubeconfig, namespace, selector, cpu, memory, requests_per_second, total } => {
            let figures = Figures { cpu: cpu.as_deref(), memory: memory.as_deref(), requests_per_second, total };
            load(&kubeconfig, &namespace, &selector, figures).await
        }
    }
}

fn ensure_not_running(dir: &Path) -> anyhow::Result<()> {
    if let Some(owner) = PidFile::read(&dir.join(PID_FILE))?.filter(PidFile::is_running) {
        bail!(
            "a cluster is already running from {} (pid {}); run `prism-cluster down --dir {}`",
            dir.display(),
            owner.pid,
            dir.display()
        );
    }
    Ok(())
}

/// What `load` simulates.
struct Figures<'a> {
    cpu: Option<&'a str>,
    memory: Option<&'a str>,
    requests_per_second: Option<u64>,
    total: bool,
}

impl Figures<'_> {
    fn usage(&self) -> anyhow::Result<prism_testkit::Usage> {
        let cpu_millis = self
            .cpu
            .map(|q| prism_testkit::parse_cpu_millis(q).with_context(|| format!("bad --cpu {q:?}")))
            .transpose()?;
        let memory_bytes = self
            .memory
            .map(|q| prism_testkit::parse_memory_bytes(q).with_context(|| format!("bad --memory {q:?}")))
            .transpose()?;
        if cpu_millis.is_none() && memory_bytes.is_none() && self.requests_per_second.is_none() {
            bail!("give --cpu, --memory, --requests-per-second or several");
        }
        let usage = if self.total {
            prism_testkit::Usage::total(cpu_millis, memory_bytes)
        } else {
            prism_testkit::Usage::per_pod(cpu_millis, memory_bytes)
        };
        Ok(match self.requests_per_second {
            Some(rate) => usage.with_requests_per_second(rate),
            None => usage,
        })
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = [
            self.cpu.map(|c| format!("{c} CPU")),
            self.memory.map(|m| format!("{m} memory")),
            self.requests_per_second.map(|r| format!("{r} requests/s")),
        ]
        .into_iter()
        .flatten()
        .collect();
        parts.join(" and ")
    }
}

async fn load(kubeconfig: &Path, namespace: &str, selector: &str, figures: Figures<'_>) -> anyhow::Result<()> {
    let usage = figures.usage()?;
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("failed to read {}", kubeconfig.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let _load = prism_testkit::Load::start(client, namespace, selector, usage);
    let each = if figures.total { "in total, spread over" } else { "on each of" };
    println!("simulating {} {each} the pods matching {selector:?} in {namespace}; Ctrl-C to stop", figures.describe());
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn up(dir: &Path, timeout: Duration, autoscalers: bool) -> anyhow::Result<()> {
    let pid_path = dir.join(PID_FILE);
    remove_outputs(dir);
    PidFile::current().write(&pid_path)?;
    let opts = ControlPlaneOptions {
        data_root: dir.join(DATA_SUBDIR),
        start_timeout: timeout,
        autoscalers,
        ..ControlPlaneOptions::default()
    };
    let mut terminate = signal(SignalKind::terminate())?;
    // Dropping the start future (on a signal) stops whatever it had started.
    let started = tokio::select! {
        started = ControlPlane::start(opts) => started.map_err(|e| error_chain(&e)),
        _ = tokio::signal::ctrl_c() => Err("interrupted during start".to_owned()),
        _ = terminate.recv() => Err("terminated during start".to_owned()),
    };
    let cp = match started {
        Ok(cp) => cp,
        Err(e) => {
            remove_file(&pid_path);
            bail!("failed to start the control plane: {e}");
        }
    };
    // Prometheus is optional here: the prometheus trigger's sample needs it, nothing else does.
    let prometheus = if autoscalers { start_prometheus(dir, &cp).await } else { None };
    let kubeconfig = dir.join(KUBECONFIG_FILE);
    write_private(&kubeconfig, cp.kubeconfig()).context("failed to write the kubeconfig")?;
    fs::write(dir.join(READY_FILE), format!("{}\n", cp.apiserver_url())).context("failed to write the ready marker")?;
    print_usage(dir, &cp);

    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping");
    drop(prometheus);
    cp.stop().await;
    remove_outputs(dir);
    remove_file(&pid_path);
    Ok(())
}

/// Starts Prometheus and writes its URL to `<dir>/prometheus.url`; says why not if it cannot.
async fn start_prometheus(dir: &Path, cp: &ControlPlane) -> Option<Prometheus> {
    match Prometheus::start(cp).await {
        Ok(prometheus) => match fs::write(dir.join(PROMETHEUS_URL_FILE), format!("{}\n", prometheus.url())) {
            Ok(()) => Some(prometheus),
            Err(e) => {
                tracing::warn!(error = %e, "could not write {PROMETHEUS_URL_FILE}; running without Prometheus");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "running without Prometheus (the prometheus trigger's sample needs it)");
            None
        }
    }
}

fn print_usage(dir: &Path, cp: &ControlPlane) {
    println!("control plane ready at {}", cp.apiserver_url());
    println!("  export KUBECONFIG={}", dir.join(KUBECONFIG_FILE).display());
    println!("  kubectl: {}", cp.bin_dir().join("kubectl").display());
    println!("  logs:    {}/*.log", cp.data_dir().display());
    println!("  audit:   {}", cp.audit_log_path().display());
    if let Ok(url) = fs::read_to_string(dir.join(PROMETHEUS_URL_FILE)) {
        println!("  prometheus: {}", url.trim());
    }
    println!("stop with Ctrl-C or `prism-cluster down --dir {}`", dir.display());
}

/// Starts `up` in a background process of its own process group (so the caller's Ctrl-C does
/// not reach it) and waits for the ready marker, or reports the log if it exits first.
async fn up_detached(dir: &Path, timeout_secs: u64, no_autoscalers: bool) -> anyhow::Result<()> {
    remove_outputs(dir);
    let log_path = dir.join(LOG_FILE);
    let log = fs::File::create(&log_path).context("failed to create the log file")?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("up");
    if no_autoscalers {
        command.arg("--no-autoscalers");
    }
    let mut child = command
        .arg("--dir")
        .arg(dir)
        .arg("--timeout-secs")
        .arg(timeout_secs.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("failed to start the background process")?;
    let deadline = Instant::now() + Duration::from_secs(timeout_secs) + DETACH_SLACK;
    let ready = dir.join(READY_FILE);
    while !ready.exists() {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the background process exited with {status}; last lines of {}:\n{}",
                log_path.display(),
                log_tail(&log_path)
            );
        }
        if Instant::now() >= deadline {
            bail!("not ready in time; see {}", log_path.display());
        }
        tokio::time::sleep(POLL).await;
    }
    println!("control plane running in the background (pid {})", child.id());
    println!("  export KUBECONFIG={}", dir.join(KUBECONFIG_FILE).display());
    println!("  log: {}", log_path.display());
    println!("stop with `prism-cluster down --dir {}`", dir.display());
    Ok(())
}

async fn down(dir: &Path) -> anyhow::Result<()> {
    let pid_path = dir.join(PID_FILE);
    let Some(owner) = PidFile::read(&pid_path)? else {
        println!("no cluster is running from {}", dir.display());
        return Ok(());
    };
    if !owner.is_running() {
        println!("cluster process {} is gone; cleaning up", owner.pid);
        remove_outputs(dir);
        remove_file(&pid_path);
        prism_testkit::remove_stale_data_dirs(&dir.join(DATA_SUBDIR));
        return Ok(());
    }
    owner.terminate().with_context(|| format!("failed to signal pid {}", owner.pid))?;
    let deadline = Instant::now() + DOWN_TIMEOUT;
    while owner.is_running() {
        if Instant::now() >= deadline {
            bail!("pid {} did not exit within {DOWN_TIMEOUT:?}", owner.pid);
        }
        tokio::time::sleep(POLL).await;
    }
    println!("cluster stopped");
    Ok(())
}

/// Writes a file only its owner can read (the kubeconfig holds the admin's private key).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

fn log_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

fn remove_outputs(dir: &Path) {
    for name in [READY_FILE, KUBECONFIG_FILE, PROMETHEUS_URL_FILE] {
        remove_file(&dir.join(name));
    }
}

fn remove_file(path: &Path) {
    let _ = fs::remove_file(path);
}
