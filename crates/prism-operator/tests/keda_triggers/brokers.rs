//! Triggers on a backlog in a real broker: PostgreSQL and RabbitMQ (connection from a
//! PrismBackend), NATS JetStream and Kafka.

use prism_testkit::{JetStream, Kafka, Offsets, RabbitMq, TestServer};
use serde_json::json;

use super::*;

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
