//! `ControlPlane`: one running local Kubernetes control plane. Owns its processes and its data
//! directory, starts them in order and waits for each to be ready, and stops everything when it
//! is stopped or dropped. Holds no runtime-bound resources (only paths, text and std child
//! handles), so it can be shared across tokio runtimes.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use kube::Client;

use crate::{
    ControlPlaneOptions, Error,
    autoscalers::Autoscalers,
    binaries,
    certs::{Ca, ServiceAccountKey, apiserver_sans},
    components::{AUDIT_POLICY, FRONT_PROXY_CLIENT, KUBERNETES_SERVICE_IP, KWOK_METRICS, KWOK_STAGES, Layout, Ports},
    datadir::DataDir,
    kubeconfig,
    nodes::{self, NodeSpec},
    ports::free_port,
    process::{ManagedProcess, STOP_GRACE, stop_all},
    ready::{poll_until, probe_apiserver, probe_default_service_account, probe_etcd},
};

/// User name (CN) of the admin client certificate; its group is `system:masters`.
pub const ADMIN_USER: &str = "prism-admin";
/// Ports are probed free but bound later by the components, so another process can take one in
/// between; such a start is retried with new ports.
const START_ATTEMPTS: usize = 3;
const MASTERS_GROUP: &str = "system:masters";
const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";
const SCHEDULER_USER: &str = "system:kube-scheduler";
const KWOK_USER: &str = "kwok";

/// A running control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
/// kwok, and with [`ControlPlaneOptions::autoscalers`] metrics-server and KEDA. Dropping it stops every process (SIGTERM, short wait, SIGKILL) and removes its data
/// directory; if the whole process dies instead, the kernel kills the components.
#[derive(Debug)]
pub struct ControlPlane {
    etcd: Option<ManagedProcess>,
    /// Separate so outage tests can stop and restart it.
    apiserver: Option<ManagedProcess>,
    /// Controller-manager, scheduler, kwok and the autoscalers: the apiserver's clients.
    clients: Vec<ManagedProcess>,
    layout: Layout,
    admin_kubeconfig: String,
    kubeconfig_path: PathBuf,
    apiserver_url: String,
    start_timeout: Duration,
    /// The cluster CA, for the certificates of components added later (the autoscalers).
    ca: Arc<Ca>,
    /// Declared last: removed only after the processes above are stopped.
    dir: DataDir,
}

impl ControlPlane {
    /// Starts a control plane and waits until it is ready: apiserver `/readyz`, the `default`
    /// ServiceAccount (controller-manager works), and every node Ready.
    pub async fn start(opts: ControlPlaneOptions) -> Result<Self, Error> {
        let started = Instant::now();
        let bin_dir = match opts.bin_dir.clone() {
            Some(dir) => dir,
            None => tokio::task::spawn_blocking(binaries::locate)
                .await
                .map_err(|e| Error::LocateBinaries(e.to_string()))??,
        };
        let deadline = started + opts.start_timeout;
        let mut attempt = 1;
        let cp = loop {
            match Self::start_once(&bin_dir, &opts, deadline).await {
                Err(e) if e.is_port_conflict() && attempt < START_ATTEMPTS => {
                    tracing::warn!(attempt, error = %e, "port taken by another process; retrying");
                    attempt += 1;
                }
                result => break result?,
            }
        };
        tracing::info!(
            url = %cp.apiserver_url,
            kubeconfig = %cp.kubeconfig_path.display(),
            elapsed = ?started.elapsed(),
            "control plane ready"
        );
        Ok(cp)
    }

    async fn start_once(bin_dir: &Path, opts: &ControlPlaneOptions, deadline: Instant) -> Result<Self, Error> {
        let dir = DataDir::create(&opts.data_root, opts.keep_data_dir)?;
        tracing::info!(dir = %dir.path().display(), bin_dir = %bin_dir.display(), "starting control plane");
        let mut cp = Self::prepare(bin_dir.to_path_buf(), dir, opts)?;
        cp.boot(&opts.nodes, deadline).await?;
        if opts.autoscalers {
            let autoscalers = Autoscalers::start(&cp).await?;
            cp.clients.extend(autoscalers.processes);
        }
        Ok(cp)
    }

