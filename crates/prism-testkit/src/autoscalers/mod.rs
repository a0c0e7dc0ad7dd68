//! The real autoscalers on the local control plane, as processes on loopback built from their Go
//! modules: metrics-server (`metrics.k8s.io`, scraping the kubelet resource-metrics endpoint that
//! kwok emulates for every node) and KEDA (its operator, its `external.metrics.k8s.io` server and
//! its admission webhooks).
//!
//! How host processes join the cluster:
//! - **Aggregated APIs.** kube-apiserver resolves an APIService backed by an `ExternalName`
//!   Service to `https://<externalName>:<APIService port>`, so each APIService points at a Service
//!   of type ExternalName `localhost` and the port the process listens on. (Endpoints cannot name a
//!   loopback address.) The serving certificates carry the Service DNS names the aggregator checks.
//! - **Webhooks.** KEDA's own `ValidatingWebhookConfiguration` (from its module's
//!   `config/webhooks`) with each `service` reference turned into a URL on loopback, and
//!   `failurePolicy: Fail`, so that a webhook that cannot be reached fails the request instead of
//!   letting it through unchecked.
//! - **Identities.** Each process has its own client certificate (user `metrics-server`,
//!   `keda-operator`, ...) in group `system:masters`: the testkit does not replay the components'
//!   RBAC manifests, but the audit log still tells their requests apart.

mod registration;

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use base64::Engine;
use registration::{api_service_available, ensure_namespace, register_api_service, register_webhooks};

use crate::{
    ControlPlane, Error,
    binaries::{KEDA, METRICS_SERVER},
    certs::CertPair,
    ports::free_port,
    process::{ManagedProcess, ProcessSpec},
    ready::poll_until,
};

/// Namespace of KEDA's objects (its `POD_NAMESPACE` and `KEDA_CLUSTER_OBJECT_NAMESPACE`).
pub const KEDA_NAMESPACE: &str = "keda";
/// Namespace of metrics-server's Service.
pub const METRICS_SERVER_NAMESPACE: &str = "kube-system";
/// metrics-server's Service (ExternalName) behind `v1beta1.metrics.k8s.io`.
pub const METRICS_SERVER_SERVICE: &str = "metrics-server";
/// KEDA's metrics API server Service behind `v1beta1.external.metrics.k8s.io`.
pub const KEDA_METRICS_SERVICE: &str = "keda-metrics-apiserver";
/// How often metrics-server scrapes the nodes (its minimum is 10 s).
pub const METRIC_RESOLUTION: &str = "10s";
/// Everything must be up within this long (KEDA's operator lists every watched kind first).
const START_TIMEOUT: Duration = Duration::from_secs(120);
const MASTERS: &[&str] = &["system:masters"];

/// The autoscaler processes of one control plane; they stop when it stops.
#[derive(Debug, Default)]
pub(crate) struct Autoscalers {
    pub processes: Vec<ManagedProcess>,
}

/// Ports of the autoscaler processes, all picked free at run time.
struct Ports {
    metrics_server: u16,
    keda_grpc: u16,
    keda_operator_metrics: u16,
    keda_operator_health: u16,
    keda_adapter: u16,
    keda_adapter_metrics: u16,
    keda_webhooks: u16,
    keda_webhooks_metrics: u16,
    keda_webhooks_health: u16,
}

fn flag(name: &str, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut f = OsString::from(format!("--{name}="));
    f.push(value);
    f
}

