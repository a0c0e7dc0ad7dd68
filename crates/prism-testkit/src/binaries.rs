//! Finding the programs the testkit runs that no Debian package provides. Each set is pinned in a
//! `tools/<name>` directory (a Go module, a Maven pom, a pip requirements file) and built or
//! fetched once by its script into a cache outside the repository (the script answers at once
//! afterwards), or taken from a directory named by an environment variable. The answer is cached
//! for the life of the process.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::Error;

/// Environment variable naming a directory that already holds all the control-plane binaries.
pub const BIN_DIR_ENV: &str = "PRISM_K8S_BIN";
/// Every binary the control plane runs.
pub const BINARIES: [&str; 6] =
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"];

/// One set of programs built from one `tools/<name>` module.
#[derive(Debug)]
pub struct Toolset {
    /// Shown in errors and logs.
    pub name: &'static str,
    /// The build script, relative to the repository root.
    pub script: &'static str,
    /// Environment variable naming a directory that already holds the binaries.
    pub env: &'static str,
    /// The binaries the directory must hold.
    pub binaries: &'static [&'static str],
    located: Mutex<Option<PathBuf>>,
}

/// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
/// kubectl, kwok (`tools/k8s`).
pub static CONTROL_PLANE: Toolset = Toolset::new("Kubernetes", "tools/k8s/build.sh", BIN_DIR_ENV, &BINARIES);
/// metrics-server (`tools/metrics-server`).
pub static METRICS_SERVER: Toolset =
    Toolset::new("metrics-server", "tools/metrics-server/build.sh", "PRISM_METRICS_SERVER_BIN", &["metrics-server"]);
/// KEDA's operator, metrics API server and admission webhooks (`tools/keda`).
pub static KEDA: Toolset =
    Toolset::new("KEDA", "tools/keda/build.sh", "PRISM_KEDA_BIN", &["keda", "keda-adapter", "keda-admission-webhooks"]);

/// Apache Kafka's broker and tools, from Maven artifacts (`tools/kafka`); a directory with `lib/`.
pub static KAFKA: Toolset =
    Toolset::new("Kafka", "tools/kafka/fetch.sh", "PRISM_KAFKA_HOME", &["config/log4j2.properties", ".build-seconds"]);
/// moto's server mode, an AWS API endpoint, from PyPI (`tools/moto`); a virtualenv's bin directory.
pub static MOTO: Toolset = Toolset::new("moto", "tools/moto/install.sh", "PRISM_MOTO_BIN", &["moto_server"]);

/// The repository root, from this crate's manifest directory (`crates/prism-testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the directory holding the control plane's [`BINARIES`], building them if needed.
pub fn locate() -> Result<PathBuf, Error> {
    CONTROL_PLANE.locate()
}

impl Toolset {
    const fn new(
        name: &'static str,
        script: &'static str,
        env: &'static str,
        binaries: &'static [&'static str],
    ) -> Self {
        Self { name, script, env, binaries, located: Mutex::new(None) }
    }

    /// The directory holding every binary of the set, building them on first use.
    pub fn locate(&self) -> Result<PathBuf, Error> {
        // Holding the lock across the build keeps concurrent callers from starting a second build.
        let mut cached =
            self.located.lock().map_err(|_| Error::LocateBinaries(format!("{} binary lock poisoned", self.name)))?;
        if let Some(dir) = cached.as_ref() {
            return Ok(dir.clone());
        }
        let dir = match std::env::var_os(self.env) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => self.run_build_script()?,
        };
        self.check_complete(&dir)?;
        *cached = Some(dir.clone());
        Ok(dir)
    }

    fn run_build_script(&self) -> Result<PathBuf, Error> {
        let script = repo_root().join(self.script);
        tracing::info!(script = %script.display(), "locating {} binaries (builds them on first use)", self.name);
        let output = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| Error::LocateBinaries(format!("cannot run {}: {e}", script.display())))?;
        if !output.status.success() {
            return Err(Error::LocateBinaries(format!(
                "{} failed with {} (its progress and errors are on stderr above); \
                 set {} to use prebuilt binaries",
                script.display(),
                output.status,
                self.env
            )));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        let dir = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        if dir.is_empty() {
            return Err(Error::LocateBinaries(format!("{} printed no directory", script.display())));
        }
        Ok(PathBuf::from(dir))
    }

    fn check_complete(&self, dir: &Path) -> Result<(), Error> {
        let missing: Vec<&str> = self.binaries.iter().copied().filter(|b| !dir.join(b).is_file()).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::LocateBinaries(format!("{} lacks {}", dir.display(), missing.join(", "))))
        }
    }
}
