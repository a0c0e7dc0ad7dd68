//! Shared helpers of the operator's integration tests (run on the local control plane).
#![allow(dead_code)]

pub mod process;
pub mod scaling;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
    runtime::{conditions, wait::await_condition},
};

/// Installs (server-side applies) the four Prism CRDs and waits until each is Established.
pub async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let params = PatchParams::apply("prism-tests").force();
    for crd in prism_api::crds() {
        let name = crd.metadata.name.clone().expect("CRD name");
        api.patch(&name, &params, &Patch::Apply(&crd)).await.expect("apply CRD");
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(api.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established within 30s")
        .expect("watch CRD");
    }
}

/// On `cp`: the CRDs installed, a fresh namespace (deleted with the guard) and the operator's
/// controllers watching it.
pub async fn operator_in_new_namespace(
    cp: &'static prism_testkit::ControlPlane,
) -> (Client, String, prism_testkit::NamespaceGuard, Operator) {
    let client = cp.client().await.expect("client");
    install_crds(&client).await;
    let (ns, guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let operator = Operator::start(cp, &ns).await;
    (client, ns, guard, operator)
}

/// Parses one YAML document into JSON.
pub fn yaml(text: &str) -> serde_json::Value {
    serde_saphyr::from_str(text).expect("valid YAML")
}

/// How long tests wait for the operator and the control plane to converge.
pub const WAIT: Duration = Duration::from_secs(60);

/// The operator's controllers running in this test's runtime, watching one namespace, with a
/// User-Agent of their own so the audit log tells their requests apart. Stops on drop.
pub struct Operator {
    pub user_agent: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    pub async fn start(cp: &prism_testkit::ControlPlane, namespace: &str) -> Self {
        Self::start_with(cp, namespace, |_| {}).await
    }

    /// Like [`Operator::start`], with settings adjusted by `configure`.
    pub async fn start_with(
        cp: &prism_testkit::ControlPlane,
        namespace: &str,
        configure: impl FnOnce(&mut prism_operator::runtime::Settings),
    ) -> Self {
        Self::start_full(cp, namespace, configure, prism_operator::runtime::Services::default()).await
    }

    /// Like [`Operator::start`], with the metrics and readiness the test reads.
    pub async fn start_with_services(
        cp: &prism_testkit::ControlPlane,
        namespace: &str,
        services: prism_operator::runtime::Services,
    ) -> Self {
        Self::start_full(cp, namespace, |_| {}, services).await
    }

    async fn start_full(
        cp: &prism_testkit::ControlPlane,
        namespace: &str,
        configure: impl FnOnce(&mut prism_operator::runtime::Settings),
        services: prism_operator::runtime::Services,
    ) -> Self {
        let user_agent = format!("prism-operator-test/{namespace}");
        let config = prism_operator::runtime::with_user_agent(cp.kube_config().await.expect("config"), &user_agent);
        let client = Client::try_from(config).expect("client");
        let mut settings = prism_operator::runtime::Settings {
            scope: prism_operator::controller::Scope::Namespace(namespace.to_owned()),
            defaults: prism_operator::config::Defaults::default(),
            concurrency: 8,
            admin_endpoint: None,
            revoke_grace_period: prism_operator::controller::namespace::DEFAULT_REVOKE_GRACE_PERIOD,
        };
        configure(&mut settings);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(prism_operator::runtime::run_with(client, settings, services, async move {
            let _ = rx.await;
        }));
        Self { user_agent, stop: Some(tx), task }
    }

    /// Stops the controllers and waits for in-flight reconciles.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.task).await;
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One write request (create, update, patch, delete) from the audit log.
#[derive(Clone, Debug)]
pub struct Write {
    pub verb: String,
    pub uri: String,
    pub at: String,
}

/// Every write request the API server logged from `user_agent`.
pub fn writes_by(cp: &prism_testkit::ControlPlane, user_agent: &str) -> Vec<Write> {
    let text = std::fs::read_to_string(cp.audit_log_path()).expect("read audit log");
    text.lines()
        .filter(|l| l.contains(user_agent))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["userAgent"] == user_agent)
        .filter(|e| matches!(e["verb"].as_str(), Some("create" | "update" | "patch" | "delete" | "deletecollection")))
        // Access reviews are created but stored nowhere: they are questions, not writes.
        .filter(|e| !e["requestURI"].as_str().unwrap_or_default().contains("accessreviews"))
        .map(|e| Write {
            verb: e["verb"].as_str().unwrap_or_default().to_owned(),
            uri: e["requestURI"].as_str().unwrap_or_default().to_owned(),
            at: e["stageTimestamp"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Creates the object of a sample file in `ns` (its own namespace, if any, is replaced).
pub async fn create_sample(client: &Client, ns: &str, file: &str) -> serde_json::Value {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/samples").join(file);
    let mut doc = yaml(&std::fs::read_to_string(&path).expect("read sample"));
    doc["metadata"]["namespace"] = serde_json::Value::String(ns.to_owned());
    create(client, ns, &doc).await;
    doc
}

/// Creates a namespaced object given as JSON in `ns` (a Prism kind, a Secret, a KEDA
/// TriggerAuthentication, ...: plural = lowercase kind + "s").
pub async fn create(client: &Client, ns: &str, doc: &serde_json::Value) {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, PostParams};
    let kind = doc["kind"].as_str().expect("kind");
    let (group, version) = match doc["apiVersion"].as_str().expect("apiVersion").split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", doc["apiVersion"].as_str().unwrap_or_default()),
    };
    let plural = format!("{}s", kind.to_lowercase());
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let obj: DynamicObject = serde_json::from_value(doc.clone()).expect("dynamic object");
    api.create(&PostParams::default(), &obj).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
}

/// Polls `probe` until it yields `Some`, failing the test after [`WAIT`].
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    prism_testkit::wait_until(what, WAIT, async || probe().await).await.unwrap_or_else(|e| panic!("{e}"))
}

/// KEDA ScaledObjects in `ns`.
pub fn dynamic_pattern_api(client: &Client, ns: &str) -> Api<kube::api::DynamicObject> {
    let ar = kube::api::ApiResource::erase::<prism_api::v1alpha1::PrismPattern>(&());
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub fn scaled_object_api(client: &Client, ns: &str) -> Api<kube::api::DynamicObject> {
    use kube::api::{ApiResource, GroupVersionKind};
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("keda.sh", "v1alpha1", "ScaledObject"),
        "scaledobjects",
    );
    Api::namespaced_with(client.clone(), ns, &ar)
}

/// `kubectl auth can-i ... --as <sa>`: whether the API server's authorizer says yes.
pub fn can_i(cp: &prism_testkit::ControlPlane, sa: &str, args: &[&str]) -> bool {
    let out = cp.kubectl().args(["auth", "can-i", "--as", sa]).args(args).output().expect("kubectl auth can-i");
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// A child process killed when dropped, so a failing test leaves no operator behind.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
