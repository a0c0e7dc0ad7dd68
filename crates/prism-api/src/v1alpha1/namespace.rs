//! PrismNamespace: a tenant namespace provisioned on the Prism admin over gRPC, with quotas,
//! authentication, tags and an optional time to live.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DNS_LABEL_PATTERN, DURATION_PATTERN, ObjectReference};

/// A tenant namespace on the Prism admin control plane.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "prism.io",
    version = "v1alpha1",
    kind = "PrismNamespace",
    namespaced,
    status = "PrismNamespaceStatus",
    shortname = "pns",
    category = "prism",
    doc = "A multi-tenant namespace provisioned on the Prism admin over gRPC, with quotas, authentication, tags and an optional time to live.",
    printcolumn(
        name = "Namespace-ID",
        type_ = "string",
        json_path = ".spec.namespaceId",
        description = "Namespace on the proxy"
    ),
    printcolumn(
        name = "Proxy",
        type_ = "string",
        json_path = ".spec.proxyRef.name",
        description = "Stack or proxy it is provisioned on"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Pending, Active, Failed or Terminating"
    ),
    printcolumn(name = "TTL", type_ = "string", json_path = ".spec.ttl", priority = 1, description = "Time to live"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct PrismNamespaceSpec {
    /// Identifier of the namespace on the proxy (lowercase letters, digits, `-`; at most 63).
    /// Immutable: create a new PrismNamespace to rename a tenant.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("namespaceId is immutable"))]
    pub namespace_id: String,
    /// Human-readable name shown in the admin UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub display_name: Option<String>,
    /// The PrismStack (by stack name, or by its proxy name `<stack>-proxy`) whose admin
    /// provisions this namespace.
    pub proxy_ref: ObjectReference,
    /// Resource quotas enforced by the proxy for this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotas: Option<QuotasSpec>,
    /// Names of the PrismPatterns (in this namespace) the tenant may use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub patterns: Option<Vec<String>>,
    /// Authentication of the tenant's clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthSpec>,
    /// Observability tags (e.g. tenant, environment, cost-center), sent to the admin as metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 64))]
    pub tags: Option<BTreeMap<String, String>>,
    /// Time to live (a duration such as `720h`): the PrismNamespace deletes itself, revoking the
    /// tenant, when creationTimestamp + ttl has passed. Unset means it lives until deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    #[x_kube(validation = Rule::new("duration(self) > duration('0s')").message("ttl must be a positive duration"))]
    pub ttl: Option<String>,
}

/// Quotas of a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotasSpec {
    /// Maximum number of keys the tenant may store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_keys: Option<i64>,
    /// Maximum concurrent client connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_connections: Option<i32>,
    /// Request rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
}

/// A token-bucket rate limit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.burstSize) || !has(self.requestsPerSecond) || self.burstSize >= self.requestsPerSecond")
    .message("quotas.rateLimit.burstSize must be at least quotas.rateLimit.requestsPerSecond"))]
pub struct RateLimitSpec {
    /// Sustained requests per second (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub requests_per_second: Option<i32>,
    /// Requests allowed in a burst (at least requestsPerSecond).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub burst_size: Option<i32>,
}

/// Authentication of a namespace's clients.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.oidcClientId) || has(self.oidcIssuer)")
    .message("auth.oidcIssuer is required when auth.oidcClientId is set"))]
pub struct AuthSpec {
    /// OAuth2/OIDC issuer URL, e.g. `https://auth.acme.com`. Turns on OIDC authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    #[x_kube(validation = Rule::new("self.startsWith('https://') || self.startsWith('http://')").message("auth.oidcIssuer must be an http(s) URL"))]
    pub oidc_issuer: Option<String>,
    /// OIDC client id of the tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub oidc_client_id: Option<String>,
    /// Service accounts (e.g. cloud IAM identities) allowed to use the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256))]
    pub service_accounts: Option<Vec<String>>,
}

// Lifecycle phase of a PrismNamespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NamespacePhase {
    /// Not yet provisioned.
    #[default]
    Pending,
    /// Provisioned on the admin and in sync with the spec.
    Active,
    /// Provisioning failed (see the conditions).
    Failed,
    /// Being revoked before deletion.
    Terminating,
}

/// Usage figures the admin reports for a namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceMetrics {
    /// Keys stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_keys: Option<i64>,
    /// Open client connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_connections: Option<i64>,
    /// Requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<f64>,
}

/// Observed state of a PrismNamespace, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrismNamespaceStatus {
    /// Pending, Active, Failed or Terminating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<NamespacePhase>,
    /// When the namespace was first provisioned on the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_at: Option<Time>,
    /// When the spec was last pushed to the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<Time>,
    /// State of the proxy/admin the namespace lives on, e.g. `Ready` or `Unreachable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_status: Option<String>,
    /// Partition the admin assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_partition: Option<i32>,
    /// Proxy the admin assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_proxy: Option<String>,
    /// The `metadata.generation` last pushed to the admin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Provisioned` and `QuotasEnforced`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Usage figures, where the admin reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<NamespaceMetrics>,
}
