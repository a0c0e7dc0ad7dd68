//! Prometheus (the Debian package's server), scraping either the application metrics kwok
//! emulates for the control plane's pods ([`Prometheus::start`]:
//! `http_requests_per_second{namespace, pod}`, one gauge per pod, from the pod annotation
//! [`crate::REQUESTS_PER_SECOND_ANNOTATION`], see [`crate::Usage`]) or given targets
//! ([`Prometheus::scraping`], e.g. the operator's `/metrics`).
//!
//! Targets come from kwok's own Prometheus service discovery (`/discovery/prometheus`, one target
//! per node and metrics path), so pods on nodes added later are scraped too. Scrapes and
//! discovery refreshes are fast (1 s, 5 s), so that a test sees a changed rate within seconds.

use std::{collections::BTreeMap, ffi::OsString};

use serde::Deserialize;

use super::{Launch, ServerError, TestServer, find, http, root};
use crate::{ControlPlane, datadir::DataDir, ports::free_port};

/// The kwok Metric (`kwok-metrics.yaml`) whose targets Prometheus keeps.
const APP_METRIC: &str = "prism-app";

/// A running Prometheus server.
#[derive(Debug)]
pub struct Prometheus {
    server: TestServer,
}

/// One sample of an instant query: the series' labels and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included unless the query aggregated it away).
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

impl Prometheus {
    /// Starts Prometheus on a free port, scraping kwok's application metrics of `cp` every second.
    pub async fn start(cp: &ControlPlane) -> Result<Self, ServerError> {
        Self::launch(&kwok_job(&cp.kwok_url(), &cp.ca_cert_path().to_string_lossy())).await
    }

    /// Starts Prometheus on a free port, scraping `targets` (`host:port`, plain HTTP `/metrics`)
    /// every second as the job `job`.
    pub async fn scraping(job: &str, targets: &[String]) -> Result<Self, ServerError> {
        Self::launch(&static_job(job, targets)).await
    }

    async fn launch(jobs: &str) -> Result<Self, ServerError> {
        let program = find("prometheus", "prometheus", &[])?;
        let dir = DataDir::create(&root(), false)?;
        let port = free_port()?;
        let config = dir.write("prometheus.yml", config(jobs))?;
        let args: Vec<OsString> = vec![
            format!("--config.file={}", config.display()).into(),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{port}").into(),
            "--storage.tsdb.retention.time=1h".into(),
        ];
        let mut launch = Launch::new("prometheus", port, program, args, dir.path().to_owned());
        launch.ready_line = Some("Server is ready to receive web requests.");
        Ok(Self { server: TestServer::launch(launch, dir).await? })
    }

    /// Its HTTP API's address (KEDA's prometheus trigger `serverAddress`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    /// The server, to stop and start it.
    pub fn server(&mut self) -> &mut TestServer {
        &mut self.server
    }

    /// The result of the instant query `promql` (a vector; a scalar query is an error).
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, ServerError> {
        let url = format!("{}/api/v1/query?{}", self.url(), http::form(&[("query", promql)]));
        let body = http::request("query Prometheus", "GET", &url, &[], String::new()).await?;
        parse_vector(&body)
            .map_err(|message| ServerError::Setup { what: format!("query Prometheus: {promql}"), message })
    }
}

/// The configuration: fast scrapes of `jobs` (`scrape_configs` entries).
fn config(jobs: &str) -> String {
    format!(
        "global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
{jobs}"
    )
}

/// One scrape job over kwok's discovered targets, kept to [`APP_METRIC`]'s.
fn kwok_job(kwok_url: &str, ca_file: &str) -> String {
    format!(
        "  - job_name: kwok-pods
    honor_labels: true
    tls_config:
      ca_file: {ca_file}
    http_sd_configs:
      - url: {kwok_url}/discovery/prometheus
        refresh_interval: 5s
        tls_config:
          ca_file: {ca_file}
    relabel_configs:
      - source_labels: [metrics_name]
        regex: {APP_METRIC}
        action: keep
"
    )
}

/// One scrape job over fixed targets.
fn static_job(job: &str, targets: &[String]) -> String {
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    format!(
        "  - job_name: {job}
    static_configs:
      - targets: [{}]
",
        targets.join(", ")
    )
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    result_type: String,
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    /// `[<unix time>, "<value>"]`.
    value: (f64, String),
}

fn parse_vector(body: &str) -> Result<Vec<Sample>, String> {
    let answer: Answer = serde_json::from_str(body).map_err(|e| format!("unexpected answer ({e}): {body}"))?;
    if answer.status != "success" {
        return Err(answer.error.unwrap_or(answer.status));
    }
    let data = answer.data.ok_or_else(|| format!("no data in {body}"))?;
    if data.result_type != "vector" {
        return Err(format!("a {} result, not a vector", data.result_type));
    }
    data.result
        .into_iter()
        .map(|s| {
            let value = s.value.1.parse().map_err(|e| format!("value {:?}: {e}", s.value.1))?;
            Ok(Sample { labels: s.metric, value })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_and_errors_are_readable() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"namespace":"a","pod":"p-1"},"value":[1767225600.5,"875"]}]}}"#;
        let samples = parse_vector(body).unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].labels["pod"], "p-1");
        assert!((samples[0].value - 875.0).abs() < f64::EPSILON);
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        assert_eq!(parse_vector(bad).unwrap_err(), "parse error at char 4");
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[]}}"#;
        assert!(parse_vector(scalar).unwrap_err().contains("scalar"));
    }

    #[test]
    fn the_config_keeps_only_the_application_metrics() {
        let c = config(&kwok_job("https://127.0.0.1:7", "/pki/ca.crt"));
        assert!(c.contains("url: https://127.0.0.1:7/discovery/prometheus"), "{c}");
        assert!(c.contains("regex: prism-app\n        action: keep"), "{c}");
        assert_eq!(c.matches("ca_file: /pki/ca.crt").count(), 2, "scrapes and discovery verify kwok's certificate");
        let s = config(&static_job("operator", &["127.0.0.1:9".into(), "127.0.0.1:10".into()]));
        assert!(
            s.contains("job_name: operator\n    static_configs:\n      - targets: ['127.0.0.1:9', '127.0.0.1:10']"),
            "{s}"
        );
    }
}
