//! Observability wiring shared by every component: the tracing endpoint and metrics port of a
//! stack reach each container as environment variables, a `metrics` container port, and the
//! Prometheus scrape annotations on the pod template.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, ContainerPort, EnvVar};
use prism_api::v1alpha1::ObservabilitySpec;

/// Metrics port when observability is on and none is given.
pub const DEFAULT_METRICS_PORT: i32 = 9091;
/// Environment variable with the OTLP/Jaeger collector endpoint.
pub const TRACING_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Environment variable with the service name traces are reported under.
pub const SERVICE_NAME_ENV: &str = "OTEL_SERVICE_NAME";
/// Environment variable with the port to serve Prometheus metrics on.
pub const METRICS_PORT_ENV: &str = "PRISM_METRICS_PORT";

/// Adds the observability settings to `container` and `pod_annotations` when enabled.
/// A metrics port equal to one of the container's ports is served on that port (no second
/// port entry: the API server rejects duplicates).
pub fn wire(
    obs: Option<&ObservabilitySpec>,
    service_name: &str,
    container: &mut Container,
    pod_annotations: &mut BTreeMap<String, String>,
) {
    let Some(obs) = obs.filter(|o| o.enabled == Some(true)) else { return };
    let env = container.env.get_or_insert_with(Vec::new);
    if let Some(endpoint) = obs.tracing.as_ref().and_then(|t| t.endpoint.clone()) {
        env.push(EnvVar { name: TRACING_ENDPOINT_ENV.to_owned(), value: Some(endpoint), value_from: None });
        env.push(EnvVar { name: SERVICE_NAME_ENV.to_owned(), value: Some(service_name.to_owned()), value_from: None });
    }
    let port = obs.metrics.as_ref().and_then(|m| m.port).unwrap_or(DEFAULT_METRICS_PORT);
    env.push(EnvVar { name: METRICS_PORT_ENV.to_owned(), value: Some(port.to_string()), value_from: None });
    let ports = container.ports.get_or_insert_with(Vec::new);
    if !ports.iter().any(|p| p.container_port == port) {
        ports.push(ContainerPort {
            name: Some("metrics".to_owned()),
            container_port: port,
            protocol: Some("TCP".to_owned()),
            ..Default::default()
        });
    }
    pod_annotations.insert("prometheus.io/scrape".to_owned(), "true".to_owned());
    pod_annotations.insert("prometheus.io/port".to_owned(), port.to_string());
    pod_annotations.insert("prometheus.io/path".to_owned(), "/metrics".to_owned());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(port: i32) -> Container {
        Container {
            name: "c".into(),
            ports: Some(vec![ContainerPort { name: Some("grpc".into()), container_port: port, ..Default::default() }]),
            ..Default::default()
        }
    }

    #[test]
    fn enabled_observability_reaches_env_ports_and_annotations() {
        let obs: ObservabilitySpec = serde_json::from_value(json!({"enabled": true,
            "tracing": {"endpoint": "http://jaeger:14268"}, "metrics": {"port": 9102}}))
        .expect("spec");
        let (mut c, mut a) = (container(9090), BTreeMap::new());
        wire(Some(&obs), "prism-proxy", &mut c, &mut a);
        let env: Vec<(String, Option<String>)> = c.env.expect("env").into_iter().map(|e| (e.name, e.value)).collect();
        assert!(env.contains(&("OTEL_EXPORTER_OTLP_ENDPOINT".into(), Some("http://jaeger:14268".into()))));
        assert!(env.contains(&("PRISM_METRICS_PORT".into(), Some("9102".into()))));
        assert_eq!(c.ports.expect("ports")[1].container_port, 9102);
        assert_eq!(a["prometheus.io/port"], "9102");
    }

    #[test]
    fn metrics_on_the_main_port_adds_no_duplicate_port() {
        let obs: ObservabilitySpec =
            serde_json::from_value(json!({"enabled": true, "metrics": {"port": 9090}})).expect("spec");
        let (mut c, mut a) = (container(9090), BTreeMap::new());
        wire(Some(&obs), "prism-proxy", &mut c, &mut a);
        assert_eq!(c.ports.expect("ports").len(), 1);
        assert_eq!(a["prometheus.io/scrape"], "true");
    }

    #[test]
    fn disabled_observability_changes_nothing() {
        let obs: ObservabilitySpec =
            serde_json::from_value(json!({"enabled": false, "metrics": {"port": 9102}})).expect("spec");
        let (mut c, mut a) = (container(9090), BTreeMap::new());
        wire(Some(&obs), "x", &mut c, &mut a);
        assert!(c.env.is_none() && a.is_empty());
    }
}
