//! KEDA's real CRDs for tests: taken from the KEDA Go module's own `config/crd/bases` (downloaded
//! through the Go module proxy at test time, never committed), so that the API server validates
//! the operator's ScaledObjects against KEDA's schema.

use std::{path::PathBuf, process::Command, sync::Mutex};

use crate::{ControlPlane, Error};

/// The KEDA release whose CRDs the tests install.
pub const KEDA_VERSION: &str = "v2.21.0";
/// The KEDA Go module.
pub const KEDA_MODULE: &str = "github.com/kedacore/keda/v2";

/// Downloads (once; Go caches modules) the KEDA module and returns its directory.
pub fn keda_module_dir() -> Result<PathBuf, Error> {
    go_module_dir(KEDA_MODULE, KEDA_VERSION).map_err(Error::Keda)
}

/// The source directory of `module@version`, downloaded into the Go module cache if needed.
pub(crate) fn go_module_dir(module: &str, version: &str) -> Result<PathBuf, String> {
    let module = format!("{module}@{version}");
    let out = Command::new("go")
        .args(["mod", "download", "-json", &module])
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .current_dir(std::env::temp_dir())
        .output()
        .map_err(|e| format!("failed to run `go mod download {module}`: {e}"))?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        format!("`go mod download {module}` printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr))
    })?;
    let dir = info["Dir"].as_str().ok_or_else(|| format!("`go mod download {module}` failed: {}", info["Error"]))?;
    Ok(PathBuf::from(dir))
}

/// A file of the KEDA module, by its path in the module.
pub(crate) fn keda_module_file(path: &str) -> Result<PathBuf, Error> {
    Ok(keda_module_dir()?.join(path))
}

/// Returns KEDA's CRD files: `keda.sh_*.yaml` (ScaledObject, TriggerAuthentication, ...) and
/// `eventing.keda.sh_*.yaml` (CloudEventSource, which KEDA's operator also watches).
pub fn keda_crd_files() -> Result<Vec<PathBuf>, Error> {
    let bases = keda_module_dir()?.join("config/crd/bases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&bases)
        .map_err(|source| Error::ReadFile { path: bases.clone(), source })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("keda.sh_") || n.starts_with("eventing.keda.sh_"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::Keda(format!("no keda.sh CRDs in {}", bases.display())));
    }
    Ok(files)
}

/// Control planes (by API server URL) that already have KEDA's CRDs; the lock also serializes
/// concurrent installs from parallel tests.
static INSTALLED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Installs KEDA's CRDs into `cp` (once per control plane) and waits until they are Established.
pub fn install_keda_crds(cp: &ControlPlane) -> Result<(), Error> {
    let mut installed = INSTALLED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if installed.iter().any(|url| url == cp.apiserver_url()) {
        return Ok(());
    }
    install(cp)?;
    installed.push(cp.apiserver_url().to_owned());
    Ok(())
}

fn install(cp: &ControlPlane) -> Result<(), Error> {
    let files = keda_crd_files()?;
    for file in &files {
        let file = file.to_string_lossy();
        kubectl(cp, &["apply", "--server-side", "--force-conflicts", "-f", &file])?;
    }
    // Right after creation a CRD has no conditions yet and `kubectl wait` fails instead of
    // waiting: poll until every one reports Established.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    for file in &files {
        let file = file.to_string_lossy();
        loop {
            match kubectl(cp, &["wait", "--for", "condition=Established", "--timeout=30s", "-f", &file]) {
                Ok(()) => break,
                Err(e) if std::time::Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
            }
        }
    }
    Ok(())
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Result<(), Error> {
    let out = cp.kubectl().args(args).output().map_err(|e| Error::Keda(format!("failed to run kubectl: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Keda(format!("kubectl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_keda_is_the_version_whose_crds_are_installed() {
        let go_mod = std::fs::read_to_string(crate::repo_root().join("tools/keda/go.mod")).expect("tools/keda/go.mod");
        let pinned = go_mod
            .lines()
            .find_map(|l| l.strip_prefix(&format!("require {KEDA_MODULE} ")))
            .expect("tools/keda/go.mod requires KEDA");
        assert_eq!(pinned.trim(), KEDA_VERSION);
        let makefile = std::fs::read_to_string(crate::repo_root().join("Makefile")).expect("Makefile");
        assert!(makefile.contains(&format!("KEDA_VERSION ?= {KEDA_VERSION}")), "the Makefile's KEDA_VERSION differs");
    }
}