fn loopback(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// `<name>.<namespace>.svc` and its `.cluster.local` form, plus loopback.
fn service_sans(names: &[(&str, &str)]) -> Vec<String> {
    let mut sans = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    for (name, ns) in names {
        sans.push(format!("{name}.{ns}.svc"));
        sans.push(format!("{name}.{ns}.svc.cluster.local"));
    }
    sans
}

impl Autoscalers {
    /// Starts metrics-server and KEDA against `cp` and waits until both APIServices are
    /// Available and KEDA's webhooks answer.
    pub(crate) async fn start(cp: &ControlPlane) -> Result<Self, Error> {
        let started = Instant::now();
        let (ms_bin, keda_bin) =
            tokio::task::spawn_blocking(|| Ok::<_, Error>((METRICS_SERVER.locate()?, KEDA.locate()?)))
                .await
                .map_err(|e| Error::LocateBinaries(e.to_string()))??;
        let client = cp.client().await?;
        ensure_namespace(&client, KEDA_NAMESPACE).await?;
        // KEDA's operator watches the eventing.keda.sh kinds too; it exits without their CRDs.
        // (Blocking for a moment: this runs while the control plane starts, before any test.)
        crate::keda::install_keda_crds(cp)?;

        let dir = cp.data_dir().join("autoscalers");
        std::fs::create_dir_all(&dir).map_err(Error::create_dir(&dir))?;
        let ports = Ports {
            metrics_server: free_port()?,
            keda_grpc: free_port()?,
            keda_operator_metrics: free_port()?,
            keda_operator_health: free_port()?,
            keda_adapter: free_port()?,
            keda_adapter_metrics: free_port()?,
            keda_webhooks: free_port()?,
            keda_webhooks_metrics: free_port()?,
            keda_webhooks_health: free_port()?,
        };

        // metrics-server: serving certificate for its Service name, kubelet (kwok) CA = cluster CA.
        let ms_cert = cp
            .ca()
            .serving_cert("metrics-server", service_sans(&[(METRICS_SERVER_SERVICE, METRICS_SERVER_NAMESPACE)]))?;
        let ms_dir = dir.join("metrics-server");
        let (ms_crt, ms_key) = write_pair(&ms_dir, &ms_cert)?;
        let ms_kubeconfig = cp.write_kubeconfig("autoscalers/metrics-server.kubeconfig", "metrics-server", MASTERS)?;
        let ca_file = cp.ca_cert_path().to_path_buf();

        // KEDA: one certificate directory (ca.crt, tls.crt, tls.key) for the operator's gRPC
        // server, the adapter's client of it, the adapter's API server and the webhooks.
        let keda_cert = cp.ca().peer_cert(
            "keda",
            service_sans(&[
                ("keda-operator", KEDA_NAMESPACE),
                (KEDA_METRICS_SERVICE, KEDA_NAMESPACE),
                ("keda-admission-webhooks", KEDA_NAMESPACE),
            ]),
        )?;
        let keda_certs = dir.join("keda-certs");
        let (keda_crt, keda_key) = write_pair(&keda_certs, &keda_cert)?;
        std::fs::copy(&ca_file, keda_certs.join("ca.crt")).map_err(Error::write_file(keda_certs.join("ca.crt")))?;

        let mut me = Self::default();
        let spec = |name: &'static str, program: PathBuf, args: Vec<OsString>, env: Vec<(OsString, OsString)>| {
            ProcessSpec { name, program, args, env, cwd: dir.clone(), log: dir.join(format!("{name}.log")) }
        };
        let keda_env = |kubeconfig: &Path| -> Vec<(OsString, OsString)> {
            vec![
                ("KUBECONFIG".into(), kubeconfig.into()),
                ("WATCH_NAMESPACE".into(), "".into()),
                ("POD_NAMESPACE".into(), KEDA_NAMESPACE.into()),
                ("KEDA_CLUSTER_OBJECT_NAMESPACE".into(), KEDA_NAMESPACE.into()),
            ]
        };

        me.processes.push(ManagedProcess::spawn(spec(
            "metrics-server",
            ms_bin.join("metrics-server"),
            vec![
                flag("kubeconfig", &ms_kubeconfig),
                flag("authentication-kubeconfig", &ms_kubeconfig),
                flag("authorization-kubeconfig", &ms_kubeconfig),
                flag("bind-address", "127.0.0.1"),
                flag("secure-port", ports.metrics_server.to_string()),
                flag("tls-cert-file", &ms_crt),
                flag("tls-private-key-file", &ms_key),
                flag("cert-dir", &ms_dir),
                flag("kubelet-certificate-authority", &ca_file),
                flag("kubelet-use-node-status-port", "true"),
                flag("kubelet-preferred-address-types", "InternalIP"),
                flag("metric-resolution", METRIC_RESOLUTION),
                // Must be shorter than the resolution; kwok answers in milliseconds.
                flag("kubelet-request-timeout", "5s"),
            ],
            Vec::new(),
        ))?);

        let operator_kubeconfig =
            cp.write_kubeconfig("autoscalers/keda-operator.kubeconfig", "keda-operator", MASTERS)?;
        me.processes.push(ManagedProcess::spawn(spec(
            "keda-operator",
            keda_bin.join("keda"),
            vec![
                flag("metrics-bind-address", loopback(ports.keda_operator_metrics)),
                flag("health-probe-bind-address", loopback(ports.keda_operator_health)),
                flag("metrics-service-bind-address", loopback(ports.keda_grpc)),
                flag("cert-dir", &keda_certs),
                flag("ca-dir", &keda_certs),
                flag("zap-log-level", "info"),
            ],
            keda_env(&operator_kubeconfig),
        ))?);

        let adapter_kubeconfig =
            cp.write_kubeconfig("autoscalers/keda-metrics-apiserver.kubeconfig", "keda-metrics-apiserver", MASTERS)?;
        me.processes.push(ManagedProcess::spawn(spec(
            "keda-metrics-apiserver",
            keda_bin.join("keda-adapter"),
            vec![
                // The adapter's own client (its base server reads no KUBECONFIG).
                flag("lister-kubeconfig", &adapter_kubeconfig),
                flag("authentication-kubeconfig", &adapter_kubeconfig),
                flag("authorization-kubeconfig", &adapter_kubeconfig),
                flag("bind-address", "127.0.0.1"),
                flag("secure-port", ports.keda_adapter.to_string()),
                flag("tls-cert-file", &keda_crt),
                flag("tls-private-key-file", &keda_key),
                flag("cert-dir", &keda_certs),
                flag("metrics-service-address", loopback(ports.keda_grpc)),
                flag("port", ports.keda_adapter_metrics.to_string()),
                flag("zap-log-level", "info"),
            ],
            keda_env(&adapter_kubeconfig),
        ))?);

        let webhooks_kubeconfig =
            cp.write_kubeconfig("autoscalers/keda-admission-webhooks.kubeconfig", "keda-admission-webhooks", MASTERS)?;
        me.processes.push(ManagedProcess::spawn(spec(
            "keda-admission-webhooks",
            keda_bin.join("keda-admission-webhooks"),
            vec![
                flag("port", ports.keda_webhooks.to_string()),
                flag("cert-dir", &keda_certs),
                flag("metrics-bind-address", loopback(ports.keda_webhooks_metrics)),
                flag("health-probe-bind-address", loopback(ports.keda_webhooks_health)),
                flag("zap-log-level", "info"),
            ],
            keda_env(&webhooks_kubeconfig),
        ))?);

        let ca_pem = cp.ca().cert_pem.clone();
        let ca_bundle = base64::engine::general_purpose::STANDARD.encode(&ca_pem);
        register_api_service(
            &client,
            "v1beta1.metrics.k8s.io",
            "metrics.k8s.io",
            (METRICS_SERVER_NAMESPACE, METRICS_SERVER_SERVICE, ports.metrics_server),
            &ca_bundle,
        )
        .await?;
        register_api_service(
            &client,
            "v1beta1.external.metrics.k8s.io",
            "external.metrics.k8s.io",
            (KEDA_NAMESPACE, KEDA_METRICS_SERVICE, ports.keda_adapter),
            &ca_bundle,
        )
        .await?;
        register_webhooks(&client, ports.keda_webhooks, &ca_pem).await?;

        let deadline = Instant::now() + START_TIMEOUT;
        let mut alive = || me.ensure_running();
        for name in ["v1beta1.metrics.k8s.io", "v1beta1.external.metrics.k8s.io"] {
            poll_until(&format!("APIService {name} Available"), deadline, &mut alive, async || {
                api_service_available(&client, name).await
            })
            .await?;
        }
        for (what, port) in [
            ("keda-operator /readyz", ports.keda_operator_health),
            ("keda-admission-webhooks /readyz", ports.keda_webhooks_health),
        ] {
            poll_until(what, deadline, &mut alive, async || http_ok(port, "/readyz").await).await?;
        }
        tracing::info!(elapsed = ?started.elapsed(), "metrics-server and KEDA ready");
        Ok(me)
    }

    pub(crate) fn ensure_running(&mut self) -> Result<(), Error> {
        for p in &mut self.processes {
            p.ensure_running()?;
        }
        Ok(())
    }
}

fn write_pair(dir: &Path, pair: &CertPair) -> Result<(PathBuf, PathBuf), Error> {
    std::fs::create_dir_all(dir).map_err(Error::create_dir(dir))?;
    let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
    std::fs::write(&crt, &pair.cert_pem).map_err(Error::write_file(&crt))?;
    std::fs::write(&key, &pair.key_pem).map_err(Error::write_file(&key))?;
    Ok((crt, key))
}

/// GET `path` on a plain-HTTP loopback port: Ok on a 200 answer.
async fn http_ok(port: u16, path: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| format!("connect: {e}"))?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.map_err(|e| format!("read: {e}"))?;
    let status = response.lines().next().unwrap_or_default().to_owned();
    if status.contains(" 200 ") { Ok(()) } else { Err(status) }
}
