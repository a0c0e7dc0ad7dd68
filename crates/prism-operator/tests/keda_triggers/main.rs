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

mod support;

use std::collections::BTreeSet;

use k8s_openapi::api::{core::v1::Secret, events::v1::Event};
use kube::{Api, Client, api::DynamicObject};
use prism_testkit::{JetStream, Kafka, Load, Offsets, Prometheus, RabbitMq, SQS_REGION, Sqs, TestServer, Usage};
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

async fn redis_connection(port: u16, password: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://:{password}@127.0.0.1:{port}/")).expect("redis URL");
    client.get_multiplexed_async_connection().await.expect("connect to redis-server")
}

async fn redis_push(conn: &mut redis::aio::MultiplexedConnection, list: &str, n: usize) {
    let items: Vec<String> = (0..n).map(|i| format!("job-{i}")).collect();
    let _: i64 = redis::cmd("RPUSH").arg(list).arg(items).query_async(conn).await.expect("RPUSH");
}

async fn redis_del(conn: &mut redis::aio::MultiplexedConnection, list: &str) {
    let _: i64 = redis::cmd("DEL").arg(list).query_async(conn).await.expect("DEL");
}

/// A redis trigger whose password is in a TriggerAuthentication: while it is missing, the pattern
/// says which one (and runs its fixed replicas, no ScaledObject); once it exists, KEDA scales.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_password_from_a_trigger_authentication_and_a_missing_one_named() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let password = "s3cret-redis";
    let server = TestServer::redis(Some(password)).await.expect("redis-server");
    let name = "redis-jobs";
    let triggers = json!([{"type": "redis",
        "metadata": {"address": format!("127.0.0.1:{}", server.port()), "listName": "jobs", "listLength": "5"},
        "authenticationRef": {"name": "redis-auth"}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;

    let p = autoscaling_reason(&client, &ns, name, "TriggerAuthenticationNotFound").await;
    let (status, _, message) = condition(&p, "AutoscalingReady");
    assert_eq!(status, "False");
    assert!(message.contains(r#"TriggerAuthentication "redis-auth""#), "{message}");
    assert!(message.contains("spec.autoscaling.triggers[0] (redis)"), "{message}");
    assert!(
        support::scaled_object_api(&client, &ns).get_opt(name).await.expect("get").is_none(),
        "no ScaledObject KEDA could only fail on"
    );
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    support::eventually("a Warning Event naming the TriggerAuthentication", async || {
        let list = events.list(&Default::default()).await.map_err(|e| e.to_string())?;
        list.items
            .iter()
            .find(|e| e.reason.as_deref() == Some("TriggerAuthenticationNotFound"))
            .filter(|e| {
                e.type_.as_deref() == Some("Warning") && e.note.as_deref().is_some_and(|n| n.contains("redis-auth"))
            })
            .map(drop)
            .ok_or_else(|| format!("{:?}", list.items.iter().map(|e| &e.reason).collect::<Vec<_>>()))
    })
    .await;

    create_secret(&client, &ns, "redis-auth-secret", &[("password", password)]).await;
    create_trigger_authentication(&client, &ns, "redis-auth", "redis-auth-secret", &[("password", "password")]).await;
    let mut conn = redis_connection(server.port(), password).await;
    let (mut c1, mut c2) = (conn.clone(), conn.clone());
    scales_with_backlog(
        &client,
        &ns,
        name,
        "redis (password from a TriggerAuthentication)",
        (1, 3),
        async || redis_push(&mut c1, "jobs", 12).await, // ceil(12 / 5) = 3
        async || redis_del(&mut c2, "jobs").await,
    )
    .await;
    // The backlog above maxReplicas: 60 items ask for 12, KEDA stops at 4.
    redis_push(&mut conn, "jobs", 60).await;
    replicas_become(&client, &ns, name, 4).await;
    redis_del(&mut conn, "jobs").await;
    replicas_become(&client, &ns, name, 1).await;
}

/// A redis trigger that takes its address and password from the PrismBackend the runner uses:
/// the TriggerAuthentication the backend renders, nothing written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connection_from_a_prism_backend() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let password = "backend-redis-pw";
    let server = TestServer::redis(Some(password)).await.expect("redis-server");
    create_secret(&client, &ns, "cache-credentials", &[("password", password)]).await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "cache"},
            "spec": {"type": "cache", "provider": "redis",
                "connection": {"url": format!("redis://127.0.0.1:{}", server.port()), "secretRef": {"name": "cache-credentials"}}}}),
    )
    .await;
    let name = "redis-backend-jobs";
    let mut doc = consumer(
        name,
        1,
        4,
        json!([{"type": "redis", "backendRef": {"name": "cache"}, "metadata": {"listName": "jobs", "listLength": "5"}}]),
    );
    doc["spec"]["backendConfig"] = json!({"name": "cache"});
    support::create(&client, &ns, &doc).await;

    // The rendered TriggerAuthentication points at the backend's rendered objects.
    let tas = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("keda.sh", "v1alpha1", "TriggerAuthentication"),
            "triggerauthentications",
        ),
    );
    let ta = support::eventually("the backend's TriggerAuthentication", async || {
        tas.get_opt("cache-prism-keda").await.map_err(|e| e.to_string())?.ok_or_else(|| "not yet".to_owned())
    })
    .await;
    let params: Vec<&str> = ["configMapTargetRef", "secretTargetRef"]
        .iter()
        .flat_map(|f| ta.data["spec"][f].as_array().into_iter().flatten())
        .filter_map(|r| r["parameter"].as_str())
        .collect();
    assert_eq!(params, ["host", "port", "password"]);
    let so = support::eventually("the ScaledObject", async || {
        support::scaled_object_api(&client, &ns)
            .get_opt(name)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("not yet".to_owned())
    })
    .await;
    assert_eq!(so.data["spec"]["triggers"][0]["authenticationRef"], json!({"name": "cache-prism-keda"}));
    assert!(so.data["spec"]["triggers"][0].get("backendRef").is_none());

    let conn = redis_connection(server.port(), password).await;
    let (mut c1, mut c2) = (conn.clone(), conn);
    scales_with_backlog(
        &client,
        &ns,
        name,
        "redis (from a PrismBackend)",
        (1, 3),
        async || redis_push(&mut c1, "jobs", 15).await, // ceil(15 / 5) = 3
        async || redis_del(&mut c2, "jobs").await,
    )
    .await;
}

