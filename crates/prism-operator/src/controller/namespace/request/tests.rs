//! Tests of the request mapping and admin endpoint resolution.

use serde_json::json;

use super::*;

fn tenant(extra: serde_json::Value) -> PrismNamespace {
    let mut doc = json!({
        "apiVersion": "prism.io/v1alpha1",
        "kind": "PrismNamespace",
        "metadata": {"name": "tenant-acme-prod", "namespace": "prism-system"},
        "spec": {
            "namespaceId": "acme-prod",
            "displayName": "ACME Corp - Production",
            "proxyRef": {"name": "prism-dev-proxy"},
            "quotas": {"maxKeys": 100000, "maxConnections": 1000,
                "rateLimit": {"requestsPerSecond": 1000, "burstSize": 2000}},
            "patterns": ["keyvalue-redis", "pubsub-nats"],
            "auth": {"oidcIssuer": "https://auth.acme.com", "oidcClientId": "prism-acme-prod",
                "serviceAccounts": ["a@x", "b@x"]},
            "tags": {"tenant": "acme", "environment": "production"},
            "ttl": "720h"
        }
    });
    if let (Some(d), Some(e)) = (doc.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(doc).expect("namespace")
}

fn stack(port: Option<i32>, service_port: Option<i32>) -> PrismStack {
    serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "prism-dev", "namespace": "prism-system"},
        "spec": {"admin": {"enabled": true, "port": port, "service": {"port": service_port}}}
    }))
    .expect("stack")
}

fn inputs() -> Inputs {
    Inputs {
        patterns: vec![
            (
                "keyvalue-redis".into(),
                Some(PatternSummary {
                    pattern_type: "keyvalue".into(),
                    backend: "redis".into(),
                    backend_config: Some("cache".into()),
                    settings: BTreeMap::from([("ttl".into(), "1h".into())]),
                }),
            ),
            (
                "pubsub-nats".into(),
                Some(PatternSummary {
                    pattern_type: "pubsub".into(),
                    backend: "memstore".into(),
                    backend_config: None,
                    settings: BTreeMap::new(),
                }),
            ),
        ],
        backends: BTreeMap::from([(
            "cache".into(),
            Some(BackendConnection {
                facts: BTreeMap::from([
                    (connection::KEY_PROVIDER.into(), "redis".into()),
                    (connection::KEY_TYPE.into(), "cache".into()),
                    (connection::KEY_HOST.into(), "redis.svc".into()),
                    (connection::KEY_PORT.into(), "6379".into()),
                    (connection::KEY_TLS.into(), "false".into()),
                ]),
                url: Some(Sensitive::new("redis://redis.svc:6379")),
                username: Some(Sensitive::new("app")),
                password: Some(Sensitive::new("pw")),
            }),
        )]),
    }
}

#[test]
fn every_spec_field_is_mapped() {
    let r = create_request(&tenant(json!({})), "prism-system", &inputs()).expect("request");
    assert_eq!(r.namespace, "acme-prod");
    assert_eq!(r.principal, "prism-system/tenant-acme-prod");
    assert_eq!(r.requesting_proxy, "prism-dev-proxy");
    let c = r.config.expect("config");
    let kv = &c.patterns["keyvalue-redis"];
    assert_eq!(kv.pattern_name, "keyvalue");
    assert_eq!(kv.settings["ttl"], "1h");
    assert_eq!(c.patterns["pubsub-nats"].pattern_name, "pubsub");
    let cache = &c.backends["cache"];
    assert_eq!(cache.backend_type, "redis");
    assert_eq!(cache.connection_string, "redis://redis.svc:6379");
    assert_eq!(cache.credentials["username"], "app");
    assert_eq!(cache.credentials["password"], "pw");
    assert_eq!(cache.options["host"], "redis.svc");
    assert_eq!(cache.options["port"], "6379");
    assert_eq!(c.backends["memstore"].backend_type, "memstore");
    let auth = c.auth.expect("auth");
    assert!(auth.enabled);
    assert_eq!(auth.provider, "oidc");
    assert_eq!(auth.options["issuer"], "https://auth.acme.com");
    assert_eq!(auth.options["clientId"], "prism-acme-prod");
    assert_eq!(auth.options["serviceAccounts"], "a@x,b@x");
    let m = &c.metadata;
    assert_eq!(m["quota.maxKeys"], "100000");
    assert_eq!(m["quota.maxConnections"], "1000");
    assert_eq!(m["quota.rateLimit.requestsPerSecond"], "1000");
    assert_eq!(m["quota.rateLimit.burstSize"], "2000");
    assert_eq!(m["tag.tenant"], "acme");
    assert_eq!(m["tag.environment"], "production");
    assert_eq!(m["displayName"], "ACME Corp - Production");
    assert_eq!(m.len(), 7);
}

#[test]
fn missing_references_are_reported() {
    let obj = tenant(json!({}));
    let mut i = inputs();
    i.patterns[1].1 = None;
    let err = create_request(&obj, "prism-system", &i).expect_err("missing");
    assert_eq!(err.reason, "PatternNotFound");
    assert!(err.message.contains("pubsub-nats"));
    let mut i = inputs();
    i.backends.insert("cache".into(), None);
    assert_eq!(create_request(&obj, "prism-system", &i).expect_err("not rendered").reason, "BackendNotRendered");
}

#[test]
fn minimal_spec_maps_to_empty_config() {
    let obj: PrismNamespace = serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"namespaceId": "t", "proxyRef": {"name": "s"}}
    }))
    .expect("ns");
    let r = create_request(&obj, "ns", &Inputs::default()).expect("request");
    let c = r.config.expect("config");
    assert!(c.patterns.is_empty() && c.backends.is_empty() && c.metadata.is_empty());
    assert_eq!(c.auth, None);
    assert_eq!(quota_summary(&obj), None);
    assert_eq!(
        quota_summary(&tenant(json!({}))).as_deref(),
        Some("maxConnections=1000, maxKeys=100000, rateLimit.burstSize=2000, rateLimit.requestsPerSecond=1000")
    );
}

#[test]
fn admin_endpoint_precedence() {
    let obj = tenant(json!({}));
    assert_eq!(stack_candidates("prism-dev-proxy"), ["prism-dev-proxy", "prism-dev"]);
    assert_eq!(stack_candidates("prism-dev"), ["prism-dev"]);
    assert_eq!(stack_candidates("-proxy"), ["-proxy"]);
    let s = stack(None, None);
    assert_eq!(
        admin_endpoint(&obj, None, Some(("prism-system", &s))),
        Ok("http://prism-dev-admin.prism-system.svc:8981".to_owned())
    );
    let s = stack(Some(9000), None);
    assert!(admin_endpoint(&obj, None, Some(("ns", &s))).expect("ep").ends_with(":9000"));
    let s = stack(Some(9000), Some(7000));
    assert!(admin_endpoint(&obj, None, Some(("ns", &s))).expect("ep").ends_with(":7000"));
    assert_eq!(
        admin_endpoint(&obj, Some("http://127.0.0.1:5000/"), Some(("ns", &s))),
        Ok("http://127.0.0.1:5000".to_owned())
    );
    let annotated = tenant(json!({"metadata": {"name": "t", "namespace": "ns",
        "annotations": {ADMIN_ENDPOINT_ANNOTATION: "http://10.0.0.1:1"}}}));
    assert_eq!(admin_endpoint(&annotated, Some("http://127.0.0.1:5000"), None), Ok("http://10.0.0.1:1".to_owned()));
    assert_eq!(admin_endpoint(&obj, None, None).expect_err("none").reason, "StackNotFound");
}
