//! Autoscaling that really scales, on the local control plane with the real autoscalers:
//! metrics-server serving the CPU and memory kwok simulates for the runner pods, the HPA
//! controller of kube-controller-manager, and KEDA (operator, metrics API server, admission
//! webhooks) polling a real redis-server. Each test changes the load and watches the replica
//! count the autoscaler settles on, then checks what the operator said and wrote meanwhile.

mod support;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::{
    Api, Client,
    api::{Patch, PatchParams},
};
use prism_api::v1alpha1::{PatternPhase, PrismPattern, PrismStack};
use prism_testkit::{Load, TestServer, Usage};
use serde_json::{Value, json};
use support::{
    Operator,
    scaling::{autoscaling_reason, condition, pattern_reports, replicas_become, setup},
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The operator's writes, by resource, since `from` (an index into its audit entries).
fn writes_since(cp: &prism_testkit::ControlPlane, op: &Operator, from: usize) -> Vec<support::Write> {
    support::writes_by(cp, &op.user_agent).split_off(from)
}

/// Asserts the operator wrote nothing but the pattern's status and Events, and that each status
/// write reflected a change (the API server assigns a new resourceVersion only to a write that
/// changes the object, so `changes` counts them from a watch).
fn assert_no_fights(writes: &[support::Write], status_changes: usize) {
    for w in writes {
        let status = w.uri.contains("/prismpatterns/") && w.uri.contains("/status");
        let event = w.uri.contains("/events");
        assert!(status || event, "the operator wrote something else while the autoscaler scaled: {w:?}");
    }
    let status_writes = writes.iter().filter(|w| w.uri.contains("/status")).count();
    assert!(
        status_writes <= status_changes,
        "{status_writes} status writes for {status_changes} status changes: some changed nothing"
    );
}

/// Counts the distinct statuses a pattern goes through until it is deleted.
fn count_status_changes(client: &Client, ns: &str, name: &str) -> tokio::task::JoinHandle<usize> {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    tokio::spawn(async move {
        let mut last: Option<Value> = None;
        let mut changes = 0;
        let mut stream = std::pin::pin!(watcher(api, config).default_backoff());
        while let Some(Ok(event)) = stream.next().await {
            let p = match event {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
                watcher::Event::Delete(_) => break,
                watcher::Event::Init | watcher::Event::InitDone => continue,
            };
            let status = serde_json::to_value(&p.status).unwrap_or_default();
            if last.as_ref() != Some(&status) {
                changes += 1;
                last = Some(status);
            }
        }
        changes
    })
}

/// The README's producer example (a CPU target of 75 % of a 500m request, 2 to 20 replicas)
/// with a short scale-down window of its own. A total load spread over the pods settles at
/// `ceil(total / 375m)` replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_on_cpu_scales_up_with_load_and_back_down_after_the_window() {
    let (cp, client, ns, _guard, op) = setup().await;
    let mut doc = support::yaml(include_str!("../../../config/samples/prismpattern_hpa_example.yaml"));
    doc["metadata"]["namespace"] = json!(ns);
    doc["spec"]["autoscaling"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] = json!(15);
    support::create(&client, &ns, &doc).await;
    let name = "producer-kafka-events";
    let load =
        Load::start(client.clone(), &ns, &format!("prism.io/pattern-instance={name}"), Usage::total(Some(100), None));
    let p = pattern_reports(&client, &ns, name, 2, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalingActive");
    let changes = count_status_changes(&client, &ns, name);
    let from = support::writes_by(cp, &op.user_agent).len();

    // 1300m over the pods: 4 replicas at 325m each (65 % of the request, under the target).
    load.set(Usage::total(Some(1300), None));
    let up = replicas_become(&client, &ns, name, 4).await;
    let p = pattern_reports(&client, &ns, name, 4, "True").await;
    assert_eq!(p.status.as_ref().and_then(|s| s.phase), Some(PatternPhase::Running));
    load.set(Usage::total(Some(100), None));
    let down = replicas_become(&client, &ns, name, 2).await;
    pattern_reports(&client, &ns, name, 2, "True").await;
    eprintln!("hpa cpu: load up -> 4 replicas ({up}); load down -> 2 replicas ({down})");

    let writes = writes_since(cp, &op, from);
    drop(load);
    Api::<PrismPattern>::namespaced(client.clone(), &ns)
        .delete(name, &Default::default())
        .await
        .expect("delete pattern");
    let changes = changes.await.expect("status watch");
    assert_no_fights(&writes, changes);
}

/// A memory target: 80 % of a 256Mi request, total usage 800Mi -> ceil(800 / 204.8) = 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_on_memory_scales_to_the_replicas_the_usage_needs() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let name = "memory-bound";
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
            "spec": {"pattern": "keyvalue", "backend": "redis", "replicas": 1,
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                "autoscaling": {"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 6,
                    "targetMemoryUtilizationPercentage": 80,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}}}
        }),
    )
    .await;
    let load = Load::start(
        client.clone(),
        &ns,
        &format!("prism.io/pattern-instance={name}"),
        Usage::total(None, Some(50 << 20)),
    );
    pattern_reports(&client, &ns, name, 1, "True").await;
    load.set(Usage::total(None, Some(800 << 20)));
    replicas_become(&client, &ns, name, 4).await;
    load.set(Usage::total(None, Some(50 << 20)));
    replicas_become(&client, &ns, name, 1).await;
}

