//! Pure: the validated namespace -> the CreateNamespaceRequest, mapped as the wire contract says:
//!
//! - `spec.namespaceId` -> `namespace`; `<k8s namespace>/<name>` -> `principal`;
//!   `spec.proxyRef.name` -> `requesting_proxy`.
//! - `spec.patterns` -> `config.patterns`, keyed by PrismPattern name, `pattern_name` = its
//!   `spec.pattern`, `settings` = its `spec.config`.
//! - The patterns' backends -> `config.backends`, keyed by PrismBackend name, from the rendered
//!   ConfigMap (type, options) and Secret (connection string, credentials); a pattern without
//!   `backendConfig` adds its `spec.backend` (e.g. memstore) with only `backend_type`.
//! - `spec.auth` -> `config.auth` (provider `oidc` when `oidcIssuer` is set; options `issuer`,
//!   `clientId`, `serviceAccounts` comma-separated).
//! - `spec.quotas`, `spec.tags`, `spec.displayName` -> `config.metadata`: `quota.maxKeys`,
//!   `quota.maxConnections`, `quota.rateLimit.requestsPerSecond`, `quota.rateLimit.burstSize`,
//!   `tag.<key>`, `displayName`.

use std::collections::BTreeMap;

use prism_api::v1alpha1::AuthSpec;

use super::validate::{Backend, BackendConnection, Metadata, ValidatedNamespace};
use crate::{
    admin::proto::{AuthConfig, BackendConfig, CreateNamespaceRequest, NamespaceConfig, PatternConfig},
    naming::connection,
};

/// The CreateNamespaceRequest of a validated namespace.
pub fn create_request(v: &ValidatedNamespace) -> CreateNamespaceRequest {
    let patterns = v
        .patterns
        .iter()
        .map(|(name, p)| {
            let config = PatternConfig {
                pattern_name: p.pattern_type.clone(),
                settings: p.settings.clone(),
                required_interfaces: Vec::new(),
            };
            (name.clone(), config)
        })
        .collect();
    let backends = v
        .backends
        .iter()
        .map(|(name, backend)| {
            let config = match backend {
                Backend::Rendered(conn) => backend_config(conn),
                Backend::TypeOnly(backend_type) => {
                    BackendConfig { backend_type: backend_type.clone(), ..Default::default() }
                }
            };
            (name.clone(), config)
        })
        .collect();
    CreateNamespaceRequest {
        namespace: v.namespace_id.clone(),
        requesting_proxy: v.requesting_proxy.clone(),
        config: Some(NamespaceConfig {
            backends,
            patterns,
            auth: v.auth.as_ref().map(auth),
            metadata: metadata(&v.metadata),
        }),
        principal: v.principal.clone(),
    }
}

/// One entry of `config.backends`: a PrismBackend's rendered connection. The only place the
/// credentials leave their [`Sensitive`](crate::credentials::Sensitive) wrapping: onto the wire.
pub fn backend_config(conn: &BackendConnection) -> BackendConfig {
    let fact = |k: &str| conn.facts.get(k).cloned();
    let options = [
        ("type", connection::KEY_TYPE),
        ("host", connection::KEY_HOST),
        ("port", connection::KEY_PORT),
        ("tls", connection::KEY_TLS),
        ("database", connection::KEY_DATABASE),
        ("tlsSecret", connection::KEY_TLS_SECRET),
    ]
    .into_iter()
    .filter_map(|(option, key)| fact(key).map(|v| (option.to_owned(), v)))
    .collect();
    let credentials = [("username", &conn.username), ("password", &conn.password)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_owned(), v.expose().to_owned())))
        .collect();
    BackendConfig {
        backend_type: fact(connection::KEY_PROVIDER).unwrap_or_default(),
        connection_string: conn.url.as_ref().map(|u| u.expose().to_owned()).unwrap_or_default(),
        credentials,
        options,
    }
}

/// `config.auth` of the request, from `spec.auth`.
pub fn auth(auth: &AuthSpec) -> AuthConfig {
    let mut options = BTreeMap::new();
    if let Some(issuer) = &auth.oidc_issuer {
        options.insert("issuer".to_owned(), issuer.clone());
    }
    if let Some(client) = &auth.oidc_client_id {
        options.insert("clientId".to_owned(), client.clone());
    }
    if let Some(accounts) = auth.service_accounts.as_ref().filter(|a| !a.is_empty()) {
        options.insert("serviceAccounts".to_owned(), accounts.join(","));
    }
    let oidc = auth.oidc_issuer.is_some();
    AuthConfig { enabled: oidc, provider: if oidc { "oidc".to_owned() } else { String::new() }, options }
}

