//! Real servers for integration tests, each started on free loopback ports in its own temporary
//! directory, killed with the test process (parent-death signal), stoppable and restartable on
//! the same ports to simulate an outage:
//!
//! - from the machine's Debian packages: Redis, NATS (with JetStream), PostgreSQL, RabbitMQ (with
//!   its management plugin);
//! - Apache Kafka (a single KRaft node) from its Maven artifacts (`tools/kafka/fetch.sh`);
//! - an SQS-compatible endpoint, moto's server mode, from PyPI (`tools/moto/install.sh`);
//! - Prometheus (Debian package), scraping the application metrics kwok emulates for pods.
//!
//! Brokers come with the few client operations the autoscaling tests need (fill a queue, drain
//! it), done with the broker's own tools or its HTTP API.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root its `initdb` and `postgres`
//! run as the `postgres` user the Debian package creates (through `setpriv`); the parent-death
//! signal is set after the user switch, because a credential change clears it.

pub(crate) mod http;
mod kafka;
mod nats;
mod postgres;
mod prometheus;
mod rabbitmq;
mod redis;
mod sqs;

pub use kafka::{Kafka, Offsets};
pub use nats::JetStream;
pub use prometheus::{Prometheus, Sample};
pub use rabbitmq::{RABBITMQ_PASSWORD, RABBITMQ_USER, RabbitMq};
pub use sqs::{SQS_REGION, Sqs};

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use crate::{
    Error,
    datadir::DataDir,
    process::{ManagedProcess, ProcessSpec},
};

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping server gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The system user PostgreSQL runs as when the tests run as root.
const POSTGRES_USER: &str = "postgres";

/// Failures of the test servers.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A process or directory could not be set up.
    #[error(transparent)]
    Testkit(#[from] Error),
    /// The server's binary is missing.
    #[error("{binary} is not installed (apt-get install {package})")]
    NotInstalled {
        /// The binary looked for.
        binary: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// A setup step failed.
    #[error("failed to {what}: {message}")]
    Setup {
        /// The step.
        what: String,
        /// What went wrong.
        message: String,
    },
}

fn setup(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |e| ServerError::Setup { what, message: e.to_string() }
}

/// One running (or stopped) server.
pub struct TestServer {
    /// How it is started (again, after a stop).
    launch: Launch,
    log: PathBuf,
    process: Option<ManagedProcess>,
    _dir: DataDir,
}

/// How to start a server: [`TestServer::launch`].
struct Launch {
    name: &'static str,
    /// The ports it listens on: the main one first, then named others (e.g. a monitoring port).
    ports: Vec<(&'static str, u16)>,
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    /// A line its log shows once it is ready, when accepting TCP is not enough.
    ready_line: Option<&'static str>,
    cwd: PathBuf,
}

impl Launch {
    /// A server listening on `port`, ready once it accepts TCP there.
    fn new(name: &'static str, port: u16, program: PathBuf, args: Vec<OsString>, cwd: PathBuf) -> Self {
        Self { name, ports: vec![("main", port)], program, args, env: Vec::new(), ready_line: None, cwd }
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer").field("name", &self.launch.name).field("ports", &self.launch.ports).finish()
    }
}

fn find(binary: &'static str, package: &'static str, extra: &[PathBuf]) -> Result<PathBuf, ServerError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/bin"].map(PathBuf::from))
        .chain(extra.iter().cloned())
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
        .ok_or(ServerError::NotInstalled { binary, package })
}

fn root() -> PathBuf {
    std::env::var_os(crate::DATA_ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("prism-testkit"))
        .join("servers")
}

impl TestServer {
    async fn launch(launch: Launch, dir: DataDir) -> Result<Self, ServerError> {
        let log = dir.path().join(format!("{}.log", launch.name));
        let mut server = Self { launch, log, process: None, _dir: dir };
        server.start().await?;
        Ok(server)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.launch.ports[0].1
    }

    /// One of its other ports by name (e.g. `monitoring`, `management`).
    pub fn named_port(&self, name: &str) -> Option<u16> {
        self.launch.ports.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// The directory holding its data and log.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// Starts the server (again, on the same ports and data) and waits until it accepts TCP on
    /// every port (and, where it has one, its log shows its ready line).
    pub async fn start(&mut self) -> Result<(), ServerError> {
        if self.process.is_some() {
            return Ok(());
        }
        let spec = ProcessSpec {
            name: self.launch.name,
            program: self.launch.program.clone(),
            args: self.launch.args.clone(),
            env: self.launch.env.clone(),
            cwd: self.launch.cwd.clone(),
            log: self.log.clone(),
        };
        // The log is appended to: a restart must find a new ready line, not the last run's.
        let seen = std::fs::read_to_string(&self.log).map(|l| l.len()).unwrap_or(0);
        let mut process = ManagedProcess::spawn(spec)?;
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waiting = self.launch.ports.clone();
        loop {
            process.ensure_running()?;
            let mut still = Vec::new();
            for (name, port) in waiting {
                if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                    still.push((name, port));
                }
            }
            waiting = still;
            let logged = self.launch.ready_line.is_none_or(|line| {
                std::fs::read_to_string(&self.log).is_ok_and(|l| l.get(seen..).is_some_and(|new| new.contains(line)))
            });
            if waiting.is_empty() && logged {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::WaitTimeout {
                    what: format!("{} on ports {:?}", self.launch.name, self.launch.ports),
                    timeout: START_TIMEOUT,
                    last: crate::process::log_tail(&self.log),
                }
                .into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.process = Some(process);
        Ok(())
    }

    /// Stops the server (SIGTERM, then SIGKILL) and waits until the port is closed.
    pub async fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            let _ = tokio::task::spawn_blocking(move || process.stop(STOP_GRACE)).await;
        }
    }
}

/// `program args` run as the postgres user when `as_root` (via setpriv), else unchanged.
fn run_as(as_root: bool, program: &Path, args: Vec<OsString>) -> (PathBuf, Vec<OsString>) {
    if !as_root {
        return (program.to_owned(), args);
    }
    let mut wrapped: Vec<OsString> = vec![
        format!("--reuid={POSTGRES_USER}").into(),
        format!("--regid={POSTGRES_USER}").into(),
        "--init-groups".into(),
        "--".into(),
        program.into(),
    ];
    wrapped.extend(args);
    (PathBuf::from("setpriv"), wrapped)
}

/// `/usr/lib/postgresql/<version>/bin`, newest first.
fn postgres_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    dirs.into_iter().map(|(_, d)| d).collect()
}

/// The uid and gid of a system user, from /etc/passwd.
fn system_user(name: &str) -> Result<(u32, u32), ServerError> {
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(setup("read /etc/passwd"))?;
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name) && f.len() > 3)
        .and_then(|f| Some((f[2].parse().ok()?, f[3].parse().ok()?)))
        .ok_or_else(|| ServerError::Setup {
            what: format!("find the {name} user"),
            message: "not in /etc/passwd (the postgresql package creates it)".into(),
        })
}
