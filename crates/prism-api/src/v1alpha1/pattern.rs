//! PrismPattern: one pattern runner (Deployment, optional Service, optional HPA or KEDA
//! ScaledObject) with its placement.

use k8s_openapi::{
    api::core::v1::{LocalObjectReference, ResourceRequirements},
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{
    ObservabilitySpec,
    common::{AutoscalingSpec, DNS_LABEL_PATTERN, ObjectReference, PatternConfig, PlacementSpec, ServiceSpec},
};

/// A Prism pattern runner: a Deployment of `<pattern>-runner` containers talking to one backend,
/// optionally exposed by a Service and scaled by an HPA or a KEDA ScaledObject.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "prism.io",
    version = "v1alpha1",
    kind = "PrismPattern",
    namespaced,
    status = "PrismPatternStatus",
    shortname = "ppattern",
    category = "prism",
    doc = "A Prism pattern runner: a Deployment of pattern runners talking to one backend, with an optional Service and HPA or KEDA autoscaling.",
    printcolumn(name = "Pattern", type_ = "string", json_path = ".spec.pattern", description = "Pattern type"),
    printcolumn(name = "Backend", type_ = "string", json_path = ".spec.backend", description = "Backend"),
    printcolumn(
        name = "Desired",
        type_ = "integer",
        json_path = ".status.desiredReplicas",
        description = "Replicas the autoscaler (or spec.replicas) asks for"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".status.replicas",
        description = "Current replicas"
    ),
    printcolumn(
        name = "Available",
        type_ = "integer",
        json_path = ".status.availableReplicas",
        description = "Available replicas"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters: it names the runner's Service and labels"),
)]
#[serde(rename_all = "camelCase")]
pub struct PrismPatternSpec {
    /// Pattern type the runner implements, e.g. `keyvalue`, `pubsub`, `producer`, `consumer`,
    /// `queue`. Names the container (`<pattern>-runner`) and is passed as `--pattern=<pattern>`.
    #[schemars(length(min = 1, max = 50), regex(pattern = DNS_LABEL_PATTERN))]
    pub pattern: String,
    /// Backend the runner uses, e.g. `memstore`, `redis`, `nats`, `kafka`, `postgres`. Passed as
    /// `--backend=<backend>`.
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub backend: String,
    /// Runner container image. Defaults to the operator's image for the pattern type
    /// (`ghcr.io/prism/<pattern>-runner:latest` unless the operator is configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 1024))]
    pub image: Option<String>,
    /// Desired replicas (0-1000) when autoscaling is off. Defaults to 1. While autoscaling is
    /// enabled the autoscaler owns the replica count and this field is not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: Option<i32>,
    /// CPU and memory requests and limits of the runner container (`placement.resources`, when
    /// set, takes precedence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub resources: Option<ResourceRequirements>,
    /// The backend connection to use: the name of a PrismBackend, whose rendered ConfigMap
    /// (`<name>-prism-connection`) and Secret (`<name>-prism-credentials`) are mounted into the runner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_config: Option<ObjectReference>,
    /// Pattern-specific settings (strings or whole numbers, e.g. `ttl: "1h"`,
    /// `maxKeys: 10000`), rendered into the ConfigMap `<name>-config` and passed to the runner as
    /// environment variables `PRISM_CONFIG_<KEY>` (key upper-cased, non-alphanumerics as `_`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 128))]
    #[x_kube(validation = Rule::new(super::common::CONFIG_KEYS_RULE).message(super::common::CONFIG_KEYS_MESSAGE))]
    #[x_kube(validation = Rule::new(super::common::CONFIG_ENV_RULE).message(super::common::CONFIG_ENV_MESSAGE))]
    pub config: Option<PatternConfig>,
    /// Service exposing the runner. When unset, no Service is created and the runner listens on
    /// port 8080.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceSpec>,
    /// Autoscaling with an HPA (CPU, memory, custom metrics) or KEDA (event sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,
    /// Where the runner pods are placed: node selector, affinity, tolerations, topology spread,
    /// priority and runtime class, and a placement strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<PlacementSpec>,
    /// Image pull secrets of the runner pods (a PrismStack passes its own down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    /// Tracing and metrics of the runner (a PrismStack passes its own down).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observability: Option<ObservabilitySpec>,
}

impl PrismPatternSpec {
    /// Port the runner listens on when no Service port is given.
    pub const DEFAULT_PORT: i32 = 8080;
    /// Replicas when none are given.
    pub const DEFAULT_REPLICAS: i32 = 1;

    /// The runner's port: the Service port, else [`Self::DEFAULT_PORT`].
    pub fn port(&self) -> i32 {
        self.service.as_ref().and_then(|s| s.port).unwrap_or(Self::DEFAULT_PORT)
    }

    /// Desired replicas when autoscaling is off.
    pub fn replicas(&self) -> i32 {
        self.replicas.unwrap_or(Self::DEFAULT_REPLICAS)
    }
}

// Lifecycle phase of a PrismPattern.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PatternPhase {
    /// Accepted, children not yet created.
    #[default]
    Pending,
    /// Children exist; replicas are rolling out.
    Progressing,
    /// Every desired replica is available.
    Running,
    /// Some but not all replicas are available, or autoscaling is not working.
    Degraded,
    /// The spec cannot be reconciled (see the conditions).
    Failed,
}

/// Observed state of a PrismPattern, written by the operator.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrismPatternStatus {
    /// Pending, Progressing, Running, Degraded or Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PatternPhase>,
    /// Replicas of the runner Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Replicas the runner Deployment asks for: set by the HPA or KEDA while autoscaling is on,
    /// else `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
    /// Available replicas of the runner Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (every desired replica available) and `AutoscalingReady`: the HPA's
    /// `AbleToScale`/`ScalingActive` or the ScaledObject's `Ready`/`Active` conditions, with their
    /// reasons and messages (e.g. `FailedGetResourceMetric` while metrics are unavailable), or why
    /// the autoscaler cannot be created (`KEDANotInstalled`, `ResourceRequestMissing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
