//! Installs on the control plane: `helm install`, `upgrade` and `uninstall`, and config/
//! (`kubectl apply -f config/rbac/`, `-f config/manager/manager.yaml`, `-k config/default`,
//! `make undeploy`), each with the operator's least privilege and a restricted pod.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod, rbac::v1::ClusterRole};
use kube::{Api, api::ListParams};
use serde_json::json;
use support::{can_i, eventually};

use super::*;

/// Asserts the operator's least privilege: server-side apply (patch, and create for new objects)
/// but never update of children, its Lease in `ns`, nothing about nodes.
fn assert_operator_rbac(cp: &ControlPlane, sa: &str, ns: &str) {
    assert!(can_i(cp, sa, &["patch", "deployments", "-A"]), "{sa} cannot patch deployments");
    assert!(can_i(cp, sa, &["watch", "prismstacks.prism.io", "-A"]), "{sa} cannot watch prismstacks");
    assert!(can_i(cp, sa, &["update", "leases", "-n", ns]), "{sa} cannot update its lease");
    assert!(can_i(cp, sa, &["create", "deployments", "-n", ns]), "{sa} cannot create deployments (apply creates)");
    assert!(!can_i(cp, sa, &["update", "deployments", "-n", ns]), "{sa} may update deployments");
    assert!(!can_i(cp, sa, &["get", "nodes"]), "{sa} may read nodes");
}

/// Waits until `deployment` in `ns` has rolled out its latest template to a Running pod, and
/// returns it.
async fn rolled_out(cp: &ControlPlane, ns: &str, deployment: &str) -> Deployment {
    let client = cp.client().await.expect("client");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let pods: Api<Pod> = Api::namespaced(client, ns);
    eventually(&format!("{ns}/{deployment} rolled out to a Running pod"), async || {
        let d = deployments.get(deployment).await.map_err(|e| e.to_string())?;
        let status = d.status.clone().unwrap_or_default();
        let current = status.observed_generation == d.metadata.generation
            && status.updated_replicas == Some(1)
            && status.replicas == Some(1)
            && status.available_replicas == Some(1);
        let selector = d.spec.as_ref().and_then(|s| s.selector.match_labels.clone()).unwrap_or_default();
        let selector: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let running = pods.list(&ListParams::default().labels(&selector.join(","))).await.map_err(|e| e.to_string())?;
        let phases: Vec<_> = running.items.iter().filter_map(|p| p.status.as_ref()?.phase.clone()).collect();
        if current && phases == ["Running"] { Ok(d) } else { Err(format!("status {status:?}, pods {phases:?}")) }
    })
    .await
}

