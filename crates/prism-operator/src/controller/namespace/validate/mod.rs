//! Pure: a PrismNamespace and what `resolve` found -> the admin endpoint and the validated
//! model `build` maps onto the wire; or the reason it cannot be provisioned (`StackNotFound`,
//! `PatternNotFound`, `BackendNotRendered`), with a message naming the field.

use std::collections::BTreeMap;

use prism_api::v1alpha1::{AuthSpec, PrismNamespace, PrismNamespaceSpec, PrismStack, QuotasSpec};

use crate::conditions::Invalid;
use crate::{credentials::Sensitive, naming};

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

/// One pattern of the namespace, from its PrismPattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    /// `spec.pattern` of the PrismPattern (the pattern type).
    pub pattern_type: String,
    /// `spec.config` of the PrismPattern, as strings.
    pub settings: BTreeMap<String, String>,
}

/// One backend the namespace's patterns use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A PrismBackend (a pattern's `backendConfig`) and its rendered connection.
    Rendered(BackendConnection),
    /// A pattern's `spec.backend` without a `backendConfig` (e.g. memstore): only its type.
    TypeOnly(String),
}

/// `spec.quotas`, `spec.tags` and `spec.displayName`: what goes into `config.metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// `spec.quotas`.
    pub quotas: Option<QuotasSpec>,
    /// `spec.tags`.
    pub tags: BTreeMap<String, String>,
    /// `spec.displayName`.
    pub display_name: Option<String>,
}

impl Metadata {
    /// The metadata of `spec`.
    pub fn of(spec: &PrismNamespaceSpec) -> Self {
        Self {
            quotas: spec.quotas.clone(),
            tags: spec.tags.clone().unwrap_or_default(),
            display_name: spec.display_name.clone(),
        }
    }
}

/// A PrismNamespace that can be provisioned: everything CreateNamespace carries, checked.
/// Credentials stay [`Sensitive`], so the model prints none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedNamespace {
    /// `spec.namespaceId`.
    pub namespace_id: String,
    /// `spec.proxyRef.name`.
    pub requesting_proxy: String,
    /// `<k8s namespace>/<name>` of the PrismNamespace.
    pub principal: String,
    /// The patterns, keyed by PrismPattern name.
    pub patterns: BTreeMap<String, Pattern>,
    /// The patterns' backends, keyed by PrismBackend name (or by `spec.backend` when a pattern
    /// has no `backendConfig`).
    pub backends: BTreeMap<String, Backend>,
    /// `spec.auth`.
    pub auth: Option<AuthSpec>,
    /// Quotas, tags and display name.
    pub metadata: Metadata,
}

/// The validated model of `obj` (in Kubernetes namespace `k8s_namespace`): every pattern found
/// and every PrismBackend they use rendered, else the first that is not.
pub fn validate(obj: &PrismNamespace, k8s_namespace: &str, inputs: &Inputs) -> Result<ValidatedNamespace, Invalid> {
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
        patterns.insert(name.clone(), Pattern { pattern_type: p.pattern_type.clone(), settings: p.settings.clone() });
        match &p.backend_config {
            Some(backend) => {
                let Some(Some(conn)) = inputs.backends.get(backend) else {
                    return Err(Invalid {
                        reason: "BackendNotRendered",
                        message: format!(
                            "PrismPattern {name:?} uses PrismBackend {backend:?}, whose connection (ConfigMap {:?}, Secret {:?}) is not rendered yet",
                            naming::backend_config_map(backend),
                            naming::backend_secret(backend)
                        ),
                    });
                };
                backends.insert(backend.clone(), Backend::Rendered(conn.clone()));
            }
            None => {
                backends.entry(p.backend.clone()).or_insert_with(|| Backend::TypeOnly(p.backend.clone()));
            }
        }
    }
    Ok(ValidatedNamespace {
        namespace_id: spec.namespace_id.clone(),
        requesting_proxy: spec.proxy_ref.name.clone(),
        principal: format!("{k8s_namespace}/{}", obj.metadata.name.clone().unwrap_or_default()),
        patterns,
        backends,
        auth: spec.auth.clone(),
        metadata: Metadata::of(spec),
    })
}

#[cfg(test)]
pub(super) mod tests;