    /// Picks ports, generates the PKI and writes every file the components read.
    fn prepare(bin_dir: PathBuf, dir: DataDir, opts: &ControlPlaneOptions) -> Result<Self, Error> {
        let ports = Ports {
            etcd_client: free_port()?,
            etcd_peer: free_port()?,
            apiserver: free_port()?,
            controller_manager: free_port()?,
            scheduler: free_port()?,
            kwok: free_port()?,
        };
        let url = format!("https://127.0.0.1:{}", ports.apiserver);
        let ca = Ca::generate("prism-testkit-ca")?;
        let front_proxy_ca = Ca::generate("prism-testkit-front-proxy-ca")?;
        let front_proxy_client = front_proxy_ca.client_cert(FRONT_PROXY_CLIENT, &[])?;
        let serving = ca.serving_cert("kube-apiserver", apiserver_sans(KUBERNETES_SERVICE_IP))?;
        let sa = ServiceAccountKey::generate()?;
        let kwok_serving = ca.serving_cert("kwok", vec!["127.0.0.1".into(), "localhost".into()])?;
        let kubeconfig_for = |user: &str, groups: &[&str]| -> Result<String, Error> {
            let cert = ca.client_cert(user, groups)?;
            Ok(kubeconfig::render(&url, &ca.cert_pem, user, &cert))
        };
        let admin_kubeconfig = kubeconfig_for(ADMIN_USER, &[MASTERS_GROUP])?;
        let pki = dir.subdir("pki")?;
        let layout = Layout {
            ca_cert: dir.write("pki/ca.crt", &ca.cert_pem)?,
            apiserver_cert: dir.write("pki/apiserver.crt", &serving.cert_pem)?,
            apiserver_key: dir.write("pki/apiserver.key", &serving.key_pem)?,
            front_proxy_ca_cert: dir.write("pki/front-proxy-ca.crt", &front_proxy_ca.cert_pem)?,
            front_proxy_client_cert: dir.write("pki/front-proxy-client.crt", &front_proxy_client.cert_pem)?,
            front_proxy_client_key: dir.write("pki/front-proxy-client.key", &front_proxy_client.key_pem)?,
            sa_private_key: dir.write("pki/sa.key", &sa.private_pem)?,
            sa_public_key: dir.write("pki/sa.pub", &sa.public_pem)?,
            controller_manager_kubeconfig: dir
                .write("kube-controller-manager.kubeconfig", kubeconfig_for(CONTROLLER_MANAGER_USER, &[])?)?,
            scheduler_kubeconfig: dir.write("kube-scheduler.kubeconfig", kubeconfig_for(SCHEDULER_USER, &[])?)?,
            kwok_kubeconfig: dir.write("kwok.kubeconfig", kubeconfig_for(KWOK_USER, &[MASTERS_GROUP])?)?,
            kwok_config: dir.write("kwok-stages.yaml", KWOK_STAGES)?,
            kwok_metrics_config: dir.write("kwok-metrics.yaml", KWOK_METRICS)?,
            kwok_cert: dir.write("pki/kwok.crt", &kwok_serving.cert_pem)?,
            kwok_key: dir.write("pki/kwok.key", &kwok_serving.key_pem)?,
            audit_policy: dir.write("audit-policy.yaml", AUDIT_POLICY)?,
            audit_log: dir.path().join("audit.log"),
            audit: opts.audit,
            extra_apiserver_args: opts.extra_apiserver_args.clone(),
            bin_dir,
            dir: dir.path().to_path_buf(),
            ports,
        };
        tracing::debug!(pki = %pki.display(), ?ports, "prepared control plane files");
        Ok(Self {
            etcd: None,
            apiserver: None,
            clients: Vec::new(),
            kubeconfig_path: dir.write("admin.kubeconfig", &admin_kubeconfig)?,
            admin_kubeconfig,
            apiserver_url: url,
            start_timeout: opts.start_timeout,
            ca: Arc::new(ca),
            layout,
            dir,
        })
    }

