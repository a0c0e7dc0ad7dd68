//! PrismStack: a whole Prism deployment (proxy, admin control plane, pattern runners, backends,
//! observability and placement) declared in one object.

use k8s_openapi::{
    api::core::v1::{Affinity, LocalObjectReference, ResourceRequirements},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    backend::{BackendProvider, BackendType},
    common::{
        AutoscalingSpec, DNS_LABEL_PATTERN, DURATION_PATTERN, ObjectReference, PatternConfig, PlacementSpec,
        ServiceSpec,
    },
};

/// A whole Prism deployment: proxy, admin control plane, pattern runners and backends.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "prism.io",
    version = "v1alpha1",
    kind = "PrismStack",
    namespaced,
    status = "PrismStackStatus",
    shortname = "pstack",
    category = "prism",
    doc = "A whole Prism deployment: proxy, admin control plane (optionally several with leader election), pattern runners, backends, observability and placement.",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(
        name = "Proxy",
        type_ = "string",
        json_path = ".status.proxy.summary",
        description = "Ready/desired proxy replicas"
    ),
    printcolumn(
        name = "Admin",
        type_ = "string",
        json_path = ".status.admin.summary",
        description = "Ready/desired admin replicas"
    ),
    printcolumn(
        name = "Patterns",
        type_ = "string",
        json_path = ".status.patterns.summary",
        description = "Ready/total patterns"
    ),
    printcolumn(
        name = "Backends",
        type_ = "string",
        json_path = ".status.backends.summary",
        priority = 1,
        description = "Healthy/total backends"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 57").message("metadata.name must be at most 57 characters: it names the <name>-proxy and <name>-admin Services"),
)]
#[serde(rename_all = "camelCase")]
pub struct PrismStackSpec {
    /// The Prism proxy (data plane). Always deployed; every field has a default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxySpec>,
    /// The Prism admin control plane. Deployed only when `enabled` is true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<AdminSpec>,
    /// Pattern runners. Each entry becomes a PrismPattern of the same name owned by this stack;
    /// removing an entry deletes that PrismPattern. Names are unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub patterns: Option<Vec<StackPatternSpec>>,
    /// Backends. Each entry becomes a PrismBackend of the same name owned by this stack; removing
    /// an entry deletes that PrismBackend. Names are unique.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub backends: Option<Vec<StackBackendSpec>>,
    /// Tracing and metrics for every component of the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilitySpec>,
    /// Default affinity for every component (proxy, admin, runners) whose own placement sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub affinity: Option<Affinity>,
    /// Image pull secrets put on every pod template of the stack (proxy, admin, runners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
}

/// The Prism proxy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProxySpec {
    /// Proxy image. Defaults to the operator's proxy image (`ghcr.io/prism/prism-proxy:latest`
    /// unless configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Proxy replicas (0-1000) when autoscaling is off. Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// gRPC port of the proxy (1-65535), on the container and the Service. Defaults to 9090.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// CPU and memory of the proxy container (`placement.resources`, when set, takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub resources: Option<ResourceRequirements>,
    /// Where proxy pods run. Pods carry `component: prism-proxy` for affinity and spread rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSpec>,
    /// Optional autoscaling of the proxy, with the same semantics as a PrismPattern's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
}

/// The Prism admin control plane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminSpec {
    /// Deploy the admin. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Admin image. Defaults to the operator's admin image (`ghcr.io/prism/prism-admin:latest`
    /// unless configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// gRPC control-plane port of the admin container (1-65535). Defaults to 8981.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Admin replicas (0-100). Defaults to 1. Use an odd number with leader election.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: Option<i32>,
    /// CPU and memory of the admin container (`placement.resources`, when set, takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub resources: Option<ResourceRequirements>,
    /// Where admin pods run. Pods carry `component: prism-admin` for affinity and spread rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSpec>,
    /// Leader election among admin replicas on a coordination.k8s.io Lease.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_election: Option<LeaderElectionSpec>,
    /// The admin Service: type (ClusterIP by default), port (defaults to `port`) and annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
}

/// Leader election among admin replicas. The operator creates a ServiceAccount, a Role allowing
/// exactly what a leader needs on Leases, and a RoleBinding, and passes these settings to the
/// admin containers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("duration(has(self.leaseDuration) ? self.leaseDuration : '15s') > duration(has(self.renewDeadline) ? self.renewDeadline : '10s')")
        .message("leaderElection.leaseDuration must be longer than leaderElection.renewDeadline (defaults 15s and 10s)"),
    validation = Rule::new("duration(has(self.renewDeadline) ? self.renewDeadline : '10s') > duration(has(self.retryPeriod) ? self.retryPeriod : '2s')")
        .message("leaderElection.renewDeadline must be longer than leaderElection.retryPeriod (defaults 10s and 2s)"),
)]
pub struct LeaderElectionSpec {
    /// Turn leader election on. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How long a leader's lease is valid without renewal (a duration such as `15s`). Defaults to
    /// 15s. Must be longer than renewDeadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub lease_duration: Option<String>,
    /// How long the leader keeps trying to renew before giving up (e.g. `10s`). Defaults to 10s.
    /// Must be longer than retryPeriod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub renew_deadline: Option<String>,
    /// How often candidates retry acquiring the lease (e.g. `2s`). Defaults to 2s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub retry_period: Option<String>,
    /// Name of the Lease. Defaults to `<stack>-admin-leader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub lease_name: Option<String>,
}

