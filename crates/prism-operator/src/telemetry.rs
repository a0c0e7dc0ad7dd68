//! Logging and tracing: a tracing subscriber with an `EnvFilter` (per-module filters such as
//! `info,prism_operator=debug`), text for terminals or JSON for clusters, and OpenTelemetry trace
//! export over OTLP/gRPC when an endpoint is configured.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (terminals).
    Text,
    /// One JSON object per line (clusters, `jq`).
    Json,
}

/// Failure to set up telemetry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The log filter does not parse.
    #[error("invalid log level {0:?} (use e.g. `info` or `info,prism_operator=debug`)")]
    Filter(String),
    /// The OTLP exporter could not be built.
    #[error("failed to set up the OTLP trace exporter for {endpoint}")]
    Otlp {
        /// The endpoint.
        endpoint: String,
        /// The cause.
        #[source]
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// A global subscriber was already installed.
    #[error("failed to install the tracing subscriber")]
    Install(#[source] tracing_subscriber::util::TryInitError),
}

/// Keeps the trace exporter alive; flushes spans on drop.
pub struct Guard(Option<SdkTracerProvider>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take() {
            let _ = provider.shutdown();
        }
    }
}

/// The log filter for `level`: as given, except that kube-client's line for every failed request
/// (`failed with error ...`, at ERROR: several a second during an API server outage) is off unless
/// `level` names `kube_client`. The watches summarize failures instead (`watch failing`, then
/// `watch recovered`), and failed reconciles are reported with their cause.
pub fn filter_directives(level: &str) -> String {
    if level.contains("kube_client") { level.to_owned() } else { format!("{level},kube_client::client::builder=off") }
}

/// Installs the global subscriber.
pub fn init(level: &str, format: LogFormat, otlp_endpoint: Option<&str>) -> Result<Guard, Error> {
    let filter = EnvFilter::try_new(filter_directives(level)).map_err(|_| Error::Filter(level.to_owned()))?;
    let fmt = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer().with_writer(std::io::stderr).boxed(),
        LogFormat::Json => {
            tracing_subscriber::fmt::layer().with_writer(std::io::stderr).json().flatten_event(true).boxed()
        }
    };
    let (otel, provider) = match otlp_endpoint {
        None => (None, None),
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint)
                .build()
                .map_err(|source| Error::Otlp { endpoint: endpoint.to_owned(), source })?;
            let resource = opentelemetry_sdk::Resource::builder().with_service_name("prism-operator").build();
            let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
            let tracer = provider.tracer("prism-operator");
            (Some(tracing_opentelemetry::layer().with_tracer(tracer)), Some(provider))
        }
    };
    tracing_subscriber::registry().with(filter).with(fmt).with(otel).try_init().map_err(Error::Install)?;
    Ok(Guard(provider))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_clients_per_request_errors_are_off_unless_asked_for() {
        assert_eq!(filter_directives("info"), "info,kube_client::client::builder=off");
        assert_eq!(filter_directives("debug,kube_client=trace"), "debug,kube_client=trace");
        assert!(EnvFilter::try_new(filter_directives("warn,prism_operator=debug")).is_ok());
    }
}
