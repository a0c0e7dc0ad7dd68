//! Real backend servers for integration tests: Redis, NATS and PostgreSQL from the machine's
//! packages (`redis-server`, `nats-server`, `postgresql`), each started on a free loopback port in
//! its own temporary directory, killed with the test process (parent-death signal), stoppable and
//! restartable on the same port to simulate an outage.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root its `initdb` and `postgres`
//! run as the `postgres` user the Debian package creates (through `setpriv`); the parent-death
//! signal is set after the user switch, because a credential change clears it.

use std::{
    ffi::OsString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::{
    Error,
    certs::Ca,
    datadir::DataDir,
    ports::free_port,
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
    name: &'static str,
    port: u16,
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    log: PathBuf,
    process: Option<ManagedProcess>,
    _dir: DataDir,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer").field("name", &self.name).field("port", &self.port).finish()
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
    /// A Redis server; with `password`, clients must AUTH with it.
    pub async fn redis(password: Option<&str>) -> Result<Self, ServerError> {
        let program = find("redis-server", "redis-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let mut args: Vec<OsString> =
            ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .map(OsString::from)
                .to_vec();
        args.extend(["--dir".into(), dir.path().into()]);
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        Self::launch("redis-server", port, program, args, dir.path().to_owned(), dir).await
    }

    /// A Redis server speaking only TLS, with a certificate for `127.0.0.1` and `localhost` from a
    /// fresh CA. Returns the server and the CA certificate (PEM).
    pub async fn redis_tls(password: Option<&str>) -> Result<(Self, String), ServerError> {
        let program = find("redis-server", "redis-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let ca = Ca::generate("redis-test-ca")?;
        let pair = ca.serving_cert("redis", vec!["127.0.0.1".into(), "localhost".into()])?;
        let cert = dir.write("redis.crt", &pair.cert_pem)?;
        let key = dir.write("redis.key", &pair.key_pem)?;
        let ca_file = dir.write("ca.crt", &ca.cert_pem)?;
        let port = free_port()?;
        let mut args: Vec<OsString> =
            ["--port", "0", "--tls-port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                .map(OsString::from)
                .to_vec();
        args.extend([
            "--tls-cert-file".into(),
            cert.into(),
            "--tls-key-file".into(),
            key.into(),
            "--tls-ca-cert-file".into(),
            ca_file.into(),
            "--tls-auth-clients".into(),
            "no".into(),
            "--dir".into(),
            dir.path().into(),
        ]);
        if let Some(pw) = password {
            args.extend(["--requirepass".into(), pw.into()]);
        }
        let server = Self::launch("redis-server", port, program, args, dir.path().to_owned(), dir).await?;
        Ok((server, ca.cert_pem))
    }

    /// A NATS server; with `credentials` (user, password), clients must CONNECT with them.
    pub async fn nats(credentials: Option<(&str, &str)>) -> Result<Self, ServerError> {
        let program = find("nats-server", "nats-server", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let mut args: Vec<OsString> = ["-a", "127.0.0.1", "-p", &port.to_string()].map(OsString::from).to_vec();
        if let Some((user, pw)) = credentials {
            args.extend(["--user".into(), user.into(), "--pass".into(), pw.into()]);
        }
        Self::launch("nats-server", port, program, args, dir.path().to_owned(), dir).await
    }

    /// A PostgreSQL server whose superuser `user` logs in over TCP with `password` (SCRAM).
    pub async fn postgres(user: &str, password: &str) -> Result<Self, ServerError> {
        let versions = postgres_bin_dirs();
        let initdb = find("initdb", "postgresql", &versions)?;
        let program = find("postgres", "postgresql", &versions)?;
        let dir = DataDir::create(&root(), false)?;
        let pg = dir.subdir("pg")?;
        let as_root = rustix::process::geteuid().is_root();
        let pwfile = pg.join("pwfile");
        std::fs::write(&pwfile, password).map_err(setup("write the password file"))?;
        if as_root {
            // The postgres user must reach its directory: traverse-only on ours, its own below.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .map_err(setup("open the data directory"))?;
            let (uid, gid) = system_user(POSTGRES_USER)?;
            for p in [&pg, &pwfile] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).map_err(setup("chown to postgres"))?;
            }
        }
        let data = pg.join("data");
        let initdb_args: Vec<OsString> = vec![
            "-D".into(),
            data.clone().into(),
            "-U".into(),
            user.into(),
            "--auth-host=scram-sha-256".into(),
            "--auth-local=trust".into(),
            "--pwfile".into(),
            pwfile.clone().into(),
            "--no-sync".into(),
        ];
        let (prog, args) = run_as(as_root, &initdb, initdb_args);
        let pg_for_initdb = pg.clone();
        let output =
            tokio::task::spawn_blocking(move || Command::new(prog).args(args).current_dir(pg_for_initdb).output())
                .await
                .map_err(|e| ServerError::Setup { what: "run initdb".into(), message: e.to_string() })?
                .map_err(setup("run initdb"))?;
        if !output.status.success() {
            return Err(ServerError::Setup {
                what: "initialise the database".into(),
                message: String::from_utf8_lossy(&output.stderr).into_owned(),
            });
        }
        let port = free_port()?;
        let server_args: Vec<OsString> = vec![
            "-D".into(),
            data.into(),
            "-p".into(),
            port.to_string().into(),
            "-k".into(),
            pg.clone().into(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "fsync=off".into(),
        ];
        let (prog, args) = if as_root {
            // setpriv (outer, from the spawner) -> switch user -> set the death signal again.
            let mut inner = vec!["--pdeathsig".into(), "KILL".into(), "--".into(), program.into()];
            inner.extend(server_args);
            run_as(true, Path::new("setpriv"), inner)
        } else {
            (program, server_args)
        };
        Self::launch("postgres", port, prog, args, pg, dir).await
    }

    async fn launch(
        name: &'static str,
        port: u16,
        program: PathBuf,
        args: Vec<OsString>,
        cwd: PathBuf,
        dir: DataDir,
    ) -> Result<Self, ServerError> {
        let log = dir.path().join(format!("{name}.log"));
        let mut server = Self { name, port, program, args, cwd, log, process: None, _dir: dir };
        server.start().await?;
        Ok(server)
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server (again, on the same port and data) and waits until it accepts TCP.
    pub async fn start(&mut self) -> Result<(), ServerError> {
        if self.process.is_some() {
            return Ok(());
        }
        let spec = ProcessSpec {
            name: self.name,
            program: self.program.clone(),
            args: self.args.clone(),
            env: Vec::new(),
            cwd: self.cwd.clone(),
            log: self.log.clone(),
        };
        let mut process = ManagedProcess::spawn(spec)?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            process.ensure_running()?;
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::WaitTimeout {
                    what: format!("{} on port {}", self.name, self.port),
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
