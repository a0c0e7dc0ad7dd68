//! The README's samples pointed at local brokers: the multi-trigger sample and the prometheus
//! sample (the custom-metrics example's metric).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use prism_testkit::{JetStream, Kafka, Load, Offsets, Prometheus, Sqs, TestServer, Usage};
use serde_json::json;

use super::*;

/// The README's multi-trigger sample (Kafka lag + NATS JetStream pending + SQS depth + CPU) with
/// its endpoints pointed at local brokers and its thresholds scaled down to test-sized backlogs
/// (10 per replica instead of 100-1000): the replica count follows the trigger asking for most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_trigger_sample_follows_the_largest_backlog() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let (kafka, nats, sqs) = tokio::join!(Kafka::start(), TestServer::nats_jetstream(), Sqs::start());
    let (kafka, nats, sqs) = (kafka.expect("kafka"), nats.expect("nats-server"), sqs.expect("moto"));
    kafka.create_topic("orders", 8).await.expect("topic");
    kafka.reset_offsets("prism-orders", "orders", Offsets::Latest).await.expect("group");
    let js = JetStream::connect(nats.port()).await.expect("connect");
    js.create_stream("orders", "orders.>").await.expect("stream");
    js.create_consumer("orders", "prism-orders").await.expect("consumer");
    let queue = sqs.create_queue("orders").await.expect("queue");
    create_secret(
        &client,
        &ns,
        "aws-credentials",
        &[("AWS_ACCESS_KEY_ID", "AKIDPRISMTEST"), ("AWS_SECRET_ACCESS_KEY", "prism-test-secret")],
    )
    .await;
    create_trigger_authentication(
        &client,
        &ns,
        "keda-aws-credentials",
        "aws-credentials",
        &[("awsAccessKeyID", "AWS_ACCESS_KEY_ID"), ("awsSecretAccessKey", "AWS_SECRET_ACCESS_KEY")],
    )
    .await;

    let mut doc =
        support::yaml(include_str!("../../../../config/samples/prismpattern_keda_multi_trigger_example.yaml"));
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    let auto = &mut doc["spec"]["autoscaling"];
    auto["pollingInterval"] = json!(2);
    auto["maxReplicas"] = json!(8);
    auto["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 0}});
    let triggers = auto["triggers"].as_array_mut().expect("triggers");
    for t in triggers.iter_mut() {
        let type_ = t["type"].as_str().unwrap_or_default().to_owned();
        let m = &mut t["metadata"];
        match type_.as_str() {
            "kafka" => {
                m["bootstrapServers"] = json!(kafka.bootstrap());
                m["lagThreshold"] = json!("10");
            }
            "nats-jetstream" => {
                let monitoring = nats.named_port("monitoring").expect("monitoring port");
                m["natsServerMonitoringEndpoint"] = json!(format!("127.0.0.1:{monitoring}"));
                m["lagThreshold"] = json!("10");
            }
            "aws-sqs-queue" => {
                m["queueURL"] = json!(queue);
                m["awsEndpoint"] = json!(sqs.endpoint());
                m["queueLength"] = json!("10");
            }
            _ => {}
        }
    }
    support::create(&client, &ns, &doc).await;
    let p = pattern_reports(&client, &ns, &name, 2, "True").await;
    assert_eq!(condition(&p, "AutoscalingReady").1, "ScalerNotActive");

    kafka.produce("orders", 30).await.expect("produce"); // kafka asks for 3
    let kafka_up = replicas_become(&client, &ns, &name, 3).await;
    js.publish("orders.new", 50).await.expect("publish"); // nats asks for 5
    let nats_up = replicas_become(&client, &ns, &name, 5).await;
    sqs.send(&queue, 70).await.expect("send"); // sqs asks for 7
    let sqs_up = replicas_become(&client, &ns, &name, 7).await;
    assert_eq!(scaled_object_active(&client, &ns, &name).await, "True");
    sqs.purge(&queue).await.expect("purge"); // back to what nats asks for
    let sqs_drained = replicas_become(&client, &ns, &name, 5).await;
    js.purge("orders").await.expect("purge");
    kafka.reset_offsets("prism-orders", "orders", Offsets::Latest).await.expect("commit");
    let all_drained = replicas_become(&client, &ns, &name, 2).await;
    autoscaling_reason(&client, &ns, &name, "ScalerNotActive").await;
    eprintln!(
        "TIMELINE multi-trigger: kafka -> 3: {kafka_up}; + nats -> 5: {nats_up}; + sqs -> 7: {sqs_up}; sqs drained -> 5: {sqs_drained}; all drained -> 2: {all_drained}"
    );
    // The Secret the sample's TriggerAuthentication reads is the user's: untouched.
    let secret = Api::<Secret>::namespaced(client.clone(), &ns).get("aws-credentials").await.expect("secret");
    assert!(secret.metadata.owner_references.is_none());
}

/// The custom-metrics example's metric, `http_requests_per_second` at 1000 per replica, through
/// KEDA's prometheus trigger (the prometheus sample): Prometheus scrapes the rate kwok emulates
/// for each runner pod, and the runner follows the total rate between the sample's bounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_request_rate_sample_scales_like_the_custom_metrics_example() {
    let (cp, client, ns, _guard, _op) = setup().await;
    let prometheus = Prometheus::start(cp).await.expect("prometheus");
    let mut doc = support::yaml(include_str!("../../../../config/samples/prismpattern_keda_prometheus_example.yaml"));
    let name = doc["metadata"]["name"].as_str().expect("name").to_owned();
    let auto = &mut doc["spec"]["autoscaling"];
    auto["pollingInterval"] = json!(2);
    auto["behavior"] = json!({"scaleDown": {"stabilizationWindowSeconds": 0}});
    let trigger = &mut auto["triggers"][0]["metadata"];
    trigger["serverAddress"] = json!(prometheus.url());
    let query =
        trigger["query"].as_str().expect("query").replace("namespace=\"default\"", &format!("namespace=\"{ns}\""));
    assert!(query.contains(&ns), "the sample's query names its namespace: {query}");
    trigger["query"] = json!(query);
    let load = Load::start(
        client.clone(),
        &ns,
        &format!("prism.io/pattern-instance={name}"),
        Usage::total(None, None).with_requests_per_second(0),
    );
    support::create(&client, &ns, &doc).await;

    // 5500 requests per second in all: ceil(5500 / 1000) = 6 replicas; none: the minimum, 3.
    // Before the drain, Prometheus has one series per runner pod (found through kwok's service
    // discovery on whichever nodes they run) adding up to the total.
    let selector = format!("http_requests_per_second{{namespace=\"{ns}\"}}");
    let all_scraped = async || {
        prism_testkit::wait_until("Prometheus scraping the 6 runner pods", support::WAIT, async || {
            let samples = prometheus.query(&format!("{selector} > 0")).await.map_err(|e| e.to_string())?;
            let pods: BTreeSet<&str> = samples.iter().filter_map(|s| s.labels.get("pod").map(String::as_str)).collect();
            let sum: f64 = samples.iter().map(|s| s.value).sum();
            let runners = pods.iter().all(|p| p.starts_with(&format!("{name}-")));
            if pods.len() == 6 && runners && sum >= 5500.0 { Ok(()) } else { Err(format!("{pods:?}, sum {sum}")) }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    };
    scales_with_backlog(
        &client,
        &ns,
        &name,
        "prometheus",
        (3, 6),
        async || load.set(Usage::total(None, None).with_requests_per_second(5500)),
        async || {
            all_scraped().await;
            load.set(Usage::total(None, None).with_requests_per_second(0));
        },
    )
    .await;
}
