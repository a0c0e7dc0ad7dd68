//! The rendered connection: ConfigMap and Secret under the documented names and keys, owned by
//! the PrismBackend, no writes once converged, Secret rotation re-rendering and rolling the
//! pattern runners; and invalid input reported as Invalid with a Warning Event, without a hot loop.

use k8s_openapi::api::{apps::v1::Deployment, core::v1::ConfigMap};
use kube::ResourceExt;
use prism_testkit::TestServer;

use super::*;

async fn pod_hash(client: &Client, ns: &str, name: &str) -> Option<String> {
    let d: Deployment = Api::namespaced(client.clone(), ns).get_opt(name).await.ok()??;
    d.spec?.template.metadata?.annotations?.get("prism.io/backend-config-hash").cloned()
}

fn config_hash(b: &PrismBackend) -> String {
    b.status.as_ref().and_then(|s| s.config_hash.clone()).expect("configHash")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_connection_and_secret_rotation_roll_the_pattern() {
    let (client, ns, _guard, op) = setup().await;
    let server = TestServer::redis(Some("first-pw")).await.expect("redis-server");
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    put_secret(&client, &ns, "creds", &[("redis-url", &url), ("redis-password", "first-pw")]).await;
    let keys = json!({"url": "redis-url", "password": "redis-password"});
    create_backend(
        &client,
        &ns,
        "cache",
        "redis",
        json!({"connection": {"secretRef": {"name": "creds", "keys": keys}}}),
    )
    .await;
    let backend = phase(&client, &ns, "cache", BackendPhase::Ready).await;

    let cm: ConfigMap = Api::namespaced(client.clone(), &ns).get("cache-prism-connection").await.expect("ConfigMap");
    let data = cm.data.clone().unwrap_or_default();
    let get = |k: &str| data.get(k).map(String::as_str);
    assert_eq!(get("PRISM_BACKEND_TYPE"), Some("cache"));
    assert_eq!(get("PRISM_BACKEND_PROVIDER"), Some("redis"));
    assert_eq!(get("PRISM_BACKEND_HOST"), Some("127.0.0.1"));
    assert_eq!(get("PRISM_BACKEND_PORT"), Some(server.port().to_string().as_str()));
    assert_eq!(get("PRISM_BACKEND_TLS"), Some("false"));
    let secret = secret_data(&client, &ns, "cache-prism-credentials").await;
    assert_eq!(secret.get("PRISM_BACKEND_URL"), Some(&url));
    assert_eq!(secret.get("PRISM_BACKEND_PASSWORD").map(String::as_str), Some("first-pw"));
    let owner = &cm.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), Some(owner.uid.as_str()), owner.controller),
        ("PrismBackend", backend.uid().as_deref(), Some(true))
    );

    support::create(
        &client,
        &ns,
        &json!({"apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
            "metadata": {"name": "sessions", "namespace": ns},
            "spec": {"pattern": "keyvalue", "backend": "redis", "backendConfig": {"name": "cache"}}}),
    )
    .await;
    let first = config_hash(&backend);
    eventually("runner pods carry the backend's configHash", async || {
        let hash = pod_hash(&client, &ns, "sessions").await;
        if hash.as_deref() == Some(first.as_str()) { Ok(()) } else { Err(format!("{hash:?}")) }
    })
    .await;

    // Converged: three health checks later, nothing was written.
    let versions = async || {
        let cm: ConfigMap = Api::namespaced(client.clone(), &ns).get("cache-prism-connection").await.expect("cm");
        let s: Secret = Api::namespaced(client.clone(), &ns).get("cache-prism-credentials").await.expect("secret");
        (cm.resource_version(), s.resource_version())
    };
    let (before, writes) = (versions().await, status_writes(&op, "cache").await);
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(versions().await, before, "rendered children were rewritten");
    assert_eq!(status_writes(&op, "cache").await, writes, "a healthy backend wrote its status");

    // Rotate the password on the server and in the referenced Secret.
    let admin = redis::Client::open(format!("redis://:first-pw@127.0.0.1:{}", server.port())).expect("client");
    let mut con = admin.get_multiplexed_async_connection().await.expect("connect");
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("second-pw")
        .query_async::<()>(&mut con)
        .await
        .expect("rotate");
    put_secret(&client, &ns, "creds", &[("redis-url", &url), ("redis-password", "second-pw")]).await;
    let api: Api<PrismBackend> = Api::namespaced(client.clone(), &ns);
    let second = eventually("configHash changes", async || {
        let b = api.get("cache").await.map_err(|e| e.to_string())?;
        let h = config_hash(&b);
        if h != first { Ok(h) } else { Err("unchanged".into()) }
    })
    .await;
    let secret = secret_data(&client, &ns, "cache-prism-credentials").await;
    assert_eq!(secret.get("PRISM_BACKEND_PASSWORD").map(String::as_str), Some("second-pw"));
    eventually("runner pods roll to the new configHash", async || {
        let hash = pod_hash(&client, &ns, "sessions").await;
        if hash.as_deref() == Some(second.as_str()) { Ok(()) } else { Err(format!("{hash:?}")) }
    })
    .await;
    let b = phase(&client, &ns, "cache", BackendPhase::Ready).await;
    assert_eq!(b.status.and_then(|s| s.healthy), Some(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_is_reported_without_a_hot_loop() {
    let (client, ns, _guard, op) = setup().await;
    let memstore = json!({"type": "memory", "connection": {"secretRef": {"name": "late"}}});
    create_backend(&client, &ns, "missing-secret", "memstore", memstore).await;
    create_backend(
        &client,
        &ns,
        "unknown-host",
        "redis",
        json!({"connection": {"url": "redis://no-such-host.invalid:6379"}}),
    )
    .await;
    create_backend(&client, &ns, "bad-url", "redis", json!({"connection": {"url": "redis://127.0.0.1:notaport"}}))
        .await;
    put_secret(&client, &ns, "partial", &[("url", "redis://127.0.0.1:1")]).await;
    let keys = json!({"password": "pw"});
    create_backend(
        &client,
        &ns,
        "missing-key",
        "redis",
        json!({"connection": {"secretRef": {"name": "partial", "keys": keys}}}),
    )
    .await;
    for (name, reason) in [
        ("missing-secret", "SecretNotFound"),
        ("unknown-host", "UnknownHost"),
        ("bad-url", "InvalidURL"),
        ("missing-key", "SecretKeyMissing"),
    ] {
        let b = phase(&client, &ns, name, BackendPhase::Invalid).await;
        assert_eq!(ready_reason(&b), reason, "{name}: {}", message(&b));
        warning(&client, &ns, name, reason).await;
    }
    // Backing off: a few status writes at most while nothing changes.
    let writes = status_writes(&op, "missing-secret").await;
    tokio::time::sleep(INTERVAL * 3).await;
    assert_eq!(status_writes(&op, "missing-secret").await, writes, "Invalid status rewritten");

    // The Secret appears: the watch re-renders at once.
    put_secret(&client, &ns, "late", &[("password", "pw")]).await;
    let b = phase(&client, &ns, "missing-secret", BackendPhase::Ready).await;
    assert!(b.status.and_then(|s| s.config_hash).is_some());
    assert_eq!(
        secret_data(&client, &ns, "missing-secret-prism-credentials")
            .await
            .get("PRISM_BACKEND_PASSWORD")
            .map(String::as_str),
        Some("pw")
    );
}
