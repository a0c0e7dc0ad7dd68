//! The `prism-operator` binary as people run it, on the local control plane: leader election
//! hands over when the leader dies, `/metrics` and `/readyz` tell the truth, startup checks fail
//! with clear errors, and an API server outage is ridden out.

mod support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use k8s_openapi::api::{apps::v1::Deployment, coordination::v1::Lease};
use kube::{Api, Client};
use serde_json::json;
use support::{
    eventually,
    process::{Proc, http_get},
};

fn pattern(name: &str) -> serde_json::Value {
    json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
        "spec": {"pattern": "keyvalue", "backend": "memstore"}})
}

async fn deployment_exists(client: &Client, ns: &str, name: &str) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    eventually(&format!("Deployment {name}"), async || {
        api.get_opt(name).await.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
    })
    .await;
}

async fn holder(client: &Client, ns: &str, lease: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    api.get_opt(lease).await.ok().flatten().and_then(|l| l.spec).and_then(|s| s.holder_identity)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_hands_over_when_the_leader_dies() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let (ns, _guard) = prism_testkit::temp_namespace(cp).await.expect("namespace");
    let lease = "prism-operator-test-leader";
    let common = [
        "--leader-elect",
        "--leader-election-id",
        lease,
        "--leader-election-namespace",
        &ns,
        "--namespaces",
        &ns,
        "--lease-duration",
        "4s",
        "--renew-deadline",
        "2s",
    ];
    let mut a = Proc::start(cp.kubeconfig_path(), &common, &[("POD_NAME", "op-a"), ("PRISM_USER_AGENT", "op-a")]);
    let leader = eventually("op-a leads", async || {
        holder(&client, &ns, lease).await.filter(|h| h == "op-a").ok_or("no".to_owned())
    })
    .await;
    assert_eq!(leader, "op-a");
    let mut b = Proc::start(cp.kubeconfig_path(), &common, &[("POD_NAME", "op-b"), ("PRISM_USER_AGENT", "op-b")]);
    eventually("op-b is a ready standby", async || match http_get(b.health, "/readyz").await? {
        (200, body) if body.contains("Standby") => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;

    support::create(&client, &ns, &pattern("first")).await;
    deployment_exists(&client, &ns, "first").await;
    eventually("leader /metrics", async || {
        let (_, body) = http_get(a.metrics, "/metrics").await?;
        (body.contains("prism_operator_leader 1")
            && body.contains("prism_operator_reconciles_total{controller=\"PrismPattern\"}"))
        .then_some(())
        .ok_or(body)
    })
    .await;
    let (_, standby_metrics) = http_get(b.metrics, "/metrics").await.expect("standby metrics");
    assert!(standby_metrics.contains("prism_operator_leader 0"), "{standby_metrics}");
    // The standby only competes for the lease; it reconciles nothing.
    let standby_writes: Vec<_> =
        support::writes_by(cp, "op-b").into_iter().filter(|w| !w.uri.contains("/leases")).collect();
    assert!(standby_writes.is_empty(), "the standby must not write: {standby_writes:?}");
    assert!(!support::writes_by(cp, "op-a").is_empty());
    // Ready once all four controllers have listed their caches (the pattern controller may be
    // first, so this is awaited rather than read once).
    eventually("leader /readyz Ready", async || match http_get(a.health, "/readyz").await? {
        (200, body) if body == "Ready" => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;

    // The leader dies without releasing the lease: the standby takes over once it expires.
    a.signal("KILL");
    let killed = Instant::now();
    assert!(eventually("op-a gone", async || (!a.alive()).then_some(true).ok_or("alive".to_owned())).await);
    eventually("op-b leads", async || {
        holder(&client, &ns, lease).await.filter(|h| h == "op-b").ok_or("not yet".to_owned())
    })
    .await;
    support::create(&client, &ns, &pattern("second")).await;
    deployment_exists(&client, &ns, "second").await;
    let handover = killed.elapsed();
    println!("leader handover after SIGKILL (lease 4s, renew deadline 2s): {} ms", handover.as_millis());
    assert!(handover < Duration::from_secs(12), "handover took {handover:?}");

    // SIGTERM: graceful shutdown releases the lease.
    b.signal("TERM");
    let status =
        eventually("op-b exits", async || b.exit_status().map_err(|e| e.to_string())?.ok_or("running".to_owned()))
            .await;
    assert!(status.success(), "graceful exit: {status:?}");
    let h = holder(&client, &ns, lease).await;
    assert!(h.as_deref().is_none_or(|h| h != "op-b"), "lease released, holder {h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_checks_fail_with_clear_errors() {
    let cp = prism_testkit::shared().await;
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let dir = std::env::temp_dir().join(format!("prism-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |kubeconfig: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_prism-operator"))
            .args(["run", "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0"])
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("run");
        assert!(!out.status.success(), "must refuse to start");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // An API server that is not there.
    let unreachable = dir.join("unreachable");
    let text = cp.kubeconfig().replace(cp.apiserver_url(), "https://127.0.0.1:1");
    std::fs::write(&unreachable, text).expect("write kubeconfig");
    let err = tokio::task::spawn_blocking(move || run(&unreachable)).await.expect("run");
    assert!(err.contains("cannot reach the Kubernetes API server at https://127.0.0.1:1"), "{err}");
    // A user without permissions (impersonated through the kubeconfig).
    let nobody = dir.join("nobody");
    let mut config: serde_json::Value = serde_json::from_str(cp.kubeconfig()).expect("kubeconfig is JSON");
    config["users"][0]["user"]["as"] = json!("system:serviceaccount:default:nobody");
    std::fs::write(&nobody, config.to_string()).expect("write kubeconfig");
    let err = tokio::task::spawn_blocking(move || run(&nobody)).await.expect("run");
    assert!(err.contains("lacks permissions") || err.contains("forbidden"), "{err}");
}
