//! KEDA's cpu and memory triggers on the usage kwok reports through metrics-server.

use prism_testkit::{Load, Usage};
use serde_json::json;

use super::*;

/// KEDA's cpu and memory triggers (utilization of the requests) on the usage kwok reports through
/// metrics-server: each grows the runner on its own, and both let it shrink back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_cpu_and_memory_triggers_follow_the_usage() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let name = "resource-worker";
    let triggers = json!([
        {"type": "cpu", "metricType": "Utilization", "metadata": {"value": "50"}},
        {"type": "memory", "metricType": "Utilization", "metadata": {"value": "50"}}]);
    support::create(&client, &ns, &consumer(name, 1, 5, triggers)).await;
    let load = Load::start(
        client.clone(),
        &ns,
        &format!("prism.io/pattern-instance={name}"),
        Usage::total(Some(50), Some(64 * 1024 * 1024)),
    );
    let p = pattern_reports(&client, &ns, name, 1, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").0, "True");
    // 50 % of a 500m request is 250m per pod: 900m in total asks for ceil(900 / 250) = 4.
    load.set(Usage::total(Some(900), Some(64 * 1024 * 1024)));
    let cpu_up = replicas_become(&client, &ns, name, 4).await;
    load.set(Usage::total(Some(50), Some(64 * 1024 * 1024)));
    let cpu_down = replicas_become(&client, &ns, name, 1).await;
    // 50 % of 256Mi is 128Mi per pod: 300Mi in total asks for ceil(300 / 128) = 3.
    load.set(Usage::total(Some(50), Some(300 * 1024 * 1024)));
    let memory_up = replicas_become(&client, &ns, name, 3).await;
    load.set(Usage::total(Some(50), Some(64 * 1024 * 1024)));
    let memory_down = replicas_become(&client, &ns, name, 1).await;
    pattern_reports(&client, &ns, name, 1, "True").await;
    eprintln!("TIMELINE keda cpu: load -> 4 replicas: {cpu_up}; idle -> 1: {cpu_down}");
    eprintln!("TIMELINE keda memory: load -> 3 replicas: {memory_up}; idle -> 1: {memory_down}");
}