/// A utilization target on a container without the request: no HPA that could never work, but
/// a condition naming the field and a Warning Event; adding the request fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_utilization_target_without_a_request_is_reported_not_created() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let name = "no-request";
    support::create(&client, &ns, &json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
        "spec": {"pattern": "producer", "backend": "kafka", "replicas": 3,
            "autoscaling": {"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 75}}
    }))
    .await;
    let api: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let p = support::eventually("ResourceRequestMissing", async || {
        let p = api.get(name).await.map_err(|e| e.to_string())?;
        let s = p.status.clone().unwrap_or_default();
        let c = s.conditions.iter().find(|c| c.type_ == "AutoscalingReady").ok_or("no condition")?;
        // Running its 3 fixed replicas, Degraded because autoscaling cannot work.
        let settled = c.reason == "ResourceRequestMissing" && s.available_replicas == Some(3);
        (settled && s.phase == Some(PatternPhase::Degraded)).then_some(p.clone()).ok_or(format!("{s:?}"))
    })
    .await;
    let (status, _, message) = condition(&p, "AutoscalingReady");
    assert_eq!(status, "False");
    assert!(message.contains("spec.resources.requests.cpu") && message.contains("\"producer-runner\""), "{message}");
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    assert!(hpas.get_opt(name).await.expect("get").is_none());
    let events = support::eventually("a Warning Event", async || {
        let out = prism_testkit::shared_autoscaled()
            .await
            .kubectl()
            .args(["get", "events", "-n", &ns, "--field-selector", "reason=ResourceRequestMissing", "-o", "name"])
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.trim().is_empty() { Err("none yet".to_owned()) } else { Ok(text) }
    })
    .await;
    assert!(!events.is_empty());

    let fix = json!({"spec": {"resources": {"requests": {"cpu": "250m"}}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&fix)).await.expect("add the request");
    let hpa = support::eventually("the HPA once the request is there", async || {
        hpas.get_opt(name).await.map_err(|e| e.to_string())?.ok_or_else(|| "absent".to_owned())
    })
    .await;
    assert_eq!(hpa.spec.expect("spec").max_replicas, 5);
}

/// The README's custom-metrics example (an HPA on the Pods metric `http_requests_per_second`) on
/// a cluster where no adapter serves `custom.metrics.k8s.io`: the HPA cannot read its metric, and
/// the pattern says so with the HPA's own reason and message, keeping its replicas meanwhile.
/// (With Prometheus and no adapter, the prometheus sample is the equivalent: `keda_triggers/samples.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_metrics_example_without_an_adapter_says_why_it_cannot_scale() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    support::create_sample(&client, &ns, "prismpattern_hpa_custom_metrics_example.yaml").await;
    let name = "keyvalue-custom-metrics";
    let p = autoscaling_reason(&client, &ns, name, "FailedGetPodsMetric").await;
    let (status, _, message) = condition(&p, "AutoscalingReady");
    eprintln!("AutoscalingReady: {message}");
    assert_eq!(status, "False");
    assert!(message.contains("http_requests_per_second"), "names the metric: {message}");
    assert!(message.contains("custom.metrics.k8s.io"), "names the missing API: {message}");
    assert_eq!(p.status.as_ref().and_then(|s| s.phase), Some(PatternPhase::Degraded));
    replicas_become(&client, &ns, name, 3).await;
}

/// Redis RPUSH/DEL over RESP (inline commands), enough to fill and drain a list.
async fn redis(port: u16, command: &str) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect to redis");
    let mut stream = BufReader::new(stream);
    stream.get_mut().write_all(format!("{command}\r\n").as_bytes()).await.expect("send");
    let mut reply = String::new();
    stream.read_line(&mut reply).await.expect("reply");
    assert!(!reply.starts_with('-'), "redis refused {command:?}: {reply}");
}

async fn push(port: u16, list: &str, n: usize) {
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    redis(port, &format!("RPUSH {list} {}", items.join(" "))).await;
}

