//! Watches expired (410 Gone) by an etcd compaction and an API server restart while the operator
//! could not watch.

use kube::api::{DeleteParams, Patch, PatchParams};

use super::*;

/// The operator paused (SIGSTOP) while objects change, etcd compacted past every revision it saw,
/// and the API server restarted (its watch cache starts again after the compaction): on resuming,
/// its watches get 410 Gone, re-list, and every change made meanwhile is reconciled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_expired_by_compaction_miss_nothing() {
    let mut cp = prism_testkit::ControlPlane::start(Default::default()).await.expect("control plane");
    let client = cp.client().await.expect("client");
    support::install_crds(&client).await;
    let ns = "compaction";
    cp.kubectl().args(["create", "namespace", ns]).output().expect("kubectl");
    let log = cp.data_dir().join("operator.log");
    let op = operator(cp.kubeconfig_path(), ns, &log);
    let first: BTreeSet<String> = (0..8).map(|i| format!("p{i:03}")).collect();
    for i in 0..8 {
        support::create(&client, ns, &pattern(i)).await;
    }
    support::create(&client, ns, &stack("gamma")).await;
    converge(&client, ns, &first, &[("gamma", &["gamma-kv", "gamma-queue"])]).await;

    op.signal("STOP");
    // Changes it cannot see: new patterns, deleted patterns, a spec change, a deleted child, a
    // stack that drops a pattern.
    for i in 8..12 {
        support::create(&client, ns, &pattern(i)).await;
    }
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    for name in ["p000", "p001"] {
        patterns.delete(name, &DeleteParams::background()).await.expect("delete");
    }
    let scale = json!({"spec": {"replicas": 3}});
    patterns.patch("p005", &PatchParams::default(), &Patch::Merge(&scale)).await.expect("scale p005");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let old_uid = deployments.get("p004").await.expect("p004").metadata.uid;
    deployments.delete("p004", &DeleteParams::foreground()).await.expect("delete Deployment p004");
    prism_testkit::wait_until("Deployment p004 gone", Duration::from_secs(60), async || {
        match deployments.get_opt("p004").await.map_err(|e| e.to_string())? {
            None => Ok(()),
            Some(_) => Err("still there".to_owned()),
        }
    })
    .await
    .expect("Deployment deleted");
    let drop_queue = json!({"spec": {"patterns": [{"name": "gamma-kv", "type": "keyvalue", "backend": "memstore"}]}});
    Api::<PrismStack>::namespaced(client.clone(), ns)
        .patch("gamma", &PatchParams::default(), &Patch::Merge(&drop_queue))
        .await
        .expect("shrink the stack");
    let revision = cp.compact_etcd().await.expect("compact etcd");
    cp.stop_apiserver().await;
    cp.start_apiserver().await.expect("restart the API server");
    op.signal("CONT");

    let client = cp.client().await.expect("client");
    let now: BTreeSet<String> = (2..12).map(|i| format!("p{i:03}")).collect();
    let started = Instant::now();
    prism_testkit::wait_until("every change made during the pause", CONVERGE, async || {
        exact_children(&client, ns, &now, &[("gamma", &["gamma-kv"])]).await?;
        let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
        let replicas = deployments.get("p005").await.map_err(|e| e.to_string())?.spec.and_then(|s| s.replicas);
        let recreated = deployments.get("p004").await.map_err(|e| e.to_string())?.metadata.uid != old_uid;
        (replicas == Some(3) && recreated)
            .then_some(())
            .ok_or(format!("p005 replicas {replicas:?}; p004 recreated: {recreated}"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\noperator log: {}", log.display()));
    println!(
        "after compaction at revision {revision}: every change reconciled in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains("too old resource version"),
        "no watch was expired (410 Gone), so this did not test a re-list; log {}",
        log.display()
    );
    drop(op);
    cp.stop().await;
}
