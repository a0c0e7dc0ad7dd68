//! Pure: a PrismNamespace and what `resolve` found -> the admin endpoint and the
//! CreateNamespaceRequest, mapped as the wire contract says:
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

use prism_api::v1alpha1::{PrismNamespace, PrismStack};

use crate::conditions::Invalid;
use crate::{
    admin::proto::{AuthConfig, BackendConfig, CreateNamespaceRequest, NamespaceConfig, PatternConfig},
    credentials::Sensitive,
    naming::{self, connection},
};

/// Annotation on a PrismNamespace naming the admin endpoint directly (`http://host:port`).
pub const ADMIN_ENDPOINT_ANNOTATION: &str = "prism.io/admin-endpoint";

/// The PrismStack names `proxyRef.name` may stand for, in lookup order.
pub fn stack_candidates(proxy_ref: &str) -> Vec<String> {
    let mut names = vec![proxy_ref.to_owned()];
    if let Some(stack) = proxy_ref.strip_suffix(naming::PROXY_SUFFIX).filter(|s| !s.is_empty()) {
        names.push(stack.to_owned());
    }
    names
}

/// The admin endpoint: the annotation, else the operator-wide setting, else the stack's admin
/// Service `http://<stack>-admin.<ns>.svc:<port>`.
pub fn admin_endpoint(
    obj: &PrismNamespace,
    operator_override: Option<&str>,
    stack: Option<(&str, &PrismStack)>,
) -> Result<String, Invalid> {
    let annotated =
        obj.metadata.annotations.as_ref().and_then(|a| a.get(ADMIN_ENDPOINT_ANNOTATION)).map(String::as_str);
    if let Some(endpoint) = annotated.or(operator_override).filter(|e| !e.is_empty()) {
        return Ok(endpoint.trim_end_matches('/').to_owned());
    }
    let Some((namespace, stack)) = stack else {
        return Err(Invalid {
            reason: "StackNotFound",
            message: format!(
                "spec.proxyRef.name {:?} names no PrismStack (tried {}); set the annotation {ADMIN_ENDPOINT_ANNOTATION} or the operator's --admin-endpoint to reach an admin elsewhere",
                obj.spec.proxy_ref.name,
                stack_candidates(&obj.spec.proxy_ref.name).join(", ")
            ),
        });
    };
    let name = stack.metadata.name.clone().unwrap_or_default();
    let admin = stack.spec.admin.as_ref();
    let port = admin.and_then(|a| a.service.as_ref().and_then(|s| s.port).or(a.port)).unwrap_or(naming::ADMIN_PORT);
    Ok(format!("http://{}.{namespace}.svc:{port}", naming::admin_name(&name)))
}

/// What `resolve` found for one entry of `spec.patterns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternSummary {
    /// `spec.pattern` (the pattern type).
    pub pattern_type: String,
    /// `spec.backend`.
    pub backend: String,
    /// `spec.backendConfig.name`, when set.
    pub backend_config: Option<String>,
    /// `spec.config`, as strings.
    pub settings: BTreeMap<String, String>,
}

/// A backend's rendered connection, read at call time.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BackendConnection {
    /// The rendered ConfigMap's data.
    pub facts: BTreeMap<String, String>,
    /// Connection URL.
    pub url: Option<Sensitive>,
    /// User name.
    pub username: Option<Sensitive>,
    /// Password.
    pub password: Option<Sensitive>,
}

/// Everything the request is built from besides the PrismNamespace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inputs {
    /// Each `spec.patterns` entry and its PrismPattern, if found.
    pub patterns: Vec<(String, Option<PatternSummary>)>,
    /// Each PrismBackend the patterns use, and its rendered connection, if rendered.
    pub backends: BTreeMap<String, Option<BackendConnection>>,
}

/// The CreateNamespaceRequest of `obj` (in Kubernetes namespace `k8s_namespace`).
pub fn create_request(
    obj: &PrismNamespace,
    k8s_namespace: &str,
    inputs: &Inputs,
) -> Result<CreateNamespaceRequest, Invalid> {
    let spec = &obj.spec;
    let mut patterns = BTreeMap::new();
    let mut backends = BTreeMap::new();
    for (name, summary) in &inputs.patterns {
        let Some(p) = summary else {
            return Err(Invalid {
                reason: "PatternNotFound",
                message: format!(
                    "spec.patterns names PrismPattern {name:?}, which does not exist in namespace {k8s_namespace:?}"
                ),
            });
        };
        patterns.insert(
            name.clone(),
            PatternConfig {
                pattern_name: p.pattern_type.clone(),
                settings: p.settings.clone(),
                required_interfaces: Vec::new(),
            },
        );
        match &p.backend_config {
            Some(backend) => {
                let Some(Some(conn)) = inputs.backends.get(backend) else {
                    return Err(Invalid {
                        reason: "BackendNotRendered",
                        message: format!(
                            "PrismPattern {name:?} uses PrismBackend {backend:?}, whose connection (ConfigMap {:?}, Secret {:?}) is not rendered yet",
                            crate::naming::backend_config_map(backend),
                            crate::naming::backend_secret(backend)
                        ),
                    });
                };
                backends.insert(backend.clone(), backend_config(conn));
            }
            None => {
                backends
                    .entry(p.backend.clone())
                    .or_insert_with(|| BackendConfig { backend_type: p.backend.clone(), ..Default::default() });
            }
        }
    }
    Ok(CreateNamespaceRequest {
        namespace: spec.namespace_id.clone(),
        requesting_proxy: spec.proxy_ref.name.clone(),
        config: Some(NamespaceConfig { backends, patterns, auth: auth(obj), metadata: metadata(obj) }),
        principal: format!("{k8s_namespace}/{}", obj.metadata.name.clone().unwrap_or_default()),
    })
}

fn backend_config(conn: &BackendConnection) -> BackendConfig {
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

/// `config.auth` of the request.
pub fn auth(obj: &PrismNamespace) -> Option<AuthConfig> {
    let auth = obj.spec.auth.as_ref()?;
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
    Some(AuthConfig { enabled: oidc, provider: if oidc { "oidc".to_owned() } else { String::new() }, options })
}

/// `config.metadata` of the request: quotas, tags and display name, flattened.
pub fn metadata(obj: &PrismNamespace) -> BTreeMap<String, String> {
    let spec = &obj.spec;
    let mut out = BTreeMap::new();
    if let Some(q) = &spec.quotas {
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
    for (k, v) in spec.tags.iter().flatten() {
        out.insert(format!("tag.{k}"), v.clone());
    }
    if let Some(name) = &spec.display_name {
        out.insert("displayName".to_owned(), name.clone());
    }
    out
}

/// The quota entries of `metadata`, for the QuotasEnforced condition's message.
pub fn quota_summary(obj: &PrismNamespace) -> Option<String> {
    let m = metadata(obj);
    let quotas: Vec<String> =
        m.iter().filter_map(|(k, v)| k.strip_prefix("quota.").map(|k| format!("{k}={v}"))).collect();
    (!quotas.is_empty()).then(|| quotas.join(", "))
}

#[cfg(test)]
mod tests;
