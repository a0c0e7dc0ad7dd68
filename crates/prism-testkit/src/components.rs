//! Command lines of the five control-plane components (etcd, kube-apiserver,
//! kube-controller-manager, kube-scheduler, kwok) and the config files only they read (audit
//! policy, kwok stages). Pure: builds `ProcessSpec`s from a `Layout`; spawning and waiting live in
//! `process` and `control_plane`.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
};

use crate::process::ProcessSpec;

/// The Service ClusterIP range; its first address is the `kubernetes` Service.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";
/// ClusterIP of the `kubernetes` Service (a SAN of the apiserver certificate).
pub const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";
/// Common name of the aggregation layer's client certificate.
pub(crate) const FRONT_PROXY_CLIENT: &str = "front-proxy-client";
/// Pod IPs kwok hands out (a /16, so tests are not limited to 254 pods).
pub const POD_CIDR: &str = "10.244.0.0/16";
/// Issuer of service-account tokens.
pub const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Annotation that marks a node as simulated by kwok (kwok's own convention).
pub const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";
/// Value of [`KWOK_NODE_ANNOTATION`] on simulated nodes.
pub const KWOK_NODE_ANNOTATION_VALUE: &str = "fake";
/// Node annotation telling metrics-server where the node's resource metrics are (kwok serves
/// them at `/metrics/nodes/<node>/metrics/resource` on its server port).
pub const RESOURCE_METRICS_PATH_ANNOTATION: &str = "metrics.k8s.io/resource-metrics-path";
/// Pod annotations kwok reads a pod's simulated CPU and memory usage from (`kwok-metrics.yaml`).
pub const USAGE_CPU_ANNOTATION: &str = "kwok.x-k8s.io/usage-cpu";
/// See [`USAGE_CPU_ANNOTATION`].
pub const USAGE_MEMORY_ANNOTATION: &str = "kwok.x-k8s.io/usage-memory";
/// Pod annotation kwok reads a pod's simulated request rate from: the gauge
/// `http_requests_per_second{namespace, pod}` it serves for Prometheus (`kwok-metrics.yaml`).
pub const REQUESTS_PER_SECOND_ANNOTATION: &str = "prism.io/simulated-http-requests-per-second";
/// Node lease duration kwok maintains; with leases the heartbeat stage can be slow.
const KWOK_NODE_LEASE_SECONDS: u32 = 40;
/// Audit policy: every request at Metadata level, skipping the RequestReceived stage so each
/// request is logged once (at ResponseComplete, or Panic).
pub(crate) const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages:
  - RequestReceived
rules:
  - level: Metadata
";
/// kwok's default stages: nodes become Ready and keep their lease; pods become Running and
/// Ready, complete when their containers are done, and are removed once deleted.
pub(crate) const KWOK_STAGES: &str = include_str!("kwok-stages.yaml");
/// kwok's kubelet resource-metrics endpoint and pod usage from annotations.
pub(crate) const KWOK_METRICS: &str = include_str!("kwok-metrics.yaml");
/// Controllers that only do something with a cloud provider or with flags we do not set.
const DISABLED_CONTROLLERS: [&str; 3] =
    ["-cloud-node-lifecycle-controller", "-node-route-controller", "-service-lb-controller"];

/// Ports of one control plane, all picked free at run time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ports {
    pub etcd_client: u16,
    pub etcd_peer: u16,
    pub apiserver: u16,
    pub controller_manager: u16,
    pub scheduler: u16,
    pub kwok: u16,
}

/// Where each component's inputs live, plus the few choices callers can make.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub bin_dir: PathBuf,
    pub dir: PathBuf,
    pub ports: Ports,
    pub ca_cert: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub front_proxy_ca_cert: PathBuf,
    pub front_proxy_client_cert: PathBuf,
    pub front_proxy_client_key: PathBuf,
    pub sa_private_key: PathBuf,
    pub sa_public_key: PathBuf,
    pub controller_manager_kubeconfig: PathBuf,
    pub scheduler_kubeconfig: PathBuf,
    pub kwok_kubeconfig: PathBuf,
    pub kwok_config: PathBuf,
    pub kwok_metrics_config: PathBuf,
    /// kwok's serving certificate (its server is the nodes' kubelet endpoint), from the cluster CA.
    pub kwok_cert: PathBuf,
    pub kwok_key: PathBuf,
    pub audit_policy: PathBuf,
    pub audit_log: PathBuf,
    pub audit: bool,
    pub extra_apiserver_args: Vec<String>,
}