/// A postgresql trigger counting unprocessed rows, connection and credentials from a PrismBackend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_query_from_a_prism_backend() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let (user, password) = ("prism", "pg-backend-pw");
    let server = TestServer::postgres(user, password).await.expect("postgres");
    let port = server.port();
    create_secret(
        &client,
        &ns,
        "orders-db-connection",
        &[("url", &format!("postgres://127.0.0.1:{port}/postgres")), ("username", user), ("password", password)],
    )
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "orders-db"},
            "spec": {"type": "database", "provider": "postgres", "connection": {"secretRef": {"name": "orders-db-connection"}}}}),
    )
    .await;
    let (db, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user={user} password={password} dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .expect("connect to postgres");
    tokio::spawn(connection);
    db.batch_execute("CREATE TABLE jobs (id serial PRIMARY KEY, done boolean NOT NULL DEFAULT false)")
        .await
        .expect("create table");

    let name = "orders-worker";
    let triggers = json!([{"type": "postgresql", "backendRef": {"name": "orders-db"},
        "metadata": {"query": "SELECT COUNT(*) FROM jobs WHERE NOT done", "targetQueryValue": "5"}}]);
    support::create(&client, &ns, &consumer(name, 1, 5, triggers)).await;
    let db = &db;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "postgresql (from a PrismBackend)",
        (1, 4),
        async || {
            // 18 unprocessed rows: ceil(18 / 5) = 4
            db.batch_execute("INSERT INTO jobs (done) SELECT false FROM generate_series(1, 18)").await.expect("insert");
        },
        async || db.batch_execute("UPDATE jobs SET done = true").await.expect("process"),
    )
    .await;
    let so = support::scaled_object_api(&client, &ns).get(name).await.expect("ScaledObject");
    assert_eq!(so.data["spec"]["triggers"][0]["metadata"]["sslmode"], "disable", "set for a backend without TLS");
}

