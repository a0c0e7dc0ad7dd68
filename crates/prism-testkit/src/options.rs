//! `ControlPlaneOptions`: what a caller can choose about a control plane, and the defaults
//! (six nodes, audit on, data under the temp directory) with their environment overrides.

use std::{path::PathBuf, time::Duration};

use crate::nodes::{self, NodeSpec};

/// Environment variable overriding the root under which data directories are created.
pub const DATA_ROOT_ENV: &str = "PRISM_TESTKIT_DIR";
/// Environment variable that, set to `1`, keeps data directories (logs, certs) after stop.
pub const KEEP_ENV: &str = "PRISM_TESTKIT_KEEP";
/// Default deadline for [`crate::ControlPlane::start`] to reach ready-with-nodes.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

/// What to start. `Default` gives the six-node topology of [`nodes::default_nodes`], audit on.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    /// Nodes created (and waited for) during start.
    pub nodes: Vec<NodeSpec>,
    /// Appended to the apiserver command line; later flags override ours.
    pub extra_apiserver_args: Vec<String>,
    /// Parent of the per-control-plane data directory (default `$PRISM_TESTKIT_DIR`, else
    /// `<tmp>/prism-testkit`).
    pub data_root: PathBuf,
    /// Write the apiserver audit log (every request at Metadata level).
    pub audit: bool,
    /// Deadline for the whole start, including nodes becoming Ready.
    pub start_timeout: Duration,
    /// Directory with the binaries; `None` means `$PRISM_K8S_BIN`, else `tools/k8s/build.sh`.
    pub bin_dir: Option<PathBuf>,
    /// Also run the real autoscalers: metrics-server and KEDA (operator, metrics API server,
    /// admission webhooks), built from their Go modules (`tools/metrics-server`, `tools/keda`).
    pub autoscalers: bool,
    /// Keep the data directory after stop (default: `$PRISM_TESTKIT_KEEP` is `1`).
    pub keep_data_dir: bool,
}

impl Default for ControlPlaneOptions {
    fn default() -> Self {
        let data_root = std::env::var_os(DATA_ROOT_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("prism-testkit"));
        Self {
            nodes: nodes::default_nodes(),
            extra_apiserver_args: Vec::new(),
            data_root,
            audit: true,
            start_timeout: DEFAULT_START_TIMEOUT,
            bin_dir: None,
            autoscalers: false,
            keep_data_dir: std::env::var(KEEP_ENV).is_ok_and(|v| v == "1"),
        }
    }
}
