//! The operator under test: the real `prism-operator` binary as a child process, with its own
//! User-Agent (so the audit log attributes its requests), its readiness probe, and its CPU time and
//! memory read from `/proc`.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

/// How long the operator may take to sync its caches.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A running operator process. Killed on drop.
pub struct Operator {
    child: Child,
    pid: u32,
    health: SocketAddr,
    metrics: SocketAddr,
    pub user_agent: String,
}

/// How to start one operator.
pub struct Launch<'a> {
    pub binary: &'a Path,
    pub kubeconfig: &'a Path,
    pub namespaces: &'a [String],
    pub user_agent: String,
    pub log_file: PathBuf,
    pub log_level: &'a str,
}

impl Operator {
    /// Starts `prism-operator run` and waits until `/readyz` answers 200 (caches synced).
    pub async fn start(launch: Launch<'_>) -> anyhow::Result<Self> {
        let (metrics, health) = (free_addr()?, free_addr()?);
        let log =
            std::fs::File::create(&launch.log_file).with_context(|| format!("create {}", launch.log_file.display()))?;
        // setpriv kills the operator when the bench dies, whatever the way (it execs the
        // operator, so the pid is the operator's own).
        let mut cmd = if Path::new("/usr/bin/setpriv").exists() {
            let mut c = Command::new("/usr/bin/setpriv");
            c.args(["--pdeathsig", "KILL", "--"]).arg(launch.binary);
            c
        } else {
            Command::new(launch.binary)
        };
        cmd.arg("run")
            .arg(format!("--namespaces={}", launch.namespaces.join(",")))
            .arg(format!("--metrics-bind-address={metrics}"))
            .arg(format!("--health-probe-bind-address={health}"))
            .arg(format!("--log-level={}", launch.log_level))
            .env("KUBECONFIG", launch.kubeconfig)
            .env("PRISM_USER_AGENT", &launch.user_agent)
            .env_remove("WATCH_NAMESPACES")
            .env_remove("LOG_LEVEL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        let child = cmd.spawn().with_context(|| format!("start {}", launch.binary.display()))?;
        let pid = child.id().context("operator pid")?;
        let mut op = Self { child, pid, health, metrics, user_agent: launch.user_agent };
        op.wait_ready(&launch.log_file).await?;
        Ok(op)
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the operator exited ({status}) before it was ready; see {}", log.display());
            }
            if readyz(self.health).await {
                tracing::info!(elapsed = ?started.elapsed(), pid = self.pid, "operator ready");
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!("the operator was not ready after {READY_TIMEOUT:?}; see {}", log.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// User plus system CPU time so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        crate::procfs::cpu_seconds(self.pid)
    }

    /// The PrismPattern controller's reconcile counter and duration histogram from `/metrics`.
    pub async fn reconciles(&self) -> anyhow::Result<Reconciles> {
        let text = http_get(self.metrics, "/metrics").await.context("scrape the operator's /metrics")?;
        Ok(Reconciles::parse(&text, "PrismPattern"))
    }

    /// Peak resident set size (VmHWM) in MiB.
    pub fn peak_rss_mib(&self) -> anyhow::Result<f64> {
        status_kib(self.pid, "VmHWM:").map(|kib| kib / 1024.0)
    }

    /// Current resident set size (VmRSS) in MiB.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        status_kib(self.pid, "VmRSS:").map(|kib| kib / 1024.0)
    }

    /// Stops the operator (SIGKILL: nothing of it is measured after this).
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await.context("stop the operator")
    }
}

fn status_kib(pid: u32, key: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(key)).with_context(|| format!("{key} in /proc/{pid}/status"))?;
    let kib = line.trim_start_matches(key).trim().trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

/// A free loopback address (bound, read, released: the operator binds it right after).
fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?)
}

/// Whether `GET /readyz` answers 200.
async fn readyz(addr: SocketAddr) -> bool {
    http_get(addr, "/readyz").await.is_ok()
}

/// The body of a 200 answer to `GET path` (HTTP/1.0, so the server closes when done).
async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await?;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
    };
    let text = tokio::time::timeout(Duration::from_secs(5), attempt).await??;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    anyhow::ensure!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "{path}: {head}");
    Ok(body.to_owned())
}

/// One controller's reconciles so far: the count and the duration histogram (upper bound in
/// seconds, cumulative count).
#[derive(Clone, Debug, Default)]
pub struct Reconciles {
    pub count: f64,
    pub buckets: Vec<(f64, f64)>,
}

impl Reconciles {
    fn parse(text: &str, controller: &str) -> Self {
        let label = format!("controller=\"{controller}\"");
        let mut out = Self::default();
        for line in text.lines().filter(|l| l.contains(&label)) {
            let Some((name, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            if name.starts_with("prism_operator_reconciles_total") {
                out.count = value;
            } else if name.starts_with("prism_operator_reconcile_duration_seconds_bucket") {
                let le = name.split("le=\"").nth(1).and_then(|r| r.split('"').next()).unwrap_or("+Inf");
                out.buckets.push((le.parse().unwrap_or(f64::INFINITY), value));
            }
        }
        out
    }

    /// Reconciles between `self` and the later `end`, and the upper bound of the bucket holding
    /// their `q`-th percentile duration, in seconds.
    pub fn since(&self, end: &Self, q: f64) -> (f64, Option<f64>) {
        let count = end.count - self.count;
        let deltas: Vec<(f64, f64)> = end
            .buckets
            .iter()
            .map(|(le, c)| (*le, c - self.buckets.iter().find(|(l, _)| l == le).map_or(0.0, |(_, c0)| *c0)))
            .collect();
        let total = deltas.last().map_or(0.0, |(_, c)| *c);
        let bound = deltas.iter().find(|(_, c)| total > 0.0 && *c >= q / 100.0 * total).map(|(le, _)| *le);
        (count, bound)
    }
}

/// `prism-operator --version`.
pub fn version(binary: &Path) -> String {
    std::process::Command::new(binary)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |s| s.trim().to_owned())
}
