//! Tests of validation and admin endpoint resolution; the fixtures serve `build`'s tests too.

use prism_api::v1alpha1::RateLimitSpec;
use serde_json::json;

use super::*;
use crate::naming::connection;

pub(crate) fn tenant(extra: serde_json::Value) -> PrismNamespace {
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

/// The minimal PrismNamespace: no patterns, auth, quotas, tags or display name.
pub(crate) fn minimal() -> PrismNamespace {
    serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismNamespace",
        "metadata": {"name": "t", "namespace": "ns"},
        "spec": {"namespaceId": "t", "proxyRef": {"name": "s"}}
    }))
    .expect("ns")
}

fn stack(port: Option<i32>, service_port: Option<i32>) -> PrismStack {
    serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1", "kind": "PrismStack",
        "metadata": {"name": "prism-dev", "namespace": "prism-system"},
        "spec": {"admin": {"enabled": true, "port": port, "service": {"port": service_port}}}
    }))
    .expect("stack")
}

/// The rendered connection of PrismBackend `cache`.
pub(crate) fn cache() -> BackendConnection {
    BackendConnection {
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
    }
}

pub(crate) fn inputs() -> Inputs {
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
        backends: BTreeMap::from([("cache".into(), Some(cache()))]),
    }
}

#[test]
fn every_spec_field_is_validated_into_the_model() {
    let v = validate(&tenant(json!({})), "prism-system", &inputs()).expect("valid");
    let expected = ValidatedNamespace {
        namespace_id: "acme-prod".into(),
        requesting_proxy: "prism-dev-proxy".into(),
        principal: "prism-system/tenant-acme-prod".into(),
        patterns: BTreeMap::from([
            (
                "keyvalue-redis".into(),
                Pattern { pattern_type: "keyvalue".into(), settings: BTreeMap::from([("ttl".into(), "1h".into())]) },
            ),
            ("pubsub-nats".into(), Pattern { pattern_type: "pubsub".into(), settings: BTreeMap::new() }),
        ]),
        backends: BTreeMap::from([
            ("cache".into(), Backend::Rendered(cache())),
            ("memstore".into(), Backend::TypeOnly("memstore".into())),
        ]),
        auth: Some(AuthSpec {
            oidc_issuer: Some("https://auth.acme.com".into()),
            oidc_client_id: Some("prism-acme-prod".into()),
            service_accounts: Some(vec!["a@x".into(), "b@x".into()]),
        }),
        metadata: Metadata {
            quotas: Some(QuotasSpec {
                max_keys: Some(100000),
                max_connections: Some(1000),
                rate_limit: Some(RateLimitSpec { requests_per_second: Some(1000), burst_size: Some(2000) }),
            }),
            tags: BTreeMap::from([("tenant".into(), "acme".into()), ("environment".into(), "production".into())]),
            display_name: Some("ACME Corp - Production".into()),
        },
    };
    assert_eq!(v, expected);
}

#[test]
fn the_model_prints_no_secret() {
    let v = validate(&tenant(json!({})), "prism-system", &inputs()).expect("valid");
    let printed = format!("{v:?}");
    assert!(printed.contains("<redacted>"), "{printed}");
    for secret in ["redis://redis.svc:6379", "\"app\"", "\"pw\""] {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}

#[test]
fn missing_references_are_reported() {
    let obj = tenant(json!({}));
    let mut i = inputs();
    i.patterns[1].1 = None;
    let err = validate(&obj, "prism-system", &i).expect_err("missing");
    assert_eq!(err.reason, "PatternNotFound");
    assert!(err.message.contains("pubsub-nats"));
    assert_eq!(
        err.message,
        "spec.patterns names PrismPattern \"pubsub-nats\", which does not exist in namespace \"prism-system\""
    );
    let mut i = inputs();
    i.backends.insert("cache".into(), None);
    let err = validate(&obj, "prism-system", &i).expect_err("not rendered");
    assert_eq!(err.reason, "BackendNotRendered");
    assert_eq!(
        err.message,
        format!(
            "PrismPattern \"keyvalue-redis\" uses PrismBackend \"cache\", whose connection (ConfigMap {:?}, Secret {:?}) is not rendered yet",
            naming::backend_config_map("cache"),
            naming::backend_secret("cache")
        )
    );
    let mut i = inputs();
    i.backends.clear();
    assert_eq!(validate(&obj, "prism-system", &i).expect_err("never read").reason, "BackendNotRendered");
}

#[test]
fn a_rendered_backend_wins_over_a_type_of_the_same_name() {
    let mut i = inputs();
    // A pattern using `spec.backend: cache` without backendConfig, before and after the
    // pattern whose backendConfig is the PrismBackend `cache`.
    let plain = PatternSummary {
        pattern_type: "queue".into(),
        backend: "cache".into(),
        backend_config: None,
        settings: BTreeMap::new(),
    };
    i.patterns.insert(0, ("queue-first".into(), Some(plain.clone())));
    i.patterns.push(("queue-last".into(), Some(plain)));
    let v = validate(&tenant(json!({})), "prism-system", &i).expect("valid");
    assert_eq!(v.backends["cache"], Backend::Rendered(cache()));
    assert_eq!(v.patterns.len(), 4);
}

#[test]
fn minimal_spec_validates_to_an_empty_model() {
    let v = validate(&minimal(), "ns", &Inputs::default()).expect("valid");
    assert!(v.patterns.is_empty() && v.backends.is_empty());
    assert_eq!(v.auth, None);
    assert_eq!(v.metadata, Metadata::default());
    assert_eq!(v.principal, "ns/t");
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
    let err = admin_endpoint(&obj, None, None).expect_err("none");
    assert_eq!(err.reason, "StackNotFound");
    assert_eq!(
        err.message,
        "spec.proxyRef.name \"prism-dev-proxy\" names no PrismStack (tried prism-dev-proxy, prism-dev); set the annotation prism.io/admin-endpoint or the operator's --admin-endpoint to reach an admin elsewhere"
    );
}
