//! prism-testkit starts a real local Kubernetes control plane for integration tests and for
//! people (`prism-cluster up`, behind `make cluster-up`): etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler and kwok simulating nodes, all as child processes on
//! free loopback ports. Nothing is mocked and nothing needs Docker.
//!
//! ```no_run
//! # async fn demo() -> Result<(), prism_testkit::Error> {
//! let cp = prism_testkit::shared().await;            // one per test binary
//! let client = cp.client().await?;                   // one per runtime
//! let (ns, _guard) = prism_testkit::temp_namespace(cp).await?;
//! # let _ = (client, ns); Ok(()) }
//! ```
//!
//! Binaries come from `$PRISM_K8S_BIN` or `tools/k8s/build.sh`. Every component is killed with
//! the test process (parent-death signal), even when that process is killed.
#![forbid(unsafe_code)]

mod autoscalers;
mod binaries;
mod certs;
mod components;
mod control_plane;
mod datadir;
mod error;
mod keda;
mod kubeconfig;
mod load;
mod monitoring;
mod namespace;
mod nodes;
mod options;
mod pidfile;
mod ports;
mod process;
mod ready;
mod servers;
mod shared;

pub use autoscalers::{
    KEDA_METRICS_SERVICE, KEDA_NAMESPACE, METRIC_RESOLUTION, METRICS_SERVER_NAMESPACE, METRICS_SERVER_SERVICE,
};
pub use binaries::{
    BIN_DIR_ENV, BINARIES, CONTROL_PLANE, KAFKA, KEDA, METRICS_SERVER, MOTO, Toolset, locate as locate_binaries,
    repo_root,
};
pub use components::{
    KWOK_NODE_ANNOTATION, KWOK_NODE_ANNOTATION_VALUE, REQUESTS_PER_SECOND_ANNOTATION, RESOURCE_METRICS_PATH_ANNOTATION,
    SERVICE_CLUSTER_IP_RANGE, USAGE_CPU_ANNOTATION, USAGE_MEMORY_ANNOTATION,
};
pub use control_plane::{ADMIN_USER, ControlPlane};
pub use datadir::remove_stale_dirs as remove_stale_data_dirs;
pub use error::Error;
pub use keda::{KEDA_MODULE, KEDA_VERSION, install_keda_crds, keda_crd_files, keda_module_dir};
pub use kubeconfig::CLUSTER_NAME;
pub use load::{Load, Usage, parse_cpu_millis, parse_memory_bytes};
pub use monitoring::{PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION, monitoring_crd_files};
pub use namespace::{NamespaceGuard, TEMP_NAMESPACE_LABEL, TEMP_NAMESPACE_PREFIX, temp_namespace};
pub use nodes::{
    ADD_NODE_TIMEOUT, DEFAULT_CPU, DEFAULT_MEMORY, DEFAULT_NODES_PER_ZONE, DEFAULT_PODS, DEFAULT_TOPOLOGY, LABEL_ARCH,
    LABEL_HOSTNAME, LABEL_OS, LABEL_REGION, LABEL_TYPE, LABEL_TYPE_VALUE, LABEL_ZONE, NodeSpec, add_node,
    default_nodes,
};
pub use options::{ControlPlaneOptions, DATA_ROOT_ENV, DEFAULT_START_TIMEOUT, KEEP_ENV};
pub use pidfile::PidFile;
pub use ready::wait_until;
pub use servers::{
    JetStream, Kafka, Offsets, Prometheus, RABBITMQ_PASSWORD, RABBITMQ_USER, RabbitMq, SQS_REGION, Sample, ServerError,
    Sqs, TestServer,
};
pub use shared::{error_chain, shared, shared_autoscaled, try_shared};

/// Default log filter of [`init_test_tracing`] and `prism-cluster`: kube's request builder logs
/// every failed readiness probe as an error, which is noise while components start.
pub const DEFAULT_LOG_FILTER: &str = "info,kube_client::client::builder=off";

/// Installs a tracing subscriber for tests (captured by libtest, `RUST_LOG` filter, default
/// [`DEFAULT_LOG_FILTER`]). Safe to call many times.
pub fn init_test_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}
