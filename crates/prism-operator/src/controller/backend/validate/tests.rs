//! Tests of `validate`: defaults, Secret reading and every Invalid reason.

use serde_json::json;

use super::*;

fn backend(spec: serde_json::Value) -> PrismBackend {
    serde_json::from_value(json!({
        "apiVersion": "prism.io/v1alpha1",
        "kind": "PrismBackend",
        "metadata": {"name": "cache", "namespace": "ns", "uid": "u1"},
        "spec": spec,
    }))
    .expect("backend")
}

/// The owner reference of the PrismBackend `cache` in the tests.
pub(crate) fn owner() -> OwnerReference {
    OwnerReference {
        api_version: "prism.io/v1alpha1".into(),
        kind: "PrismBackend".into(),
        name: "cache".into(),
        uid: "u1".into(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

fn none() -> Resolved {
    Resolved { connection: SecretLookup::NotReferenced, tls: SecretLookup::NotReferenced }
}

fn secret(name: &str, pairs: &[(&str, &str)]) -> SecretLookup {
    SecretLookup::Found(name.into(), SecretValues::from_pairs(pairs.iter().copied()))
}

fn reason(b: &PrismBackend, r: &Resolved) -> &'static str {
    validate(b, "ns", owner(), r).expect_err("invalid").reason
}

#[test]
fn direct_url_with_defaults() {
    let b = backend(json!({"type": "cache", "provider": "redis",
        "connection": {"url": "redis://redis.ns.svc:6380"}}));
    let v = validate(&b, "ns", owner(), &none()).expect("valid");
    let ep = v.endpoint.expect("endpoint");
    assert_eq!(ep.address(), "redis.ns.svc:6380");
    assert_eq!(v.health, HealthCheck { enabled: true, interval: DEFAULT_INTERVAL, timeout: DEFAULT_TIMEOUT });
    assert_eq!(v.credentials.password, None);
    assert_eq!(v.tls, None);
}

#[test]
fn secret_values_win_and_renamed_keys_are_read() {
    let b = backend(json!({"type": "messaging", "provider": "nats",
        "connection": {"url": "nats://ignored:1", "secretRef": {"name": "creds",
            "keys": {"url": "nats-url", "username": "nats-user", "password": "nats-pass"}}},
        "healthCheck": {"interval": "30s", "timeout": "2s"}}));
    let r = Resolved {
        connection: secret("creds", &[("nats-url", "nats://n:4223"), ("nats-user", "app"), ("nats-pass", "pw")]),
        tls: SecretLookup::NotReferenced,
    };
    let v = validate(&b, "ns", owner(), &r).expect("valid");
    assert_eq!(v.endpoint.expect("endpoint").address(), "n:4223");
    assert_eq!(v.credentials.username.as_ref().map(Sensitive::expose), Some("app"));
    assert_eq!(v.credentials.password.as_ref().map(Sensitive::expose), Some("pw"));
    assert_eq!(v.health.interval, Duration::from_secs(30));
    assert_eq!(v.health.timeout, Duration::from_secs(2));
}

#[test]
fn url_credentials_fill_the_gaps() {
    let b = backend(json!({"type": "database", "provider": "postgres",
        "connection": {"secretRef": {"name": "pg"}}}));
    let r = Resolved {
        connection: secret("pg", &[("url", "postgres://app:fromurl@db/orders")]),
        tls: SecretLookup::NotReferenced,
    };
    let v = validate(&b, "ns", owner(), &r).expect("valid");
    assert_eq!(v.credentials.password.as_ref().map(Sensitive::expose), Some("fromurl"));
    assert_eq!(v.endpoint.and_then(|e| e.database).as_deref(), Some("orders"));
}

#[test]
fn every_unusable_reference_is_invalid() {
    let with_ref = backend(json!({"type": "cache", "provider": "redis",
        "connection": {"secretRef": {"name": "creds", "keys": {"password": "pw"}}}}));
    let r = |c| Resolved { connection: c, tls: SecretLookup::NotReferenced };
    assert_eq!(reason(&with_ref, &r(SecretLookup::Missing("creds".into()))), "SecretNotFound");
    assert_eq!(reason(&with_ref, &r(SecretLookup::OtherNamespace("other".into()))), "SecretNamespace");
    assert_eq!(reason(&with_ref, &r(secret("creds", &[("url", "redis://h")]))), "SecretKeyMissing");
    assert_eq!(
        reason(&with_ref, &r(secret("creds", &[("pw", "x")]))),
        "MissingURL",
        "no url key and no spec.connection.url"
    );
    let bad = validate(
        &with_ref,
        "ns",
        owner(),
        &r(secret("creds", &[("pw", "x"), ("url", "redis://u:topsecret@h:notaport")])),
    )
    .expect_err("bad url");
    assert_eq!(bad.reason, "InvalidURL");
    assert!(!bad.message.contains("topsecret"), "{}", bad.message);
    let mismatch = backend(json!({"type": "cache", "provider": "redis",
        "connection": {"url": "postgres://db"}}));
    assert_eq!(reason(&mismatch, &none()), "InvalidURL");
}

#[test]
fn memstore_needs_no_connection() {
    let b = backend(json!({"type": "memory", "provider": "memstore"}));
    let v = validate(&b, "ns", owner(), &none()).expect("valid");
    assert_eq!((v.endpoint, v.tls), (None, None));
}

#[test]
fn tls_needs_a_usable_secret_when_one_is_named() {
    let b = backend(json!({"type": "cache", "provider": "redis",
        "connection": {"url": "redis://h"},
        "tls": {"enabled": true, "secretRef": {"name": "ca"}}}));
    let r = |t| Resolved { connection: SecretLookup::NotReferenced, tls: t };
    assert_eq!(reason(&b, &r(SecretLookup::Missing("ca".into()))), "TLSSecretNotFound");
    assert_eq!(reason(&b, &r(secret("ca", &[("ca.crt", "junk")]))), "InvalidTLSSecret");
    assert_eq!(reason(&b, &r(secret("ca", &[("other", "x")]))), "InvalidTLSSecret");
    // TLS on without a Secret: the system roots.
    let plain = backend(json!({"type": "cache", "provider": "redis",
        "connection": {"url": "rediss://h"}}));
    let v = validate(&plain, "ns", owner(), &none()).expect("valid");
    assert_eq!(v.tls, Some(TlsMaterial::default()));
}

#[test]
fn health_check_timing_is_validated() {
    let b = backend(json!({"type": "memory", "provider": "memstore",
        "healthCheck": {"interval": "5s", "timeout": "5s"}}));
    assert_eq!(reason(&b, &none()), "InvalidHealthCheck");
    let off = backend(json!({"type": "memory", "provider": "memstore",
        "healthCheck": {"enabled": false}}));
    assert!(!validate(&off, "ns", owner(), &none()).expect("valid").health.enabled);
}