    async fn boot(&mut self, nodes: &[NodeSpec], deadline: Instant) -> Result<(), Error> {
        let step = Instant::now();
        self.etcd = Some(ManagedProcess::spawn(self.layout.etcd())?);
        let etcd_port = self.layout.ports.etcd_client;
        poll_until("etcd to become healthy", deadline, &mut || self.ensure_running(), async || {
            probe_etcd(etcd_port).await
        })
        .await?;
        tracing::info!(elapsed = ?step.elapsed(), "etcd healthy");

        let step = Instant::now();
        self.start_apiserver_until(deadline).await?;
        tracing::info!(elapsed = ?step.elapsed(), "kube-apiserver ready");

        let step = Instant::now();
        for spec in [self.layout.controller_manager(), self.layout.scheduler(), self.layout.kwok()] {
            self.clients.push(ManagedProcess::spawn(spec)?);
        }
        let client = self.client().await?;
        poll_until(
            "the default ServiceAccount (controller-manager)",
            deadline,
            &mut || self.ensure_running(),
            async || probe_default_service_account(&client, "default").await,
        )
        .await?;
        tracing::info!(elapsed = ?step.elapsed(), "kube-controller-manager working");

        let step = Instant::now();
        nodes::create_nodes(&client, nodes).await?;
        let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
        let remaining = deadline.saturating_duration_since(Instant::now());
        nodes::wait_nodes_ready(&client, &names, remaining, &mut || self.ensure_running()).await?;
        tracing::info!(elapsed = ?step.elapsed(), count = nodes.len(), "nodes Ready");
        Ok(())
    }

    async fn start_apiserver_until(&mut self, deadline: Instant) -> Result<(), Error> {
        self.apiserver = Some(ManagedProcess::spawn(self.layout.apiserver())?);
        let client = self.client().await?;
        poll_until("kube-apiserver /readyz", deadline, &mut || self.ensure_running(), async || {
            probe_apiserver(&client).await
        })
        .await
    }

    /// Fails with the log tail of the first component that has exited.
    pub fn ensure_running(&mut self) -> Result<(), Error> {
        for p in self.all_mut() {
            p.ensure_running()?;
        }
        Ok(())
    }

    /// The admin kubeconfig (client certificate in group `system:masters`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The admin kubeconfig's contents (JSON).
    pub fn kubeconfig(&self) -> &str {
        &self.admin_kubeconfig
    }

    /// A `kube::Config` for the admin user.
    pub async fn kube_config(&self) -> Result<kube::Config, Error> {
        kubeconfig::to_kube_config(&self.admin_kubeconfig).await
    }

    /// The cluster CA.
    pub(crate) fn ca(&self) -> &Ca {
        &self.ca
    }

    /// The cluster CA's certificate file.
    pub(crate) fn ca_cert_path(&self) -> &Path {
        &self.layout.ca_cert
    }

