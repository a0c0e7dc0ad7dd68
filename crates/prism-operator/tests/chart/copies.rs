//! The chart's copies of the generated CRDs and RBAC rules, of the alert rules and of the
//! dashboard are the files in config/; the Makefile installs the KEDA version the tests run.

use super::*;

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

#[test]
fn makefile_installs_the_tested_keda_version() {
    let line = format!("KEDA_VERSION ?= {}", prism_testkit::KEDA_VERSION);
    assert!(read("Makefile").lines().any(|l| l == line), "the Makefile lacks `{line}`");
}