/// Checks the manager container of the operator's Deployment, as the seeds' commands expect it.
fn assert_manager(d: &Deployment, service_account: &str) {
    let v = serde_json::to_value(d).expect("json");
    let pod = &v["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], service_account);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["name"], "manager", "`kubectl logs ... -c manager` needs this name");
    let args: Vec<&str> = c["args"].as_array().expect("args").iter().filter_map(Value::as_str).collect();
    assert_eq!(args[0], "run", "{args:?}");
    assert!(args.contains(&"--leader-elect") && args.contains(&"--log-format=json"), "{args:?}");
    let env = |name: &str| c["env"].as_array().expect("env").iter().find(|e| e["name"] == name).cloned();
    assert_eq!(env("POD_NAME").expect("POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
    assert_eq!(
        env("POD_NAMESPACE").expect("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        c["securityContext"],
        json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "runAsNonRoot": true,
               "runAsUser": 65532, "runAsGroup": 65532, "capabilities": {"drop": ["ALL"]},
               "seccompProfile": {"type": "RuntimeDefault"}})
    );
    assert_eq!(c["livenessProbe"]["httpGet"], json!({"path": "/healthz", "port": "health", "scheme": "HTTP"}));
    assert_eq!(c["readinessProbe"]["httpGet"], json!({"path": "/readyz", "port": "health", "scheme": "HTTP"}));
    let ports: Vec<(&Value, &Value)> =
        c["ports"].as_array().expect("ports").iter().map(|p| (&p["name"], &p["containerPort"])).collect();
    assert_eq!(ports, [(&json!("metrics"), &json!(8080)), (&json!("health"), &json!(8081))]);
    assert_eq!(
        c["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}})
    );
}

fn env_value(d: &Deployment, name: &str) -> Option<String> {
    let c = &d.spec.as_ref()?.template.spec.as_ref()?.containers[0];
    c.env.as_ref()?.iter().find(|e| e.name == name)?.value.clone()
}

/// Makes `ns` enforce the `restricted` Pod Security Standard: the operator's pod must meet it.
fn enforce_restricted(cp: &ControlPlane, ns: &str) {
    let label = "pod-security.kubernetes.io/enforce=restricted";
    run(kubectl(cp, &["label", "--overwrite", "namespace", ns, label]), None);
}

#[tokio::test]
async fn helm_install_upgrade_uninstall() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    // The same CRDs the chart carries; helm skips CRDs that exist and never changes them.
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    enforce_restricted(cp, &ns);
    // Names of cluster-scoped objects derive from the release: unique per test run.
    let release = ns.clone();
    let fullname = format!("{release}-prism-operator");
    let deployment = format!("{fullname}-controller-manager");
    let sa = format!("system:serviceaccount:{ns}:{fullname}-controller-manager");

    let install = ["install", &release, &chart(), "--namespace", &ns, "--set", "image.tag=v0.1.0"];
    run(helm(Some(cp)).args(install), None);
    let d = rolled_out(cp, &ns, &deployment).await;
    assert_manager(&d, &format!("{fullname}-controller-manager"));
    assert_eq!(env_value(&d, "LOG_LEVEL").as_deref(), Some("info"));
    let image = |d: &Deployment| d.spec.as_ref().and_then(|s| s.template.spec.as_ref()?.containers[0].image.clone());
    assert_eq!(image(&d).as_deref(), Some("ghcr.io/prism/prism-operator:v0.1.0"));
    assert_operator_rbac(cp, &sa, &ns);
    assert!(run(helm(Some(cp)).args(["status", &release, "-n", &ns]), None).contains("STATUS: deployed"));

    // The seed's debug-logging command.
    let upgrade = ["upgrade", &release, &chart(), "--namespace", &ns, "--set", "logLevel=debug", "--reuse-values"];
    run(helm(Some(cp)).args(upgrade), None);
    let d = rolled_out(cp, &ns, &deployment).await;
    assert_eq!(env_value(&d, "LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(image(&d).as_deref(), Some("ghcr.io/prism/prism-operator:v0.1.0"), "--reuse-values kept image.tag");

    run(helm(Some(cp)).args(["uninstall", &release, "--namespace", &ns]), None);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role = format!("{fullname}-manager-role");
    eventually("the release's objects deleted", async || {
        let left = (deployments.get_opt(&deployment).await, roles.get_opt(&role).await);
        match left {
            (Ok(None), Ok(None)) => Ok(()),
            other => Err(format!("still there: {other:?}")),
        }
    })
    .await;
    let crds = run(kubectl(cp, &["get", "crd", "-o", "name"]), None);
    assert_eq!(crds.matches(".prism.io").count(), 4, "helm uninstall keeps the CRDs:\n{crds}");
}

#[tokio::test]
async fn config_rbac_manager_and_default_apply_and_undeploy() {
    const NS: &str = "prism-system";
    const DEPLOYMENT: &str = "prism-operator-controller-manager";
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let sa = format!("system:serviceaccount:{NS}:prism-operator-controller-manager");

    // The seed's production deployment, as typed: RBAC (with the namespace) first, then the manager.
    run(kubectl(cp, &["apply", "-f", "config/rbac/"]), None);
    enforce_restricted(cp, NS);
    run(kubectl(cp, &["apply", "-f", "config/manager/manager.yaml"]), None);
    let d = rolled_out(cp, NS, DEPLOYMENT).await;
    assert_manager(&d, "prism-operator-controller-manager");
    assert_eq!(d.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_operator_rbac(cp, &sa, NS);

    // The kustomization: the same objects and the CRDs, client-side (as typed) and server-side.
    let built = yaml_docs(&run(kubectl(cp, &["kustomize", "config/default"]), None));
    let mut kinds: Vec<&str> = built.iter().filter_map(|d| d["kind"].as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Deployment",
            "Namespace",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    let manager = built.iter().find(|d| d["kind"] == "Deployment").expect("Deployment");
    let image = &manager["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image.as_str(),
        Some(format!("ghcr.io/prism/prism-operator:v{}", env!("CARGO_PKG_VERSION")).as_str()),
        "`make image` tags this image by default; `make deploy IMG=...` substitutes another"
    );
    run(kubectl(cp, &["apply", "-k", "config/default"]), None);
    run(kubectl(cp, &["apply", "--server-side", "--force-conflicts", "-k", "config/default"]), None);
    rolled_out(cp, NS, DEPLOYMENT).await;

    // `make undeploy` removes the operator and its RBAC, and keeps the CRDs and the namespace.
    let mut make = Command::new("make");
    make.args(["-s", "undeploy"])
        .arg(format!("KUBECTL={}", cp.bin_dir().join("kubectl").display()))
        .env("KUBECONFIG", cp.kubeconfig_path())
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL");
    run(make, None);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    let roles: Api<ClusterRole> = Api::all(client.clone());
    assert!(deployments.get_opt(DEPLOYMENT).await.expect("get").is_none(), "Deployment left");
    assert!(roles.get_opt("prism-operator-manager-role").await.expect("get").is_none(), "ClusterRole left");
    assert!(!can_i(cp, &sa, &["patch", "deployments", "-A"]), "RBAC left after undeploy");
    run(kubectl(cp, &["get", "namespace", NS]), None);
    let crds = run(kubectl(cp, &["get", "crd", "-o", "name"]), None);
    assert_eq!(crds.matches(".prism.io").count(), 4, "undeploy keeps the CRDs:\n{crds}");
    run(kubectl(cp, &["delete", "namespace", NS, "--wait=false"]), None);
}
