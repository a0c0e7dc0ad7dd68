//! The monitoring shipped in `config/` (and, copied, in the chart): promtool checks the alert
//! rules and runs their unit tests (every alert firing and not firing), and a real Prometheus
//! scraping the running operator answers every query of the Grafana dashboard with data.

mod support;

use std::{path::PathBuf, process::Command};

use k8s_openapi::api::core::v1::Service;
use kube::{Api, api::PostParams};
use prism_testkit::Prometheus;
use serde_json::{Value, json};
use support::{eventually, process::Proc};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn promtool() -> PathBuf {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("promtool is not installed (apt-get install prometheus; hack/deps.sh does)")
}

#[test]
fn promtool_passes_the_rules_and_their_tests_cover_every_alert() {
    let dir = repo("config/prometheus");
    for args in [&["check", "rules", "rules.yaml"][..], &["test", "rules", "rules_test.yaml"][..]] {
        let out = Command::new(promtool()).args(args).current_dir(&dir).output().expect("run promtool");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("SUCCESS"), "promtool {args:?}:\n{text}");
    }
    let rules = support::yaml(&std::fs::read_to_string(dir.join("rules.yaml")).expect("rules.yaml"));
    let tests = support::yaml(&std::fs::read_to_string(dir.join("rules_test.yaml")).expect("rules_test.yaml"));
    let cases: Vec<Value> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .collect();
    let alerts: Vec<&str> = rules["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .filter_map(|r| r["alert"].as_str())
        .collect();
    assert_eq!(alerts.len(), 5, "{alerts:?}");
    for alert in alerts {
        let of = |firing: bool| {
            cases
                .iter()
                .any(|c| c["alertname"] == alert && c["exp_alerts"].as_array().is_some_and(|a| a.is_empty() != firing))
        };
        assert!(of(true) && of(false), "{alert}: rules_test.yaml must test it firing and not firing");
        let rule =
            rules["groups"][0]["rules"].as_array().expect("rules").iter().find(|r| r["alert"] == alert).expect("rule");
        assert!(rule["annotations"]["runbook"].as_str().is_some_and(|r| r.len() > 80), "{alert} has a runbook");
    }
}

/// Every `expr` of the dashboard's panels, with its variables set to "all".
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("config/grafana/prism-operator.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or_default().to_owned();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| (title.clone(), t["expr"].as_str().expect("expr").replace("$job", ".*")))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_the_running_operator() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let operator = Proc::start(cp.kubeconfig_path(), &["--namespaces", &ns], &[]);
    let prometheus =
        Prometheus::scraping("prism-operator", &[format!("127.0.0.1:{}", operator.metrics)]).await.expect("prometheus");

    // Something for every panel: patterns that run, one that fails validation, one whose
    // Service name someone else's object holds (reconcile errors), and a backend.
    let pattern = |name: &str, extra: Value| {
        let mut spec = json!({"pattern": "keyvalue", "backend": "memstore", "service": {"type": "ClusterIP"}});
        spec.as_object_mut().expect("spec").extend(extra.as_object().cloned().unwrap_or_default());
        json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name}, "spec": spec})
    };
    let foreign: Service = serde_json::from_value(json!({"metadata": {"name": "taken"},
        "spec": {"ports": [{"port": 8080}]}}))
    .expect("service");
    Api::<Service>::namespaced(client.clone(), &ns).create(&PostParams::default(), &foreign).await.expect("service");
    for doc in [
        pattern("kv-a", json!({})),
        pattern("kv-b", json!({})),
        pattern("broken", json!({"backendConfig": {"name": "missing"}})),
        pattern("taken", json!({})),
        json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "memory"},
            "spec": {"type": "memory", "provider": "memstore"}}),
    ] {
        support::create(&client, &ns, &doc).await;
    }

    let queries = dashboard_queries();
    assert!(queries.len() >= 10, "{queries:?}");
    for (panel, query) in &queries {
        let samples = eventually(&format!("data for {panel:?}: {query}"), async || {
            let samples = prometheus.query(query).await.map_err(|e| e.to_string())?;
            if samples.iter().any(|s| s.value.is_finite()) { Ok(samples) } else { Err(format!("{samples:?}")) }
        })
        .await;
        eprintln!("{panel}: {query} -> {} series", samples.len());
    }
    // The figures are the cluster's: two patterns run, the broken one failed.
    eventually("Running and Failed patterns counted", async || {
        let phases =
            prometheus.query(r#"prism_operator_resources{kind="PrismPattern"}"#).await.map_err(|e| e.to_string())?;
        let count = |phase: &str| {
            phases
                .iter()
                .filter(|s| s.labels.get("phase").map(String::as_str) == Some(phase))
                .map(|s| s.value)
                .sum::<f64>()
        };
        if count("Running") == 2.0 && count("Failed") >= 1.0 { Ok(()) } else { Err(format!("{phases:?}")) }
    })
    .await;
    let errors = prometheus.query(r#"sum by (reason) (prism_operator_reconcile_errors_total)"#).await.expect("query");
    assert!(errors.iter().any(|s| s.labels.get("reason").map(String::as_str) == Some("NameConflict")), "{errors:?}");
}
