//! Health follows real servers: Ready while up, Unhealthy (with the reason) within one interval
//! of an outage, Ready again on return; wrong credentials are authentication failures.

use std::time::Instant;

use prism_testkit::TestServer;

use super::*;

/// Ready -> stop the server -> Unhealthy within one interval -> start it -> Ready.
async fn outage_and_recovery(client: &Client, ns: &str, name: &str, server: &mut TestServer, healthy_says: &str) {
    let b = phase(client, ns, name, BackendPhase::Ready).await;
    let status = b.status.clone().unwrap_or_default();
    assert_eq!(status.healthy, Some(true));
    assert!(message(&b).contains(healthy_says), "{}", message(&b));
    assert!(status.last_checked.is_some() && status.config_hash.is_some());
    assert_eq!(ready_reason(&b), "HealthCheckPassed");

    server.stop().await;
    let stopped = Instant::now();
    let b = phase(client, ns, name, BackendPhase::Unhealthy).await;
    let took = stopped.elapsed();
    eprintln!("{name}: Unhealthy {took:?} after the server stopped (interval {INTERVAL:?})");
    // The next check comes within one interval (a check in flight at the stop may take up to the
    // timeout), plus the status write.
    assert!(took <= INTERVAL + TIMEOUT + Duration::from_secs(1), "took {took:?}");
    assert_eq!(b.status.as_ref().and_then(|s| s.healthy), Some(false));
    assert_eq!(ready_reason(&b), "ConnectionFailed");
    assert!(message(&b).contains(&format!("127.0.0.1:{}", server.port())), "{}", message(&b));
    warning(client, ns, name, "ConnectionFailed").await;

    server.start().await.expect("restart");
    let restarted = Instant::now();
    phase(client, ns, name, BackendPhase::Ready).await;
    eprintln!("{name}: Ready {:?} after the server came back", restarted.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_health_follows_the_server() {
    let (client, ns, _guard, _op) = setup().await;
    let mut server = TestServer::redis(Some("s3cret")).await.expect("redis-server");
    let url = format!("redis://127.0.0.1:{}", server.port());
    put_secret(&client, &ns, "redis-creds", &[("url", &url), ("password", "s3cret")]).await;
    create_backend(&client, &ns, "cache", "redis", json!({"connection": {"secretRef": {"name": "redis-creds"}}})).await;
    outage_and_recovery(&client, &ns, "cache", &mut server, "PONG").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_health_follows_the_server() {
    let (client, ns, _guard, _op) = setup().await;
    let mut server = TestServer::nats(Some(("app", "s3cret"))).await.expect("nats-server");
    let url = format!("nats://127.0.0.1:{}", server.port());
    put_secret(&client, &ns, "nats-creds", &[("nats-url", &url), ("nats-user", "app"), ("nats-pass", "s3cret")]).await;
    let keys = json!({"url": "nats-url", "username": "nats-user", "password": "nats-pass"});
    create_backend(
        &client,
        &ns,
        "events",
        "nats",
        json!({"type": "messaging", "connection": {"secretRef": {"name": "nats-creds", "keys": keys}}}),
    )
    .await;
    outage_and_recovery(&client, &ns, "events", &mut server, "PONG").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_health_follows_the_server() {
    let (client, ns, _guard, _op) = setup().await;
    let mut server = TestServer::postgres("app", "s3cret").await.expect("postgres");
    let url = format!("postgres://127.0.0.1:{}/postgres", server.port());
    put_secret(&client, &ns, "pg-creds", &[("url", &url), ("username", "app"), ("password", "s3cret")]).await;
    create_backend(
        &client,
        &ns,
        "orders-db",
        "postgres",
        json!({"type": "database", "connection": {"secretRef": {"name": "pg-creds"}}}),
    )
    .await;
    outage_and_recovery(&client, &ns, "orders-db", &mut server, "SELECT 1").await;
}

/// A wrong password makes the backend Unhealthy with an authentication reason, never showing it.
async fn wrong_password(client: &Client, ns: &str, name: &str, provider: &str, url: &str) {
    put_secret(client, ns, name, &[("url", url), ("username", "app"), ("password", "not-the-password")]).await;
    create_backend(client, ns, name, provider, json!({"connection": {"secretRef": {"name": name}}})).await;
    let b = phase(client, ns, name, BackendPhase::Unhealthy).await;
    assert_eq!(ready_reason(&b), "AuthenticationFailed", "{provider}: {}", message(&b));
    assert!(message(&b).contains("authentication"), "{provider}: {}", message(&b));
    let note = warning(client, ns, name, "AuthenticationFailed").await;
    let status = serde_json::to_string(&b.status).expect("json");
    for shown in [status, note] {
        assert!(!shown.contains("not-the-password"), "{provider} leaked the password: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_authentication_failures() {
    let (client, ns, _guard, _op) = setup().await;
    let redis = TestServer::redis(Some("s3cret")).await.expect("redis-server");
    let nats = TestServer::nats(Some(("app", "s3cret"))).await.expect("nats-server");
    let pg = TestServer::postgres("app", "s3cret").await.expect("postgres");
    let urls = [
        format!("redis://127.0.0.1:{}", redis.port()),
        format!("nats://127.0.0.1:{}", nats.port()),
        format!("postgres://127.0.0.1:{}/postgres", pg.port()),
    ];
    tokio::join!(
        wrong_password(&client, &ns, "redis-auth", "redis", &urls[0]),
        wrong_password(&client, &ns, "nats-auth", "nats", &urls[1]),
        wrong_password(&client, &ns, "pg-auth", "postgres", &urls[2]),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_trusts_the_ca_of_the_tls_secret() {
    let (client, ns, _guard, _op) = setup().await;
    let (server, ca) = TestServer::redis_tls(Some("s3cret")).await.expect("redis-server with TLS");
    let url = format!("redis://127.0.0.1:{}", server.port());
    put_secret(&client, &ns, "creds", &[("url", &url), ("password", "s3cret")]).await;
    put_secret(&client, &ns, "redis-ca", &[("ca.crt", &ca)]).await;
    let connection = json!({"secretRef": {"name": "creds"}});
    create_backend(
        &client,
        &ns,
        "secure",
        "redis",
        json!({"connection": connection, "tls": {"enabled": true, "secretRef": {"name": "redis-ca"}}}),
    )
    .await;
    // Without the CA the server's certificate is not trusted (system roots only).
    create_backend(&client, &ns, "untrusted", "redis", json!({"connection": connection, "tls": {"enabled": true}}))
        .await;
    let b = phase(&client, &ns, "secure", BackendPhase::Ready).await;
    assert!(message(&b).contains("PONG"), "{}", message(&b));
    let cm: k8s_openapi::api::core::v1::ConfigMap =
        Api::namespaced(client.clone(), &ns).get("secure-prism-connection").await.expect("ConfigMap");
    let data = cm.data.unwrap_or_default();
    assert_eq!(data.get("PRISM_BACKEND_TLS").map(String::as_str), Some("true"));
    assert_eq!(data.get("PRISM_BACKEND_TLS_SECRET").map(String::as_str), Some("redis-ca"));
    let b = phase(&client, &ns, "untrusted", BackendPhase::Unhealthy).await;
    assert_eq!(ready_reason(&b), "TLSError", "{}", message(&b));
}
