//! Provisioning: the request carries every spec field; restarts and repeated reconciles create
//! nothing twice; a spec change re-syncs; deletion revokes; admin errors become conditions and
//! Warning Events.

use kube::api::{Patch, PatchParams};
use prism_api::v1alpha1::{PrismBackend, PrismPattern};
use support::Operator;

use super::{admin_double::AdminDouble, *};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spec_field_reaches_the_admin_once() {
    let (cp, client, ns, _guard) = setup().await;
    let admin = AdminDouble::start().await;
    let op = Operator::start(cp, &ns).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "redis-creds"},
        "stringData": {"url": "redis://redis.example:6379", "username": "app", "password": "tenant-pw"}
    }))
    .expect("secret");
    secrets.create(&PostParams::default(), &secret).await.expect("secret");
    let backend: PrismBackend = serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismBackend",
        "metadata": {"name": "cache", "namespace": ns},
        "spec": {"type": "cache", "provider": "redis", "connection": {"secretRef": {"name": "redis-creds"}},
            "healthCheck": {"enabled": false}}
    }))
    .expect("backend");
    Api::<PrismBackend>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &backend)
        .await
        .expect("backend");
    for (name, pattern, backend, config) in
        [("keyvalue-redis", "keyvalue", "redis", Some("cache")), ("pubsub-nats", "pubsub", "memstore", None)]
    {
        let mut spec = json!({"pattern": pattern, "backend": backend, "config": {"ttl": "1h"}});
        if let Some(c) = config {
            spec["backendConfig"] = json!({"name": c});
        }
        let p: PrismPattern = serde_json::from_value(json!({
            "apiVersion": "prism.io/v1alpha1", "kind": "PrismPattern",
            "metadata": {"name": name, "namespace": ns}, "spec": spec
        }))
        .expect("pattern");
        Api::<PrismPattern>::namespaced(client.clone(), &ns).create(&PostParams::default(), &p).await.expect("pattern");
    }
    let spec = json!({
        "namespaceId": "acme-prod", "displayName": "ACME Corp - Production",
        "proxyRef": {"name": "prism-dev-proxy"},
        "quotas": {"maxKeys": 100000, "maxConnections": 1000, "rateLimit": {"requestsPerSecond": 1000, "burstSize": 2000}},
        "patterns": ["keyvalue-redis", "pubsub-nats"],
        "auth": {"oidcIssuer": "https://auth.acme.com", "oidcClientId": "prism-acme-prod",
            "serviceAccounts": ["acme-app-01@acme-prod.iam.gserviceaccount.com"]},
        "tags": {"tenant": "acme", "cost-center": "engineering"}
    });
    create_tenant(&client, &ns, "tenant-acme-prod", Some(&admin.endpoint()), spec).await;
    let o = phase(&client, &ns, "tenant-acme-prod", NamespacePhase::Active).await;

    let creates = admin.creates("acme-prod");
    assert_eq!(creates.len(), 1, "{creates:?}");
    let r = &creates[0];
    assert_eq!(
        (r.principal.as_str(), r.requesting_proxy.as_str()),
        (format!("{ns}/tenant-acme-prod").as_str(), "prism-dev-proxy")
    );
    let c = r.config.clone().expect("config");
    assert_eq!(c.patterns["keyvalue-redis"].pattern_name, "keyvalue");
    assert_eq!(c.patterns["keyvalue-redis"].settings["ttl"], "1h");
    assert_eq!(c.patterns["pubsub-nats"].pattern_name, "pubsub");
    let cache = &c.backends["cache"];
    assert_eq!(
        (cache.backend_type.as_str(), cache.connection_string.as_str()),
        ("redis", "redis://redis.example:6379")
    );
    assert_eq!(cache.credentials["username"], "app");
    assert_eq!(cache.credentials["password"], "tenant-pw");
    assert_eq!((cache.options["host"].as_str(), cache.options["port"].as_str()), ("redis.example", "6379"));
    assert_eq!(c.backends["memstore"].backend_type, "memstore");
    let auth = c.auth.expect("auth");
    assert!(auth.enabled && auth.provider == "oidc");
    assert_eq!(auth.options["issuer"], "https://auth.acme.com");
    assert_eq!(auth.options["clientId"], "prism-acme-prod");
    assert_eq!(auth.options["serviceAccounts"], "acme-app-01@acme-prod.iam.gserviceaccount.com");
    for (k, v) in [
        ("quota.maxKeys", "100000"),
        ("quota.maxConnections", "1000"),
        ("quota.rateLimit.requestsPerSecond", "1000"),
        ("quota.rateLimit.burstSize", "2000"),
        ("tag.tenant", "acme"),
        ("tag.cost-center", "engineering"),
        ("displayName", "ACME Corp - Production"),
    ] {
        assert_eq!(c.metadata.get(k).map(String::as_str), Some(v), "metadata {k}");
    }

    let s = o.status.clone().expect("status");
    assert!(s.provisioned_at.is_some() && s.last_synced_at.is_some());
    assert_eq!(
        (s.assigned_partition, s.assigned_proxy.as_deref()),
        (Some(admin_double::PARTITION), Some(admin_double::PROXY))
    );
    assert_eq!(s.proxy_status.as_deref(), Some("Ready"));
    assert_eq!(s.observed_generation, o.metadata.generation);
    assert_eq!(condition(&o, "Provisioned").0, "True");
    let (status, reason, _) = condition(&o, "QuotasEnforced");
    assert_eq!((status.as_str(), reason.as_str()), ("True", "QuotasApplied"));
    let shown = format!("{:?} {:?}", serde_json::to_string(&s), events(&client, &ns, "tenant-acme-prod").await);
    assert!(!shown.contains("tenant-pw"), "credentials leaked: {shown}");

    // Repeated reconciles (an annotation change) and a restart create nothing.
    let api: Api<PrismNamespace> = Api::namespaced(client.clone(), &ns);
    let poke = json!({"metadata": {"annotations": {"example.com/poke": "1"}}});
    api.patch("tenant-acme-prod", &PatchParams::default(), &Patch::Merge(&poke)).await.expect("poke");
    op.stop().await;
    let op = Operator::start(cp, &ns).await;
    create_tenant(
        &client,
        &ns,
        "marker",
        Some(&admin.endpoint()),
        json!({"namespaceId": "marker", "proxyRef": {"name": "x"}}),
    )
    .await;
    phase(&client, &ns, "marker", NamespacePhase::Active).await;
    assert_eq!(admin.creates("acme-prod").len(), 1, "CreateNamespace sent again after a restart");

    // A spec change re-syncs (the double answers ALREADY_EXISTS: success).
    let change = json!({"spec": {"displayName": "ACME Corp"}});
    api.patch("tenant-acme-prod", &PatchParams::default(), &Patch::Merge(&change)).await.expect("change");
    let o = eventually("re-synced", async || {
        let o = api.get("tenant-acme-prod").await.map_err(|e| e.to_string())?;
        let synced = o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation;
        if synced { Ok(o) } else { Err("not yet".into()) }
    })
    .await;
    let creates = admin.creates("acme-prod");
    assert_eq!(creates.len(), 2);
    assert_eq!(creates[1].config.as_ref().map(|c| c.metadata["displayName"].as_str()), Some("ACME Corp"));
    assert_eq!(o.status.and_then(|s| s.phase), Some(NamespacePhase::Active));

    // Deletion revokes on the admin, then lets the object go.
    delete(&client, &ns, "tenant-acme-prod").await;
    gone(&client, &ns, "tenant-acme-prod").await;
    let revokes = admin.revokes("acme-prod");
    assert_eq!(revokes.len(), 1);
    assert_eq!(revokes[0].proxy_id, admin_double::PROXY);
    event(&client, &ns, "tenant-acme-prod", "Normal", "Revoked").await;
    delete(&client, &ns, "marker").await;
    gone(&client, &ns, "marker").await;
    drop(op);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_errors_surface_as_conditions_and_events() {
    let (cp, client, ns, _guard) = setup().await;
    let admin = AdminDouble::start().await;
    let _op = Operator::start(cp, &ns).await;
    admin.fail_creates(Some((tonic::Code::ResourceExhausted, "tenant quota exceeded")));
    let spec = json!({"namespaceId": "refused", "proxyRef": {"name": "s"}});
    create_tenant(&client, &ns, "refused", Some(&admin.endpoint()), spec).await;
    let o = phase(&client, &ns, "refused", NamespacePhase::Failed).await;
    let (status, reason, message) = condition(&o, "Provisioned");
    assert_eq!((status.as_str(), reason.as_str()), ("False", "AdminRejected"));
    assert!(message.contains("tenant quota exceeded"), "{message}");
    assert_eq!(o.status.and_then(|s| s.proxy_status).as_deref(), Some("Error"));
    let note = event(&client, &ns, "refused", "Warning", "AdminRejected").await;
    assert!(note.contains("tenant quota exceeded"), "{note}");
    // The admin recovers: the backoff retry provisions.
    admin.fail_creates(None);
    phase(&client, &ns, "refused", NamespacePhase::Active).await;

    let spec = json!({"namespaceId": "unreachable", "proxyRef": {"name": "s"}});
    create_tenant(&client, &ns, "unreachable", Some("http://127.0.0.1:1"), spec).await;
    let o = phase(&client, &ns, "unreachable", NamespacePhase::Failed).await;
    assert_eq!(condition(&o, "Provisioned").1, "AdminUnreachable");
    assert_eq!(o.status.and_then(|s| s.proxy_status).as_deref(), Some("Unreachable"));
    event(&client, &ns, "unreachable", "Warning", "AdminUnreachable").await;

    // No endpoint and no PrismStack behind proxyRef: Pending, with a Warning naming the fix.
    create_tenant(
        &client,
        &ns,
        "no-stack",
        None,
        json!({"namespaceId": "no-stack", "proxyRef": {"name": "ghost-proxy"}}),
    )
    .await;
    let o = phase(&client, &ns, "no-stack", NamespacePhase::Pending).await;
    assert_eq!(condition(&o, "Provisioned").1, "StackNotFound");
    let note = event(&client, &ns, "no-stack", "Warning", "StackNotFound").await;
    assert!(note.contains("ghost-proxy") && note.contains("prism.io/admin-endpoint"), "{note}");

    for name in ["refused", "unreachable", "no-stack"] {
        delete(&client, &ns, name).await;
    }
    for name in ["refused", "unreachable", "no-stack"] {
        gone(&client, &ns, name).await;
    }
}
