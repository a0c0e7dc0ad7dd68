//! The per-control-plane data directory: created under a root shared by all runs, stamped with
//! the owning process so that later runs can remove directories of runs that died without
//! cleaning up (static destructors do not run at exit, and a killed test runs none at all).

use std::{
    fs,
    hash::{BuildHasher, RandomState},
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use crate::{
    Error,
    process::{proc_start_time, process_alive},
};

const DIR_PREFIX: &str = "cp-";
const OWNER_FILE: &str = "owner";

/// A data directory that is removed when dropped (unless `keep` is set, for debugging).
#[derive(Debug)]
pub(crate) struct DataDir {
    path: PathBuf,
    keep: bool,
}

impl DataDir {
    /// Creates `<root>/cp-<pid>-<random>` after removing stale siblings of dead owners.
    pub(crate) fn create(root: &Path, keep: bool) -> Result<Self, Error> {
        // Components run with the data directory as working directory, so every path we pass
        // them must be absolute.
        let root = &std::path::absolute(root).map_err(Error::create_dir(root))?;
        fs::create_dir_all(root).map_err(Error::create_dir(root))?;
        remove_stale_dirs(root);
        let pid = std::process::id();
        let path = root.join(format!("{DIR_PREFIX}{pid}-{}", random_suffix()));
        fs::create_dir(&path).map_err(Error::create_dir(&path))?;
        // Private keys and the admin kubeconfig live here; keep other users out.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(Error::create_dir(&path))?;
        let dir = Self { path, keep };
        let owner = match proc_start_time(pid) {
            Some(start) => format!("{pid} {start}\n"),
            None => format!("{pid}\n"),
        };
        dir.write(OWNER_FILE, owner)?;
        Ok(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates a subdirectory and returns its path.
    pub(crate) fn subdir(&self, name: &str) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        fs::create_dir_all(&path).map_err(Error::create_dir(&path))?;
        Ok(path)
    }

    /// Writes a file in the directory and returns its path.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<PathBuf, Error> {
        let path = self.path.join(name);
        fs::write(&path, contents).map_err(Error::write_file(&path))?;
        Ok(path)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.keep {
            tracing::info!(dir = %self.path.display(), "keeping control-plane data directory");
        } else if let Err(e) = fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %e, "cannot remove data directory");
        }
    }
}

/// Removes `cp-*` data directories under `root` whose owner process is gone (runs that were
/// killed). Every start does this; exposed for tools. Best effort: a directory that cannot be
/// read or removed is left alone.
pub fn remove_stale_dirs(root: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_ours = entry.file_name().to_string_lossy().starts_with(DIR_PREFIX);
        if !is_ours || !path.is_dir() {
            continue;
        }
        // A directory without an owner file may be one being created right now.
        let Ok(owner) = fs::read_to_string(path.join(OWNER_FILE)) else {
            continue;
        };
        let mut fields = owner.split_whitespace();
        let Some(pid) = fields.next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let start_time = fields.next().and_then(|s| s.parse::<u64>().ok());
        if !process_alive(pid, start_time) {
            tracing::info!(dir = %path.display(), pid, "removing data directory of a dead run");
            if let Err(e) = fs::remove_dir_all(&path) {
                tracing::warn!(dir = %path.display(), error = %e, "cannot remove stale directory");
            }
        }
    }
}

/// Eight lowercase hex digits, different on every call (valid in DNS labels).
pub(crate) fn random_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    // RandomState is seeded randomly per process and advanced on every construction.
    let hash = RandomState::new().hash_one(nanos);
    format!("{:08x}", hash as u32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use super::*;

    #[test]
    fn stale_dirs_of_dead_owners_are_removed_and_live_ones_kept() {
        let root = std::env::temp_dir().join(format!("prism-testkit-unit-{}", random_suffix()));
        let live = DataDir::create(&root, false).unwrap();
        let dead = root.join("cp-dead");
        fs::create_dir_all(&dead).unwrap();
        // pid_max is at most 2^22, so this pid cannot exist.
        fs::write(dead.join(OWNER_FILE), "99999999 1\n").unwrap();
        let other = DataDir::create(&root, false).unwrap();
        assert!(!dead.exists());
        assert!(live.path().exists());
        drop((live, other));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn suffixes_differ() {
        assert_ne!(random_suffix(), random_suffix());
    }
}