    /// kwok's server (the nodes' kubelet endpoint: their metrics and kwok's Prometheus service
    /// discovery), with a serving certificate from the cluster CA.
    pub(crate) fn kwok_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.layout.ports.kwok)
    }

    /// Writes `<data dir>/<file>`: a kubeconfig for `user` in `groups`, with a client certificate
    /// from the cluster CA. For components the testkit adds to the control plane.
    pub(crate) fn write_kubeconfig(&self, file: &str, user: &str, groups: &[&str]) -> Result<PathBuf, Error> {
        let cert = self.ca.client_cert(user, groups)?;
        self.dir.write(file, kubeconfig::render(&self.apiserver_url, &self.ca.cert_pem, user, &cert))
    }

    /// A new admin client, bound to the calling tokio runtime (so make one per runtime).
    pub async fn client(&self) -> Result<Client, Error> {
        Client::try_from(self.kube_config().await?).map_err(Error::BuildClient)
    }

    /// Directory holding kubectl and the component binaries.
    pub fn bin_dir(&self) -> &Path {
        &self.layout.bin_dir
    }

    /// `kubectl --kubeconfig <admin kubeconfig>`, ready for more arguments.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.layout.bin_dir.join("kubectl"));
        cmd.arg("--kubeconfig").arg(&self.kubeconfig_path);
        cmd
    }

    /// The apiserver audit log (JSON lines, one event per request). Missing when audit is off.
    pub fn audit_log_path(&self) -> &Path {
        &self.layout.audit_log
    }

    /// `https://127.0.0.1:<port>`.
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// The data directory: certificates, kubeconfigs, `<component>.log` files, etcd data.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Log file of a component (`etcd`, `kube-apiserver`, `kube-controller-manager`,
    /// `kube-scheduler`, `kwok`).
    pub fn log_path(&self, component: &str) -> PathBuf {
        self.layout.log_path(component)
    }

    /// (component, pid) of every running component.
    pub fn process_ids(&self) -> Vec<(&'static str, u32)> {
        (self.etcd.iter().chain(self.apiserver.as_ref()).chain(self.clients.iter()))
            .map(|p| (p.name(), p.pid()))
            .collect()
    }

    /// Stops the apiserver (SIGTERM, then SIGKILL after a grace period); everything else keeps
    /// running. For API-outage tests.
    pub async fn stop_apiserver(&mut self) {
        if let Some(apiserver) = self.apiserver.take() {
            tracing::info!("stopping kube-apiserver");
            let _ = tokio::task::spawn_blocking(move || apiserver.stop(STOP_GRACE)).await;
        }
    }

    /// Starts the apiserver again with the same port, certificates and etcd, and waits for
    /// `/readyz`. Does nothing if it is running.
    pub async fn start_apiserver(&mut self) -> Result<(), Error> {
        if self.apiserver.is_some() {
            return Ok(());
        }
        tracing::info!("starting kube-apiserver again");
        self.start_apiserver_until(Instant::now() + self.start_timeout).await
    }

    /// Compacts etcd's history up to its current revision (physically) and returns that
    /// revision: a watch or list from an older resourceVersion that reaches etcd then fails with
    /// 410 Gone, as after etcd's periodic compaction. The API server's watch cache still serves
    /// recent versions until it restarts.
    pub async fn compact_etcd(&self) -> Result<i64, Error> {
        // etcd's JSON gateway on its client port.
        let post = async |path: &str, body: String| {
            let url = format!("http://127.0.0.1:{}{path}", self.layout.ports.etcd_client);
            let json = [("Content-Type", "application/json".to_owned())];
            let answer = crate::servers::http::request("etcd", "POST", &url, &json, body)
                .await
                .map_err(|e| Error::Etcd { reason: e.to_string() })?;
            serde_json::from_str::<serde_json::Value>(&answer)
                .map_err(|e| Error::Etcd { reason: format!("{path}: {e}: {answer}") })
        };
        // A range read of any key answers with the store's current revision in its header.
        let header = post("/v3/kv/range", r#"{"key":"AA==","limit":1}"#.to_owned()).await?;
        let revision: i64 = header["header"]["revision"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .ok_or_else(|| Error::Etcd { reason: format!("no revision in {header}") })?;
        post("/v3/kv/compaction", format!(r#"{{"revision":"{revision}","physical":true}}"#)).await?;
        tracing::info!(revision, "etcd compacted");
        Ok(revision)
    }

    /// Stops every process and removes the data directory.
    pub async fn stop(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut ManagedProcess> {
        (self.etcd.iter_mut().chain(self.apiserver.as_mut())).chain(self.clients.iter_mut())
    }

    /// Stops clients first, then the apiserver, then etcd: stopped together, the apiserver and
    /// etcd each wait on the other and both need SIGKILL after the grace period.
    fn stop_processes(&mut self) {
        if self.etcd.is_none() && self.apiserver.is_none() && self.clients.is_empty() {
            return;
        }
        tracing::info!(dir = %self.dir.path().display(), "stopping control plane");
        let started = Instant::now();
        stop_all(&mut self.clients, STOP_GRACE);
        self.clients.clear();
        if let Some(apiserver) = self.apiserver.take() {
            apiserver.stop(STOP_GRACE);
        }
        if let Some(etcd) = self.etcd.take() {
            etcd.stop(STOP_GRACE);
        }
        tracing::info!(elapsed = ?started.elapsed(), "control plane stopped");
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.stop_processes();
    }
}
