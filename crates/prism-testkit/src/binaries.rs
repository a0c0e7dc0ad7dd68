//! Finding the control-plane binaries: `PRISM_K8S_BIN` if set, else the directory printed by the
//! repository's `tools/k8s/build.sh` (which builds them once into a cache outside the repository
//! and answers at once afterwards). The answer is cached for the life of the process.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::Mutex,
};

use crate::Error;

/// Environment variable naming a directory that already holds all the binaries.
pub const BIN_DIR_ENV: &str = "PRISM_K8S_BIN";
/// Every binary the control plane runs.
pub const BINARIES: [&str; 6] =
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok"];
const BUILD_SCRIPT: &str = "tools/k8s/build.sh";

static LOCATED: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The repository root, from this crate's manifest directory (`crates/prism-testkit`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Returns the directory holding all of [`BINARIES`], building them if needed.
pub fn locate() -> Result<PathBuf, Error> {
    // Holding the lock across the build keeps concurrent callers from starting a second build.
    let mut cached = LOCATED.lock().map_err(|_| Error::LocateBinaries("binary cache lock poisoned".into()))?;
    if let Some(dir) = cached.as_ref() {
        return Ok(dir.clone());
    }
    let dir = match std::env::var_os(BIN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => run_build_script()?,
    };
    check_complete(&dir)?;
    *cached = Some(dir.clone());
    Ok(dir)
}

fn run_build_script() -> Result<PathBuf, Error> {
    let script = repo_root().join(BUILD_SCRIPT);
    tracing::info!(script = %script.display(), "locating Kubernetes binaries (builds them on first use)");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| Error::LocateBinaries(format!("cannot run {}: {e}", script.display())))?;
    if !output.status.success() {
        return Err(Error::LocateBinaries(format!(
            "{} failed with {} (its progress and errors are on stderr above); \
             set {BIN_DIR_ENV} to use prebuilt binaries",
            script.display(),
            output.status
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if dir.is_empty() {
        return Err(Error::LocateBinaries(format!("{} printed no directory", script.display())));
    }
    Ok(PathBuf::from(dir))
}

fn check_complete(dir: &Path) -> Result<(), Error> {
    let missing: Vec<&str> = BINARIES.iter().copied().filter(|b| !dir.join(b).is_file()).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::LocateBinaries(format!("{} lacks {}", dir.display(), missing.join(", "))))
    }
}
