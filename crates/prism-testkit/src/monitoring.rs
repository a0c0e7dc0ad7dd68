//! The prometheus-operator CRDs (ServiceMonitor, PrometheusRule) that the chart's monitoring
//! objects are checked against, from the prometheus-operator Go module's own CRD files.

use std::path::PathBuf;

use crate::{Error, keda::go_module_dir};

/// The Go module whose `example/prometheus-operator-crd/` holds the CRDs.
pub const PROMETHEUS_OPERATOR_MODULE: &str = "github.com/prometheus-operator/prometheus-operator";
/// Its version (the one the Go module proxy serves here).
pub const PROMETHEUS_OPERATOR_VERSION: &str = "v0.85.0";

/// The ServiceMonitor and PrometheusRule CRD files.
pub fn monitoring_crd_files() -> Result<Vec<PathBuf>, Error> {
    let dir = go_module_dir(PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION)
        .map_err(Error::GoModule)?
        .join("example/prometheus-operator-crd");
    let files: Vec<PathBuf> =
        ["monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"]
            .into_iter()
            .map(|f| dir.join(f))
            .collect();
    match files.iter().find(|f| !f.is_file()) {
        Some(missing) => Err(Error::GoModule(format!("{} is missing", missing.display()))),
        None => Ok(files),
    }
}