fn flag(name: &str, value: impl AsRef<std::ffi::OsStr>) -> OsString {
    let mut f = OsString::from(format!("--{name}="));
    f.push(value);
    f
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl Layout {
    fn spec(&self, name: &'static str, args: Vec<OsString>) -> ProcessSpec {
        ProcessSpec {
            name,
            program: self.bin_dir.join(name),
            args,
            env: Vec::new(),
            cwd: self.dir.clone(),
            log: self.log_path(name),
        }
    }

    /// `<dir>/<component>.log`: stdout and stderr of the component.
    pub(crate) fn log_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    pub(crate) fn etcd_url(&self) -> String {
        url(self.ports.etcd_client)
    }

    pub(crate) fn etcd(&self) -> ProcessSpec {
        let client = url(self.ports.etcd_client);
        let peer = url(self.ports.etcd_peer);
        self.spec(
            "etcd",
            vec![
                flag("name", "prism"),
                flag("data-dir", self.dir.join("etcd")),
                flag("listen-client-urls", &client),
                flag("advertise-client-urls", &client),
                flag("listen-peer-urls", &peer),
                flag("initial-advertise-peer-urls", &peer),
                flag("initial-cluster", format!("prism={peer}")),
                // Tests throw the data away; fsync only costs time.
                flag("unsafe-no-fsync", "true"),
                flag("log-level", "warn"),
            ],
        )
    }

    pub(crate) fn apiserver(&self) -> ProcessSpec {
        let mut args = vec![
            flag("etcd-servers", self.etcd_url()),
            flag("bind-address", "127.0.0.1"),
            flag("advertise-address", "127.0.0.1"),
            flag("secure-port", self.ports.apiserver.to_string()),
            flag("cert-dir", self.dir.join("apiserver-certs")),
            flag("tls-cert-file", &self.apiserver_cert),
            flag("tls-private-key-file", &self.apiserver_key),
            flag("client-ca-file", &self.ca_cert),
            flag("service-account-key-file", &self.sa_public_key),
            flag("service-account-signing-key-file", &self.sa_private_key),
            flag("service-account-issuer", SERVICE_ACCOUNT_ISSUER),
            flag("authorization-mode", "Node,RBAC"),
            flag("service-cluster-ip-range", SERVICE_CLUSTER_IP_RANGE),
            // Request-header authentication (aggregation layer). Without it the controller-manager
            // and scheduler keep logging that the requestheader CA bundle is missing.
            flag("requestheader-client-ca-file", &self.front_proxy_ca_cert),
            flag("requestheader-allowed-names", FRONT_PROXY_CLIENT),
            flag("requestheader-username-headers", "X-Remote-User"),
            flag("requestheader-group-headers", "X-Remote-Group"),
            flag("requestheader-extra-headers-prefix", "X-Remote-Extra-"),
            flag("proxy-client-cert-file", &self.front_proxy_client_cert),
            flag("proxy-client-key-file", &self.front_proxy_client_key),
            // The `kubernetes` Service would get endpoint 127.0.0.1, which Endpoints validation
            // rejects (loopback) on every sync; nothing in-cluster needs that endpoint.
            flag("endpoint-reconciler-type", "none"),
            flag("allow-privileged", "true"),
            flag("profiling", "false"),
        ];
        if self.audit {
            args.extend([
                flag("audit-policy-file", &self.audit_policy),
                flag("audit-log-path", &self.audit_log),
                flag("audit-log-format", "json"),
                // Blocking: the event is written before the response, so a test that reads the
                // log right after a request sees it.
                flag("audit-log-mode", "blocking"),
                flag("audit-log-maxsize", "0"),
            ]);
        }
        // Later flags win, so callers can override any default above.
        args.extend(self.extra_apiserver_args.iter().map(OsString::from));
        self.spec("kube-apiserver", args)
    }

    fn component_auth(kubeconfig: &Path) -> [OsString; 3] {
        [
            flag("kubeconfig", kubeconfig),
            flag("authentication-kubeconfig", kubeconfig),
            flag("authorization-kubeconfig", kubeconfig),
        ]
    }

    pub(crate) fn controller_manager(&self) -> ProcessSpec {
        let mut args = Self::component_auth(&self.controller_manager_kubeconfig).to_vec();
        let controllers = std::iter::once("*").chain(DISABLED_CONTROLLERS).collect::<Vec<_>>().join(",");
        args.extend([
            flag("bind-address", "127.0.0.1"),
            flag("secure-port", self.ports.controller_manager.to_string()),
            flag("leader-elect", "false"),
            flag("use-service-account-credentials", "true"),
            flag("service-account-private-key-file", &self.sa_private_key),
            flag("root-ca-file", &self.ca_cert),
            flag("cluster-name", "prism-testkit"),
            flag("controllers", controllers),
            flag("profiling", "false"),
        ]);
        self.spec("kube-controller-manager", args)
    }

    pub(crate) fn scheduler(&self) -> ProcessSpec {
        let mut args = Self::component_auth(&self.scheduler_kubeconfig).to_vec();
        args.extend([
            flag("bind-address", "127.0.0.1"),
            flag("secure-port", self.ports.scheduler.to_string()),
            flag("leader-elect", "false"),
            flag("profiling", "false"),
        ]);
        self.spec("kube-scheduler", args)
    }

    pub(crate) fn kwok(&self) -> ProcessSpec {
        let mut spec = self.spec(
            "kwok",
            vec![
                flag("kubeconfig", &self.kwok_kubeconfig),
                flag("config", &self.kwok_config),
                flag("config", &self.kwok_metrics_config),
                flag(
                    "manage-nodes-with-annotation-selector",
                    format!("{KWOK_NODE_ANNOTATION}={KWOK_NODE_ANNOTATION_VALUE}"),
                ),
                flag("server-address", format!("127.0.0.1:{}", self.ports.kwok)),
                // The nodes' kubelet port in their status (metrics-server scrapes it).
                flag("node-port", self.ports.kwok.to_string()),
                flag("tls-cert-file", &self.kwok_cert),
                flag("tls-private-key-file", &self.kwok_key),
                flag("node-lease-duration-seconds", KWOK_NODE_LEASE_SECONDS.to_string()),
                flag("cidr", POD_CIDR),
                flag("node-ip", "127.0.0.1"),
            ],
        );
        // kwok also loads <workdir>/kwok.yaml if it exists (default ~/.kwok); isolate it.
        spec.env.push(("KWOK_WORKDIR".into(), self.dir.join("kwok").into()));
        spec
    }
}
