//! `helm lint` and `helm template`: every rendered object (defaults, other values, monitoring,
//! namespaced RBAC) is valid for the API server, and bad combinations fail with the reason.

use serde_json::json;

use super::*;

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