/// One pattern runner of the stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackPatternSpec {
    /// Name of the pattern, and of the PrismPattern, Deployment and Service created for it.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub name: String,
    /// Pattern type, e.g. `keyvalue`, `pubsub`, `queue`, `producer`, `consumer`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 50), regex(pattern = DNS_LABEL_PATTERN))]
    pub type_: String,
    /// Backend the pattern uses: a backend of this stack or a provider such as `memstore`.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub backend: String,
    /// Runner image. Defaults to the operator's image for the pattern type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Runner replicas (0-1000). Defaults to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// Pattern-specific settings (strings or whole numbers), e.g. `natsUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    /// Keys that would become the same environment variable (`a-b` and `a_b`) are refused when
    /// the PrismPattern this entry becomes is applied; the stack's `Ready` condition then says so.
    #[x_kube(validation = Rule::new(super::common::CONFIG_KEYS_RULE).message(super::common::CONFIG_KEYS_MESSAGE))]
    pub config: Option<PatternConfig>,
    /// Placement of the runner pods (becomes the PrismPattern's `placement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_spec: Option<PlacementSpec>,
    /// Service of the runner (becomes the PrismPattern's `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// Autoscaling of the runner (becomes the PrismPattern's `autoscaling`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
}

/// One backend of the stack.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.connectionString) || has(self.secretRef) || (has(self.provider) && self.provider == 'memstore')")
    .message("backends[].connectionString or backends[].secretRef is required (except for provider memstore)"))]
pub struct StackBackendSpec {
    /// Name of the backend, and of the PrismBackend created for it.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub name: String,
    /// Kind of backend: messaging, database, cache, keyvalue, queue or memory.
    #[serde(rename = "type")]
    pub type_: BackendType,
    /// Backend software. Defaults to what `connectionString`'s scheme names (nats://, redis://,
    /// postgres://, kafka://, amqp://), else to the backend's name when that is a provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<BackendProvider>,
    /// Connection URL, e.g. `nats://nats.prism-system.svc.cluster.local:4222`. Do not put
    /// passwords here: use `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub connection_string: Option<String>,
    /// A Secret holding the connection (keys `url`, `username`, `password`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectReference>,
}

/// Observability of the stack's components.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Turn tracing export and metrics scraping on. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Where traces go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TracingSpec>,
    /// Where metrics are served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsSpec>,
}

/// Trace export.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TracingSpec {
    /// Collector endpoint (OTLP or Jaeger), e.g.
    /// `http://jaeger-collector.observability.svc.cluster.local:14268`. Passed to every container
    /// as `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: Option<String>,
}

/// Metrics exposure.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricsSpec {
    /// Port every component serves Prometheus metrics on (1-65535), announced with
    /// `prometheus.io/scrape` and `prometheus.io/port` pod annotations. Defaults to 9091.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
}

// Lifecycle phase of a PrismStack.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StackPhase {
    /// Accepted, components not yet created.
    #[default]
    Pending,
    /// Components exist and are rolling out.
    Progressing,
    /// Every component is ready.
    Running,
    /// Some component is not ready.
    Degraded,
    /// The spec cannot be reconciled (see the conditions).
    Failed,
}

/// Readiness of a replicated component (proxy or admin).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Ready replicas.
    pub ready_replicas: i32,
    /// Desired replicas.
    pub desired_replicas: i32,
    /// `ready/desired`, for printing.
    pub summary: String,
}

/// Readiness of a set of children (patterns or backends).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildrenStatus {
    /// Children that are ready (patterns Running, backends healthy).
    pub ready: i32,
    /// Children declared in the spec.
    pub total: i32,
    /// `ready/total`, for printing.
    pub summary: String,
}

/// Observed state of a PrismStack, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrismStackStatus {
    /// Pending, Progressing, Running, Degraded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<StackPhase>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Proxy readiness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ComponentStatus>,
    /// Admin readiness (absent when the admin is disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<ComponentStatus>,
    /// Patterns running out of those declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patterns: Option<ChildrenStatus>,
    /// Backends healthy out of those declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<ChildrenStatus>,
    /// `Ready` is True only when the proxy, the admin, every pattern and every backend are ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
