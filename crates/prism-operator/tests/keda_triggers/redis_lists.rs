//! Redis lists (KEDA's redis trigger): the password in a TriggerAuthentication (missing, then
//! created), and the address and password from a PrismBackend.

use k8s_openapi::api::events::v1::Event;
use kube::{Api, api::DynamicObject};
use prism_testkit::TestServer;
use serde_json::json;

use super::*;

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