/// A rabbitmq trigger on queue length (the management plugin's queue statistics), the AMQP URL
/// and credentials from a PrismBackend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_queue_length_from_a_prism_backend() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let rabbit = RabbitMq::start().await.expect("rabbitmq-server");
    rabbit.declare_queue("jobs").await.expect("declare queue");
    create_secret(
        &client,
        &ns,
        "broker-connection",
        &[
            ("url", &rabbit.amqp_url()),
            ("username", prism_testkit::RABBITMQ_USER),
            ("password", prism_testkit::RABBITMQ_PASSWORD),
        ],
    )
    .await;
    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend", "metadata": {"name": "broker"},
            "spec": {"type": "queue", "provider": "rabbitmq", "connection": {"secretRef": {"name": "broker-connection"}}}}),
    )
    .await;
    let name = "rabbit-worker";
    let triggers = json!([{"type": "rabbitmq", "backendRef": {"name": "broker"},
        "metadata": {"queueName": "jobs", "mode": "QueueLength", "value": "5"}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;
    let rabbit = &rabbit;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "rabbitmq (from a PrismBackend)",
        (1, 3),
        async || rabbit.publish("jobs", 11).await.expect("publish"), // ceil(11 / 5) = 3
        async || rabbit.purge("jobs").await.expect("purge"),
    )
    .await;
}

/// A nats-jetstream trigger on a durable consumer's pending messages, read from the server's
/// monitoring endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_pending_messages() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let server = TestServer::nats_jetstream().await.expect("nats-server");
    let js = JetStream::connect(server.port()).await.expect("connect");
    js.create_stream("JOBS", "jobs.>").await.expect("stream");
    js.create_consumer("JOBS", "workers").await.expect("consumer");
    let monitoring = server.named_port("monitoring").expect("monitoring port");
    let name = "nats-worker";
    let triggers = json!([{"type": "nats-jetstream", "metadata": {
        "natsServerMonitoringEndpoint": format!("127.0.0.1:{monitoring}"), "account": "$G",
        "stream": "JOBS", "consumer": "workers", "lagThreshold": "5"}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;
    let js = &js;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "nats-jetstream",
        (1, 3),
        async || js.publish("jobs.new", 13).await.expect("publish"), // ceil(13 / 5) = 3
        async || js.purge("JOBS").await.expect("purge"),
    )
    .await;
}

/// A kafka trigger on a consumer group's lag, on a single-node KRaft Kafka.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_consumer_group_lag() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let kafka = Kafka::start().await.expect("kafka");
    kafka.create_topic("orders", 4).await.expect("topic");
    kafka.reset_offsets("prism-orders", "orders", Offsets::Latest).await.expect("group");
    let name = "kafka-worker";
    let triggers = json!([{"type": "kafka", "metadata": {
        "bootstrapServers": kafka.bootstrap(), "consumerGroup": "prism-orders", "topic": "orders",
        "lagThreshold": "5"}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;
    let kafka = &kafka;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "kafka",
        (1, 3),
        async || kafka.produce("orders", 12).await.expect("produce"), // lag 12: ceil(12 / 5) = 3
        async || kafka.reset_offsets("prism-orders", "orders", Offsets::Latest).await.expect("commit"),
    )
    .await;
}

/// An aws-sqs-queue trigger on moto's SQS, with KEDA's `awsEndpoint`, and the access key in a
/// ClusterTriggerAuthentication (its Secret in KEDA's namespace): refused while it is missing,
/// used once it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqs_queue_depth_with_a_cluster_trigger_authentication() {
    let (_cp, client, ns, _guard, _op) = setup().await;
    let sqs = Sqs::start().await.expect("moto");
    let queue = sqs.create_queue("orders").await.expect("queue");
    let name = "sqs-worker";
    // Cluster-wide objects outlive the test namespace: named after it, deleted at the end.
    let cta_name = format!("aws-{ns}");
    let triggers = json!([{"type": "aws-sqs-queue",
        "authenticationRef": {"name": cta_name, "kind": "ClusterTriggerAuthentication"},
        "metadata": {"queueURL": queue, "queueLength": "5", "awsRegion": SQS_REGION, "awsEndpoint": sqs.endpoint()}}]);
    support::create(&client, &ns, &consumer(name, 1, 4, triggers)).await;
    let p = autoscaling_reason(&client, &ns, name, "TriggerAuthenticationNotFound").await;
    let message = condition(&p, "AutoscalingReady").2;
    assert!(message.contains(&format!("ClusterTriggerAuthentication {cta_name:?}")), "{message}");

    create_secret(
        &client,
        prism_testkit::KEDA_NAMESPACE,
        &cta_name,
        &[("AWS_ACCESS_KEY_ID", "AKIDPRISMTEST"), ("AWS_SECRET_ACCESS_KEY", "prism-test-secret")],
    )
    .await;
    let ctas = Api::<DynamicObject>::all_with(
        client.clone(),
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("keda.sh", "v1alpha1", "ClusterTriggerAuthentication"),
            "clustertriggerauthentications",
        ),
    );
    let cta: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "keda.sh/v1alpha1", "kind": "ClusterTriggerAuthentication", "metadata": {"name": cta_name},
        "spec": {"secretTargetRef": [
            {"parameter": "awsAccessKeyID", "name": cta_name, "key": "AWS_ACCESS_KEY_ID"},
            {"parameter": "awsSecretAccessKey", "name": cta_name, "key": "AWS_SECRET_ACCESS_KEY"}]}}))
    .expect("object");
    ctas.create(&Default::default(), &cta).await.expect("create ClusterTriggerAuthentication");
    let sqs = &sqs;
    let queue = &queue;
    scales_with_backlog(
        &client,
        &ns,
        name,
        "aws-sqs-queue (ClusterTriggerAuthentication)",
        (1, 3),
        async || sqs.send(queue, 14).await.expect("send"), // ceil(14 / 5) = 3
        async || sqs.purge(queue).await.expect("purge"),
    )
    .await;
    ctas.delete(&cta_name, &Default::default()).await.expect("delete ClusterTriggerAuthentication");
    Api::<Secret>::namespaced(client.clone(), prism_testkit::KEDA_NAMESPACE)
        .delete(&cta_name, &Default::default())
        .await
        .expect("delete the Secret");
}

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

    let mut doc = support::yaml(include_str!("../../../config/samples/prismpattern_keda_multi_trigger_example.yaml"));
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
    let mut doc = support::yaml(include_str!("../../../config/samples/prismpattern_keda_prometheus_example.yaml"));
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
