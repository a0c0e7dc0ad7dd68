//! The crate's error type: one variant per failed action, each carrying what a person needs to
//! act on it (the path, the process, the tail of its log).

use std::{io, path::PathBuf, process::ExitStatus, time::Duration};

/// Everything that can go wrong while starting, using or stopping a control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to provide KEDA's CRDs: {0}")]
    Keda(String),

    #[error("etcd request failed: {reason}")]
    Etcd { reason: String },

    #[error("failed to fetch a Go module's files: {0}")]
    GoModule(String),

    #[error("failed to start the autoscalers: {0}")]
    Autoscalers(String),

    #[error("failed to locate the binaries: {0}")]
    LocateBinaries(String),

    #[error("failed to create directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to write {path}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to read {path}")]
    ReadFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("failed to generate the {what}")]
    GenerateCertificate {
        what: String,
        #[source]
        source: rcgen::Error,
    },

    #[error("failed to pick a free loopback port")]
    PickPort(#[source] io::Error),

    #[error("failed to start the process-spawner thread")]
    StartSpawner(#[source] io::Error),

    #[error("failed to spawn {name} ({program}) through setpriv")]
    SpawnProcess {
        name: String,
        program: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{name} exited early with {status}; last lines of {log}:\n{tail}")]
    ProcessExited { name: String, status: ExitStatus, log: PathBuf, tail: String },

    #[error("timed out after {timeout:?} waiting for {what} (last observed: {last})")]
    WaitTimeout { what: String, timeout: Duration, last: String },

    #[error("failed to parse the kubeconfig")]
    ParseKubeconfig(#[source] kube::config::KubeconfigError),

    #[error("failed to build a kube client")]
    BuildClient(#[source] kube::Error),

    #[error("failed to create node {name}")]
    CreateNode {
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("failed to create namespace {name}")]
    CreateNamespace {
        name: String,
        #[source]
        source: kube::Error,
    },

    #[error("failed to start a thread or runtime for the shared control plane")]
    StartSharedRuntime(#[source] io::Error),
}

impl Error {
    /// Whether a component failed because its port was taken between probing and binding.
    pub fn is_port_conflict(&self) -> bool {
        matches!(self, Self::ProcessExited { tail, .. } if tail.contains("address already in use"))
    }

    pub(crate) fn write_file(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::WriteFile { path, source }
    }

    pub(crate) fn create_dir(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::CreateDir { path, source }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests may unwrap
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    fn exited(tail: &str) -> Error {
        Error::ProcessExited {
            name: "etcd".into(),
            status: ExitStatus::from_raw(256),
            log: PathBuf::from("etcd.log"),
            tail: tail.into(),
        }
    }

    #[test]
    fn port_conflicts_are_recognised_from_the_log() {
        let taken = "listen tcp 127.0.0.1:2379: bind: address already in use";
        assert!(exited(taken).is_port_conflict());
        assert!(!exited("unknown flag: --bogus").is_port_conflict());
    }
}
