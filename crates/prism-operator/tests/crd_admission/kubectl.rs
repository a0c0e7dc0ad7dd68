//! kubectl's category, short names, printer columns and `explain`.

use kube::api::{DynamicObject, PostParams};

use super::*;

#[tokio::test]
async fn kubectl_category_short_names_and_explain() {
    let client = client().await;
    let (ns, _guard) = prism_testkit::temp_namespace(prism_testkit::shared().await).await.expect("temp namespace");
    for (kind, spec) in [
        ("PrismStack", json!({})),
        ("PrismPattern", pattern(json!({}))),
        ("PrismBackend", json!({"type": "memory", "provider": "memstore"})),
        ("PrismNamespace", json!({"namespaceId": "t", "proxyRef": {"name": "s"}})),
    ] {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": kind,
            "metadata": {"name": "one", "namespace": ns}, "spec": spec,
        }))
        .expect("dynamic object");
        dynamic_api(&client, kind, &ns).create(&PostParams::default(), &obj).await.expect("create");
    }
    let cp = prism_testkit::shared().await;
    let run = |args: &[&str]| {
        let out = cp.kubectl().args(args).output().expect("run kubectl");
        assert!(out.status.success(), "kubectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        // Collapse kubectl's line wrapping so phrases can be matched.
        String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let listed = run(&["get", "prism", "-n", &ns, "-o", "name"]);
    for kind in ["prismstack", "prismpattern", "prismbackend", "prismnamespace"] {
        assert!(listed.contains(&format!("{kind}.prism.io/one")), "`kubectl get prism` misses {kind}: {listed}");
    }
    let short = run(&["get", "pstack,ppattern,pbackend,pns", "-n", &ns, "-o", "name"]);
    assert_eq!(short.matches(".prism.io/one").count(), 4, "{short}");
    let table = run(&["get", "ppattern", "-n", &ns]);
    for column in ["PATTERN", "BACKEND", "REPLICAS", "AVAILABLE", "PHASE", "AGE"] {
        assert!(table.contains(column), "printer column {column} missing: {table}");
    }
    let explain = run(&["explain", "prismstack.spec.admin.leaderElection.leaseDuration"]);
    assert!(explain.contains("Must be longer than renewDeadline"), "{explain}");
    let explain = run(&["explain", "prismpattern.spec.placement.strategy"]);
    assert!(explain.contains("MultiZone") && explain.contains("DedicatedNodes"), "{explain}");
}