/// `config.metadata` of the request: quotas, tags and display name, flattened.
pub fn metadata(m: &Metadata) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(q) = &m.quotas {
        let rate = q.rate_limit.as_ref();
        for (key, value) in [
            ("quota.maxKeys", q.max_keys),
            ("quota.maxConnections", q.max_connections.map(i64::from)),
            ("quota.rateLimit.requestsPerSecond", rate.and_then(|r| r.requests_per_second).map(i64::from)),
            ("quota.rateLimit.burstSize", rate.and_then(|r| r.burst_size).map(i64::from)),
        ] {
            if let Some(v) = value {
                out.insert(key.to_owned(), v.to_string());
            }
        }
    }
    for (k, v) in &m.tags {
        out.insert(format!("tag.{k}"), v.clone());
    }
    if let Some(name) = &m.display_name {
        out.insert("displayName".to_owned(), name.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    //! Tests of the request mapping.

    use serde_json::json;

    use super::super::validate::{
        Inputs,
        tests::{inputs, minimal, tenant},
        validate,
    };
    use super::*;

    #[test]
    fn every_spec_field_is_mapped() {
        let v = validate(&tenant(json!({})), "prism-system", &inputs()).expect("valid");
        let r = create_request(&v);
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
    fn a_full_example_builds_exactly_the_expected_request() {
        let v = validate(&tenant(json!({})), "prism-system", &inputs()).expect("valid");
        let s = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let expected = CreateNamespaceRequest {
            namespace: "acme-prod".into(),
            requesting_proxy: "prism-dev-proxy".into(),
            principal: "prism-system/tenant-acme-prod".into(),
            config: Some(NamespaceConfig {
                patterns: BTreeMap::from([
                    (
                        "keyvalue-redis".into(),
                        PatternConfig {
                            pattern_name: "keyvalue".into(),
                            settings: BTreeMap::from([s("ttl", "1h")]),
                            required_interfaces: Vec::new(),
                        },
                    ),
                    (
                        "pubsub-nats".into(),
                        PatternConfig {
                            pattern_name: "pubsub".into(),
                            settings: BTreeMap::new(),
                            required_interfaces: Vec::new(),
                        },
                    ),
                ]),
                backends: BTreeMap::from([
                    (
                        "cache".into(),
                        BackendConfig {
                            backend_type: "redis".into(),
                            connection_string: "redis://redis.svc:6379".into(),
                            credentials: BTreeMap::from([s("username", "app"), s("password", "pw")]),
                            options: BTreeMap::from([
                                s("type", "cache"),
                                s("host", "redis.svc"),
                                s("port", "6379"),
                                s("tls", "false"),
                            ]),
                        },
                    ),
                    ("memstore".into(), BackendConfig { backend_type: "memstore".into(), ..Default::default() }),
                ]),
                auth: Some(AuthConfig {
                    enabled: true,
                    provider: "oidc".into(),
                    options: BTreeMap::from([
                        s("issuer", "https://auth.acme.com"),
                        s("clientId", "prism-acme-prod"),
                        s("serviceAccounts", "a@x,b@x"),
                    ]),
                }),
                metadata: BTreeMap::from([
                    s("quota.maxKeys", "100000"),
                    s("quota.maxConnections", "1000"),
                    s("quota.rateLimit.requestsPerSecond", "1000"),
                    s("quota.rateLimit.burstSize", "2000"),
                    s("tag.tenant", "acme"),
                    s("tag.environment", "production"),
                    s("displayName", "ACME Corp - Production"),
                ]),
            }),
        };
        assert_eq!(create_request(&v), expected);
    }

    #[test]
    fn minimal_spec_maps_to_empty_config() {
        let v = validate(&minimal(), "ns", &Inputs::default()).expect("valid");
        let r = create_request(&v);
        assert_eq!((r.namespace.as_str(), r.principal.as_str(), r.requesting_proxy.as_str()), ("t", "ns/t", "s"));
        let c = r.config.expect("config");
        assert!(c.patterns.is_empty() && c.backends.is_empty() && c.metadata.is_empty());
        assert_eq!(c.auth, None);
    }

    #[test]
    fn auth_without_an_issuer_is_disabled() {
        let a = auth(&AuthSpec { service_accounts: Some(vec![]), ..Default::default() });
        assert_eq!(a, AuthConfig { enabled: false, provider: String::new(), options: BTreeMap::new() });
        let a = auth(&AuthSpec { service_accounts: Some(vec!["a@x".into()]), ..Default::default() });
        assert!(!a.enabled);
        assert_eq!(a.options, BTreeMap::from([("serviceAccounts".to_owned(), "a@x".to_owned())]));
    }
}