/// KEDA's redis scaler on a real redis-server: 5 items per replica, 1 to 4 replicas.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keda_on_redis_follows_the_list_and_scales_to_zero() {
    let (cp, client, ns, _guard, op) = setup().await;
    let server = TestServer::redis(None).await.expect("redis-server");
    let name = "jobs-worker";
    let triggers = json!([{"type": "redis", "metadata": {
        "address": format!("127.0.0.1:{}", server.port()), "listName": "jobs", "listLength": "5"}}]);
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern", "metadata": {"name": name},
            "spec": {"pattern": "consumer", "backend": "redis", "replicas": 1,
                "autoscaling": {"enabled": true, "scaler": "keda", "minReplicas": 1, "maxReplicas": 4,
                    "pollingInterval": 2, "cooldownPeriod": 10,
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 5}},
                    "triggers": triggers}}
        }),
    )
    .await;
    let p = pattern_reports(&client, &ns, name, 1, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalerNotActive");
    let changes = count_status_changes(&client, &ns, name);
    let from = support::writes_by(cp, &op.user_agent).len();

    push(server.port(), "jobs", 12).await; // ceil(12 / 5) = 3
    let up = replicas_become(&client, &ns, name, 3).await;
    let p = pattern_reports(&client, &ns, name, 3, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalerActive");
    push(server.port(), "jobs", 100).await; // 112 items want 23: bounded by maxReplicas
    replicas_become(&client, &ns, name, 4).await;
    redis(server.port(), "DEL jobs").await;
    let down = replicas_become(&client, &ns, name, 1).await;
    eprintln!("keda redis: 12 items -> 3 replicas ({up}); drained -> 1 replica ({down})");

    // KEDA's own HPA is KEDA's: the operator never touched or swept it.
    let keda_hpa = Api::<HorizontalPodAutoscaler>::namespaced(client.clone(), &ns)
        .get(&format!("keda-hpa-{name}"))
        .await
        .expect("KEDA's HPA is still there");
    assert_eq!(keda_hpa.metadata.owner_references.expect("owner")[0].kind, "ScaledObject");
    let writes = writes_since(cp, &op, from);
    assert!(!writes.iter().any(|w| w.uri.contains("keda-hpa")), "the operator touched KEDA's HPA: {writes:?}");

    // Scale to zero and back: minReplicas 0, an empty list, then one item.
    let patterns: Api<PrismPattern> = Api::namespaced(client.clone(), &ns);
    let zero = json!({"spec": {"autoscaling": {"minReplicas": 0}}});
    patterns.patch(name, &PatchParams::default(), &Patch::Merge(&zero)).await.expect("minReplicas 0");
    let to_zero = replicas_become(&client, &ns, name, 0).await;
    let p = pattern_reports(&client, &ns, name, 0, "True").await;
    assert_eq!(p.status.as_ref().and_then(|s| s.available_replicas), Some(0));
    push(server.port(), "jobs", 1).await;
    let from_zero = replicas_become(&client, &ns, name, 1).await;
    eprintln!("keda redis: idle -> 0 replicas ({to_zero}); 1 item -> 1 replica ({from_zero})");

    let all = writes_since(cp, &op, from);
    patterns.delete(name, &Default::default()).await.expect("delete pattern");
    let changes = changes.await.expect("status watch");
    // The one spec change (minReplicas 0) is applied to the ScaledObject; nothing else is written.
    let so_writes: Vec<_> = all.iter().filter(|w| w.uri.contains("/scaledobjects/")).collect();
    assert_eq!(so_writes.len(), 1, "one ScaledObject apply for the one spec change: {so_writes:?}");
    let rest: Vec<support::Write> = all.into_iter().filter(|w| !w.uri.contains("/scaledobjects/")).collect();
    assert_no_fights(&rest, changes);
}

/// A PrismStack's proxy with an HPA on CPU scales with its load, and the stack's
/// `AutoscalingReady` says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_proxy_hpa_scales_with_load() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    support::create(
        &client,
        &ns,
        &json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismStack", "metadata": {"name": "scaled"},
            "spec": {
                "proxy": {"replicas": 1, "resources": {"requests": {"cpu": "200m", "memory": "128Mi"}},
                    "autoscaling": {"enabled": true, "scaler": "hpa", "minReplicas": 1, "maxReplicas": 5,
                        "targetCPUUtilizationPercentage": 50,
                        "behavior": {"scaleDown": {"stabilizationWindowSeconds": 15}}}},
                "admin": {"enabled": false}}
        }),
    )
    .await;
    let load = Load::start(client.clone(), &ns, "stack=scaled,component=prism-proxy", Usage::total(Some(50), None));
    let stacks: Api<PrismStack> = Api::namespaced(client.clone(), &ns);
    let auto = |s: &PrismStack| {
        s.status.as_ref().and_then(|s| s.conditions.iter().find(|c| c.type_ == "AutoscalingReady").cloned())
    };
    support::eventually("the stack's autoscalers ready", async || {
        let s = stacks.get("scaled").await.map_err(|e| e.to_string())?;
        match auto(&s) {
            Some(c) if c.status == "True" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    // 350m over pods at 100m each (50 % of 200m): 4 replicas.
    load.set(Usage::total(Some(350), None));
    replicas_become(&client, &ns, "scaled-proxy", 4).await;
    let s = support::eventually("proxy 4/4 in the stack status", async || {
        let s = stacks.get("scaled").await.map_err(|e| e.to_string())?;
        let proxy = s.status.as_ref().and_then(|st| st.proxy.clone()).unwrap_or_default();
        (proxy.summary == "4/4").then_some(s).ok_or(format!("{proxy:?}"))
    })
    .await;
    assert_eq!(auto(&s).map(|c| c.status), Some("True".to_owned()));
    load.set(Usage::total(Some(50), None));
    replicas_become(&client, &ns, "scaled-proxy", 1).await;
}
