//! The deployment manifests on the local control plane: the Helm chart (lint, render, install,
//! upgrade, uninstall, with helm built from tools/helm) and config/ (`kubectl apply -f
//! config/rbac/`, `-f config/manager/manager.yaml`, `-k config/default`, `make undeploy`). Also
//! checks that the chart's copies of the generated CRDs and RBAC rules match config/.
//!
//! helm comes from `$PRISM_HELM` (set by `make test`), else from `tools/helm/build.sh`.

mod support;

use std::{
    borrow::BorrowMut,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

use k8s_openapi::api::{apps::v1::Deployment, core::v1::Pod, rbac::v1::ClusterRole};
use kube::{Api, api::ListParams};
use prism_testkit::ControlPlane;
use serde_json::{Value, json};
use support::{can_i, eventually};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chart() -> String {
    repo().join("charts/prism-operator").to_string_lossy().into_owned()
}

fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(repo().join(path.as_ref()))
        .unwrap_or_else(|e| panic!("read {}: {e}", path.as_ref().display()))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).expect("parse YAML stream");
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// `helm` with its caches and config in a directory of its own (no repositories are used).
fn helm(cp: Option<&ControlPlane>) -> Command {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    let bin = BIN.get_or_init(|| {
        if let Some(path) = std::env::var_os("PRISM_HELM") {
            return PathBuf::from(path);
        }
        let out = Command::new(repo().join("tools/helm/build.sh"))
            .stderr(Stdio::inherit())
            .output()
            .expect("run tools/helm/build.sh");
        assert!(out.status.success(), "tools/helm/build.sh failed");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    });
    let home = std::env::temp_dir().join(format!("prism-chart-tests-{}", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    if let Some(cp) = cp {
        cmd.arg("--kubeconfig").arg(cp.kubeconfig_path());
    }
    cmd
}

/// Runs `cmd` (feeding it `stdin`) and returns its stdout; fails the test with its stderr.
fn run(mut cmd: impl BorrowMut<Command>, stdin: Option<&str>) -> String {
    let cmd = cmd.borrow_mut();
    let mut child = cmd
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.unwrap_or_default().as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{cmd:?} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

fn kubectl(cp: &ControlPlane, args: &[&str]) -> Command {
    let mut cmd = cp.kubectl();
    cmd.args(args);
    cmd
}

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

#[test]
fn chart_crds_are_the_generated_ones() {
    let list = |dir: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(repo().join(dir))
            .unwrap_or_else(|e| panic!("read {dir}: {e}"))
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let names = list("config/crd/bases");
    assert_eq!(list("charts/prism-operator/crds"), names, "run `make manifests`");
    for name in names {
        assert!(
            read(format!("charts/prism-operator/crds/{name}")) == read(format!("config/crd/bases/{name}")),
            "charts/prism-operator/crds/{name} differs from config/crd/bases; run `make manifests`"
        );
    }
}

#[test]
fn chart_role_rules_are_the_generated_ones() {
    for (source, copy) in [
        ("config/rbac/role.yaml", "charts/prism-operator/files/clusterrole-rules.yaml"),
        ("config/namespaced/role/role.yaml", "charts/prism-operator/files/role-rules.yaml"),
        ("config/namespaced/cluster_reader.yaml", "charts/prism-operator/files/cluster-reader-rules.yaml"),
    ] {
        let role = support::yaml(&read(source));
        assert!(role["rules"].as_array().is_some_and(|r| !r.is_empty()), "{source} has no rules");
        assert_eq!(
            support::yaml(&read(copy))["rules"],
            role["rules"],
            "{copy} differs from {source}; run `make manifests`"
        );
    }
}

#[test]
fn chart_monitoring_files_are_the_ones_in_config() {
    for (copy, source) in [
        ("charts/prism-operator/files/prometheus-rules.yaml", "config/prometheus/rules.yaml"),
        ("charts/prism-operator/files/grafana-dashboard.json", "config/grafana/prism-operator.json"),
    ] {
        assert!(read(copy) == read(source), "{copy} differs from {source}; run `make manifests`");
    }
}

/// With monitoring on, the chart adds a ServiceMonitor selecting its metrics Service, the alert
/// rules as a PrometheusRule and the dashboard as a ConfigMap, and the API server (with the
/// prometheus-operator's own CRDs installed) accepts them; all three are off by default.
#[tokio::test]
async fn monitoring_objects_render_and_are_valid() {
    let cp = prism_testkit::shared().await;
    support::install_crds(&cp.client().await.expect("client")).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    for crd in prism_testkit::monitoring_crd_files().expect("prometheus-operator CRDs") {
        let file = crd.to_string_lossy().into_owned();
        run(kubectl(cp, &["apply", "--server-side", "--force-conflicts", "-f", &file]), None);
    }
    let crds = ["crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com"];
    run(kubectl(cp, &["wait", "--for=condition=Established", "--timeout=60s"]).args(crds), None);

    let render = |set: &[&str]| {
        let mut template = helm(None);
        template.args(["template", &ns, &chart(), "--namespace", &ns]);
        for value in set {
            template.args(["--set", value]);
        }
        run(template, None)
    };
    let defaults = yaml_docs(&render(&[]));
    let monitoring = ["ServiceMonitor", "PrometheusRule"];
    assert!(!defaults.iter().any(|d| monitoring.contains(&d["kind"].as_str().unwrap_or_default())), "off by default");
    let enabled = ["serviceMonitor.enabled=true", "prometheusRule.enabled=true", "grafanaDashboard.enabled=true"];
    let rendered = render(&enabled);
    let docs = yaml_docs(&rendered);
    let find = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap_or_else(|| panic!("no {kind}"));
    let monitor = find("ServiceMonitor");
    let service = find("Service");
    for (key, value) in monitor["spec"]["selector"]["matchLabels"].as_object().expect("matchLabels") {
        assert_eq!(&service["metadata"]["labels"][key], value, "the ServiceMonitor selects the metrics Service");
    }
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], service["spec"]["ports"][0]["name"]);
    let rules = support::yaml(&read("config/prometheus/rules.yaml"));
    assert_eq!(find("PrometheusRule")["spec"]["groups"], rules["groups"], "the PrometheusRule holds rules.yaml");
    let dashboard = docs
        .iter()
        .find(|d| d["kind"] == "ConfigMap" && d["metadata"]["labels"]["grafana_dashboard"] == "1")
        .expect("dashboard ConfigMap");
    let json: Value =
        serde_json::from_str(dashboard["data"]["prism-operator.json"].as_str().expect("json")).expect("JSON");
    let source: Value = serde_json::from_str(&read("config/grafana/prism-operator.json")).expect("JSON");
    assert_eq!(json, source);
    let apply = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=chart-test"];
    let out = run(kubectl(cp, &apply).args(["-f", "-"]), Some(&rendered));
    assert_eq!(out.lines().count(), docs.len(), "one line per object:\n{out}");

    let no_service = render_err(&ns, &["serviceMonitor.enabled=true", "metrics.service.enabled=false"]);
    assert!(no_service.contains("serviceMonitor.enabled needs metrics.service.enabled"), "{no_service}");
}

/// `rbac.scope=namespaced`: a Role and RoleBinding in each watched namespace (the generated
/// namespaced rules), a ClusterRole that only reads the cluster-scoped kinds, no cluster-wide
/// manager role; the API server accepts every object; bad combinations fail with the reason.
#[tokio::test]
async fn namespaced_rbac_renders_roles_in_the_watched_namespaces() {
    let cp = prism_testkit::shared().await;
    support::install_crds(&cp.client().await.expect("client")).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let (a, _guard_a) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let (b, _guard_b) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let mut template = helm(None);
    template.args(["template", &ns, &chart(), "--namespace", &ns, "--set", "rbac.scope=namespaced"]);
    template.args(["--set", &format!("watchNamespaces={{{a},{b}}}")]);
    let rendered = run(template, None);
    let docs = yaml_docs(&rendered);
    let of = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    let generated_role = support::yaml(&read("config/namespaced/role/role.yaml"));
    let generated_reader = support::yaml(&read("config/namespaced/cluster_reader.yaml"));
    let roles = of("Role").into_iter().filter(|r| r["rules"] == generated_role["rules"]).collect::<Vec<_>>();
    let mut placed: Vec<&str> = roles.iter().filter_map(|r| r["metadata"]["namespace"].as_str()).collect();
    placed.sort_unstable();
    let mut watched = vec![a.as_str(), b.as_str()];
    watched.sort_unstable();
    assert_eq!(placed, watched, "one manager Role per watched namespace");
    let bindings = of("RoleBinding");
    for namespace in &watched {
        assert!(
            bindings.iter().any(|rb| rb["metadata"]["namespace"] == *namespace
                && rb["roleRef"]["kind"] == "Role"
                && rb["subjects"][0]["namespace"] == ns.as_str()),
            "no RoleBinding in {namespace} for the release's ServiceAccount"
        );
    }
    let cluster_roles = of("ClusterRole");
    assert_eq!(cluster_roles.len(), 1, "only the cluster reader");
    assert_eq!(cluster_roles[0]["rules"], generated_reader["rules"]);
    assert!(of("ClusterRoleBinding").iter().all(|b| b["roleRef"]["name"] == cluster_roles[0]["metadata"]["name"]));
    let apply = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=chart-test"];
    let out = run(kubectl(cp, &apply).args(["-f", "-"]), Some(&rendered));
    assert_eq!(out.lines().count(), docs.len(), "one line per object:\n{out}");

    let no_namespaces = render_err(&ns, &["rbac.scope=namespaced"]);
    assert!(no_namespaces.contains("rbac.scope=namespaced needs watchNamespaces"), "{no_namespaces}");
    let bad = render_err(&ns, &["rbac.scope=everywhere"]);
    assert!(bad.contains("rbac.scope must be cluster or namespaced"), "{bad}");
}

/// `helm template` that must fail: its error output.
fn render_err(ns: &str, set: &[&str]) -> String {
    let mut template = helm(None);
    template.args(["template", ns, &chart(), "--namespace", ns]);
    for value in set {
        template.args(["--set", value]);
    }
    let out = template.output().expect("helm");
    assert!(!out.status.success(), "helm template {set:?} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn makefile_installs_the_tested_keda_version() {
    let line = format!("KEDA_VERSION ?= {}", prism_testkit::KEDA_VERSION);
    assert!(read("Makefile").lines().any(|l| l == line), "the Makefile lacks `{line}`");
}

#[test]
fn helm_lint_passes() {
    let out = run(helm(None).args(["lint", "--strict", &chart()]), None);
    assert!(out.contains("0 chart(s) failed"), "{out}");
}

#[tokio::test]
async fn every_rendered_object_is_valid() {
    let cp = prism_testkit::shared().await;
    support::install_crds(&cp.client().await.expect("client")).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let other_values = [
        "leaderElection.enabled=false",
        "watchNamespaces={a,b}",
        "concurrency=4",
        "logFormat=text",
        "replicaCount=2",
        "serviceAccount.create=false",
        "serviceAccount.name=default",
        "metrics.service.enabled=false",
        "imagePullSecrets[0].name=pull",
        "nodeSelector.kubernetes\\.io/os=linux",
        "tolerations[0].key=dedicated",
        "tolerations[0].operator=Exists",
        "extraEnv[0].name=EXTRA",
        "extraEnv[0].value=x",
        "otlpEndpoint=http://otel:4317",
    ];
    let variants: [&[&str]; 2] = [&[], &other_values];
    for values in variants {
        let mut template = helm(None);
        template.args(["template", &ns, &chart(), "--namespace", &ns, "--include-crds"]);
        for value in values {
            template.args(["--set", value]);
        }
        let rendered = run(template, None);
        let docs = yaml_docs(&rendered);
        let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "CustomResourceDefinition").count(), 4, "{kinds:?}");
        assert!(kinds.contains(&"Deployment") && kinds.contains(&"ClusterRole"), "{kinds:?}");
        let role = docs.iter().find(|d| d["kind"] == "ClusterRole").expect("ClusterRole");
        assert_eq!(role["rules"], support::yaml(&read("config/rbac/role.yaml"))["rules"]);
        let manager = &docs.iter().find(|d| d["kind"] == "Deployment").expect("Deployment")["spec"]["template"]["spec"]
            ["containers"][0];
        let watch = manager["env"].as_array().expect("env").iter().find(|e| e["name"] == "WATCH_NAMESPACES");
        let leader = manager["args"].as_array().expect("args").contains(&json!("--leader-elect"));
        if values.is_empty() {
            assert!(watch.is_none() && leader, "defaults: all namespaces, leader election: {manager}");
        } else {
            assert!(watch.is_some_and(|w| w["value"] == "a,b") && !leader, "{manager}");
        }
        let apply = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=chart-test"];
        let out = run(kubectl(cp, &apply).args(["-f", "-"]), Some(&rendered));
        assert_eq!(out.lines().count(), docs.len(), "one line per object:\n{out}");
    }
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
