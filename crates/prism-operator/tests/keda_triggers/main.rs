//! Every KEDA trigger type of the README scales a runner on its real broker, started on loopback
//! by the testkit: Redis (password in a TriggerAuthentication, and from a PrismBackend),
//! PostgreSQL (from a PrismBackend), RabbitMQ (from a PrismBackend), NATS JetStream, Kafka (KRaft,
//! consumer-group lag), SQS (moto, credentials in a ClusterTriggerAuthentication), KEDA's cpu and memory
//! triggers, the multi-trigger sample pointed at local brokers, and Prometheus (the request rate
//! kwok emulates for the pods, the custom-metrics example's metric).
//!
//! Each test grows a backlog and waits for the Deployment to reach the replica count KEDA's
//! formula gives (`ceil(backlog / threshold)`, bounded by maxReplicas), then drains it and waits
//! for minReplicas, checking the ScaledObject's and the PrismPattern's conditions on the way. The
//! times from backlog change to replica change are printed (`TIMELINE` lines).

#[path = "../support/mod.rs"]
mod support;

mod brokers;
mod redis_lists;
mod resources;
mod samples;
mod sqs;

use kube::{Client, api::DynamicObject};
use serde_json::{Value, json};
use support::scaling::{Timeline, autoscaling_reason, condition, pattern_reports, replicas_become, setup};

/// A consumer pattern scaled by KEDA on `triggers` between `min` and `max` replicas, polling
/// every 2 s and scaling down without a stabilization window, so that a test sees both directions
/// within a minute.
fn consumer(name: &str, min: i32, max: i32, triggers: Value) -> Value {
    json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
        "spec": {"pattern": "consumer", "backend": "queue", "replicas": min.max(1),
            "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}},
            "autoscaling": {"enabled": true, "scaler": "keda", "minReplicas": min, "maxReplicas": max,
                "pollingInterval": 2, "cooldownPeriod": 10,
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}},
                "triggers": triggers}}
    })
}

/// The ScaledObject's `Active` condition status.
async fn scaled_object_active(client: &Client, ns: &str, name: &str) -> String {
    let so: DynamicObject = support::scaled_object_api(client, ns).get(name).await.expect("ScaledObject");
    let conditions = so.data["status"]["conditions"].as_array().cloned().unwrap_or_default();
    conditions.iter().find(|c| c["type"] == "Active").and_then(|c| c["status"].as_str()).unwrap_or("Unknown").to_owned()
}

/// The idle pattern at `min`, the backlog grown by `fill` to `up` replicas, then drained by
/// `drain` back to `min`, with the pattern's and the ScaledObject's conditions checked at each
/// end. Prints and returns the two timelines.
async fn scales_with_backlog(
    client: &Client,
    ns: &str,
    name: &str,
    trigger: &str,
    (min, up): (i32, i32),
    fill: impl AsyncFnOnce(),
    drain: impl AsyncFnOnce(),
) -> (Timeline, Timeline) {
    let p = pattern_reports(client, ns, name, min, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalerNotActive", "idle before the backlog");
    fill().await;
    let grow = replicas_become(client, ns, name, up).await;
    let p = pattern_reports(client, ns, name, up, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalerActive");
    assert_eq!(scaled_object_active(client, ns, name).await, "True");
    drain().await;
    let shrink = replicas_become(client, ns, name, min).await;
    let p = autoscaling_reason(client, ns, name, "ScalerNotActive").await;
    assert_eq!(p.status.as_ref().and_then(|s| s.available_replicas), Some(min));
    assert_eq!(scaled_object_active(client, ns, name).await, "False");
    eprintln!("TIMELINE {trigger}: backlog -> {up} replicas: {grow}; drained -> {min}: {shrink}");
    (grow, shrink)
}

async fn create_secret(client: &Client, ns: &str, name: &str, data: &[(&str, &str)]) {
    let data: serde_json::Map<String, Value> = data.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
    support::create(
        client,
        ns,
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}),
    )
    .await;
}

async fn create_trigger_authentication(client: &Client, ns: &str, name: &str, secret: &str, params: &[(&str, &str)]) {
    let refs: Vec<Value> =
        params.iter().map(|(parameter, key)| json!({"parameter": parameter, "name": secret, "key": key})).collect();
    support::create(
        client,
        ns,
        &json!({"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication", "metadata": {"name": name},
            "spec": {"secretTargetRef": refs}}),
    )
    .await;
}
