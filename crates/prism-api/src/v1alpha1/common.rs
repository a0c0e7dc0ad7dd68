//! Types shared by several kinds: object references, service exposure, placement,
//! autoscaling (HPA and KEDA) and pattern configuration values.
//!
//! Validation that the API server can do lives here as OpenAPI bounds and CEL rules next to the
//! fields they guard; every message names the field and what is wrong with it.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use k8s_openapi::api::{
    autoscaling::v2::{HorizontalPodAutoscalerBehavior, MetricSpec},
    core::v1::{Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint},
};
use kube::KubeSchema;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A Go-style duration as Kubernetes and CEL's `duration()` accept it, e.g. `15s`, `1h30m`, `720h`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$";
/// A DNS-1123 label: lowercase alphanumerics and `-`, starting and ending alphanumeric.
pub const DNS_LABEL_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A reference to an object by name, in the referring object's namespace unless `namespace` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    /// Name of the referenced object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referenced object. Defaults to the namespace of the referring object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

impl ObjectReference {
    /// The referenced namespace, falling back to `default_namespace`.
    pub fn namespace_or<'a>(&'a self, default_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(default_namespace)
    }
}

// How a Service is exposed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    /// Reachable inside the cluster only (the default).
    #[default]
    ClusterIP,
    /// Also reachable on a port of every node.
    NodePort,
    /// Also reachable through a cloud load balancer.
    LoadBalancer,
}

impl ServiceType {
    /// The value Kubernetes uses in `Service.spec.type`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Service exposure of a component: one Service with one TCP port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Service type: ClusterIP (default), NodePort or LoadBalancer.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<ServiceType>,
    /// Service port (1-65535). The container listens on the same port. Defaults to the
    /// component's own port (8080 for pattern runners, 8981 for the admin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,
    /// Annotations put on the Service, e.g. cloud load-balancer settings such as
    /// `service.beta.kubernetes.io/aws-load-balancer-type: nlb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

// A placement strategy: sensible scheduling defaults, added only where the placement gives none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PlacementStrategy {
    /// Spread replicas across zones. When `topologySpreadConstraints` is empty, adds one
    /// constraint on `topology.kubernetes.io/zone` with maxSkew 1 and whenUnsatisfiable
    /// DoNotSchedule; when `affinity.podAntiAffinity` is not set, adds a preferred (weight 100)
    /// anti-affinity on `kubernetes.io/hostname` so replicas prefer distinct nodes.
    MultiZone,
    /// Spread replicas across regions, then zones. When `topologySpreadConstraints` is empty, adds
    /// two DoNotSchedule constraints with maxSkew 1: on `topology.kubernetes.io/region`, then on
    /// `topology.kubernetes.io/zone`; adds the same preferred host anti-affinity as MultiZone.
    MultiRegion,
    /// Run only on dedicated nodes. Adds nothing: it requires `nodeSelector` or `tolerations` to
    /// say which nodes; without either the owner reports a `PlacementValid=False` condition.
    DedicatedNodes,
}

/// Where and how a component's pods are placed (MEMO-036's "RunnerSpec"). Every field given here is
/// copied to the pod template exactly; `strategy` only fills in what is left empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlacementSpec {
    /// Placement strategy. It only adds defaults where this placement leaves a field empty;
    /// everything given explicitly is kept exactly as given. Unset adds nothing.
    /// `MultiZone`: when `topologySpreadConstraints` is empty, adds one constraint on
    /// `topology.kubernetes.io/zone` (maxSkew 1, whenUnsatisfiable DoNotSchedule, selecting the
    /// component's pods); when `affinity.podAntiAffinity` is unset, adds a preferred (weight 100)
    /// anti-affinity on `kubernetes.io/hostname` so replicas prefer distinct nodes.
    /// `MultiRegion`: like MultiZone, but the default constraints are two: on
    /// `topology.kubernetes.io/region`, then on `topology.kubernetes.io/zone` (both maxSkew 1,
    /// DoNotSchedule). `DedicatedNodes`: adds nothing, but requires `nodeSelector` or
    /// `tolerations` to say which nodes; without either the owner reports the condition
    /// `PlacementValid=False` (reason `DedicatedNodesUnspecified`) and does not deploy the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<PlacementStrategy>,
    /// Node labels a node must carry for the pods to be scheduled on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::label_map)]
    pub node_selector: Option<BTreeMap<String, String>>,
    /// Node affinity, pod affinity and pod anti-affinity rules, as in a pod spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub affinity: Option<Affinity>,
    /// Tolerations that let the pods run on tainted nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub tolerations: Option<Vec<Toleration>>,
    /// Topology spread constraints, as in a pod spec. Their labelSelector should match the
    /// component's pod labels (e.g. `component: prism-proxy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    /// PriorityClass of the pods, e.g. `high-priority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub priority_class_name: Option<String>,
    /// RuntimeClass of the pods, e.g. `gvisor` or `kata-containers`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub runtime_class_name: Option<String>,
    /// CPU and memory requests and limits of the component's main container. When set, this takes
    /// precedence over the component's own `resources` field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub resources: Option<ResourceRequirements>,
    /// Pin every pod to one node by name, bypassing the scheduler. Rarely what you want.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub node_name: Option<String>,
}

// Which autoscaler drives the replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scaler {
    /// A Kubernetes HorizontalPodAutoscaler (autoscaling/v2) on CPU, memory or custom metrics.
    #[default]
    Hpa,
    /// A KEDA ScaledObject (keda.sh/v1alpha1) on event sources such as Kafka lag or queue depth.
    Keda,
}

/// Autoscaling of a component. While enabled, the operator never sets the Deployment's replicas:
/// the HPA or KEDA owns them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.minReplicas) || !has(self.maxReplicas) || self.minReplicas <= self.maxReplicas")
        .message("autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas"),
    validation = Rule::new("!(has(self.enabled) && self.enabled) || has(self.maxReplicas)")
        .message("autoscaling.maxReplicas is required when autoscaling is enabled"),
    validation = Rule::new("!(has(self.enabled) && self.enabled) || !has(self.scaler) || self.scaler != 'keda' || (has(self.triggers) && size(self.triggers) > 0)")
        .message("autoscaling.triggers must list at least one trigger when autoscaling.scaler is keda"),
    validation = Rule::new("!(has(self.enabled) && self.enabled) || (has(self.scaler) && self.scaler == 'keda') || has(self.targetCPUUtilizationPercentage) || has(self.targetMemoryUtilizationPercentage) || (has(self.metrics) && size(self.metrics) > 0)")
        .message("autoscaling with scaler hpa needs targetCPUUtilizationPercentage, targetMemoryUtilizationPercentage or metrics"),
    validation = Rule::new("(has(self.scaler) && self.scaler == 'keda') || !has(self.triggers) || size(self.triggers) == 0")
        .message("autoscaling.triggers is only used with autoscaling.scaler keda"),
    validation = Rule::new("(has(self.scaler) && self.scaler == 'keda') || !has(self.minReplicas) || self.minReplicas >= 1")
        .message("autoscaling.minReplicas must be at least 1 with scaler hpa (only keda scales to zero)"),
)]
pub struct AutoscalingSpec {
    /// Turns autoscaling on. When false or unset, the operator enforces the fixed `replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The autoscaler: `hpa` (default) or `keda`. Switching removes what the other one created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaler: Option<Scaler>,
    /// Lower bound of replicas (0-1000). Defaults to 1. Only `keda` may scale to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: Option<i32>,
    /// Upper bound of replicas (1-1000). Required when autoscaling is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: Option<i32>,
    /// HPA: target average CPU utilization, in percent of the CPU request (1-1000).
    #[serde(default, rename = "targetCPUUtilizationPercentage", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub target_cpu_utilization_percentage: Option<i32>,
    /// HPA: target average memory utilization, in percent of the memory request (1-1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub target_memory_utilization_percentage: Option<i32>,
    /// HPA: further metrics (Pods, Object, External, Resource, ContainerResource), exactly as
    /// autoscaling/v2 `MetricSpec`, e.g. a Prometheus `http_requests_per_second` Pods metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[schemars(transform = crate::upstream_type)]
    pub metrics: Option<Vec<MetricSpec>>,
    /// Scale-up and scale-down behavior (stabilization windows, policies), as autoscaling/v2
    /// `HorizontalPodAutoscalerBehavior`. Used by the HPA, and by KEDA under
    /// `advanced.horizontalPodAutoscalerConfig.behavior`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = crate::upstream_type)]
    pub behavior: Option<HorizontalPodAutoscalerBehavior>,
    /// KEDA: seconds between checks of each trigger (1-86400). Defaults to 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub polling_interval: Option<i32>,
    /// KEDA: seconds to wait after the last active trigger before scaling to minReplicas
    /// (0-86400). Defaults to 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub cooldown_period: Option<i32>,
    /// KEDA: the event sources that drive scaling (kafka, nats-jetstream, aws-sqs-queue,
    /// rabbitmq, redis, postgresql, prometheus, cpu, memory, ...). Several triggers combine: KEDA
    /// scales to the largest replica count any of them asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    pub triggers: Option<Vec<KedaTrigger>>,
}

impl AutoscalingSpec {
    /// Default KEDA polling interval, in seconds.
    pub const DEFAULT_POLLING_INTERVAL: i32 = 10;
    /// Default KEDA cooldown period, in seconds.
    pub const DEFAULT_COOLDOWN_PERIOD: i32 = 300;
    /// Default lower bound of replicas.
    pub const DEFAULT_MIN_REPLICAS: i32 = 1;

    /// The active autoscaler, if autoscaling is enabled.
    pub fn active_scaler(&self) -> Option<Scaler> {
        self.enabled.unwrap_or(false).then(|| self.scaler.unwrap_or_default())
    }
}

// How a KEDA trigger's target value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum KedaMetricType {
    /// Target an average value per replica (KEDA's default for most scalers).
    AverageValue,
    /// Target a total value.
    Value,
    /// Target a utilization percentage (cpu and memory triggers).
    Utilization,
}

// The kind of object a KEDA trigger's `authenticationRef` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TriggerAuthenticationKind {
    /// A namespaced `TriggerAuthentication` (the default).
    TriggerAuthentication,
    /// A cluster-wide `ClusterTriggerAuthentication`.
    ClusterTriggerAuthentication,
}

/// A reference to the KEDA TriggerAuthentication that holds a trigger's credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerAuthenticationRef {
    /// Name of the TriggerAuthentication (in the pattern's namespace) or ClusterTriggerAuthentication.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// TriggerAuthentication (default) or ClusterTriggerAuthentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TriggerAuthenticationKind>,
}

/// The PrismBackend a KEDA trigger takes its connection and credentials from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerBackendRef {
    /// Name of a PrismBackend in the pattern's namespace. Its provider must match the trigger:
    /// `redis` for a redis trigger, `postgres` for postgresql, `rabbitmq` for rabbitmq.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Trigger types that can take their connection from a PrismBackend (`backendRef`).
pub const BACKEND_REF_TRIGGER_TYPES: [&str; 3] = ["redis", "postgresql", "rabbitmq"];

/// One KEDA trigger (event source), passed to the ScaledObject as given (apart from `backendRef`,
/// which the operator turns into an `authenticationRef`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("!has(self.backendRef) || !has(self.authenticationRef)")
        .message("a trigger takes its credentials from authenticationRef or from backendRef, not both"),
    validation = Rule::new("!has(self.backendRef) || self.type in ['redis', 'postgresql', 'rabbitmq']")
        .message("backendRef works with trigger types redis, postgresql and rabbitmq; use authenticationRef for other types"),
)]
pub struct KedaTrigger {
    /// KEDA scaler type, e.g. `kafka`, `nats-jetstream`, `aws-sqs-queue`, `rabbitmq`, `redis`,
    /// `postgresql`, `prometheus`, `cpu`, `memory`.
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 63), regex(pattern = DNS_LABEL_PATTERN))]
    pub type_: String,
    /// Optional trigger name, unique within the pattern; used in KEDA's metric names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,
    /// Scaler-specific settings, all strings as KEDA expects them (e.g. `bootstrapServers`,
    /// `consumerGroup`, `topic`, `lagThreshold: "1000"`). Secrets belong in a TriggerAuthentication.
    pub metadata: BTreeMap<String, String>,
    /// The KEDA TriggerAuthentication (or ClusterTriggerAuthentication) holding this trigger's
    /// credentials. If it does not exist, the ScaledObject is not created and the pattern's
    /// `AutoscalingReady` condition names it (reason `TriggerAuthenticationNotFound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_ref: Option<TriggerAuthenticationRef>,
    /// Take the connection and credentials from a PrismBackend instead of writing them again.
    /// Every PrismBackend of provider redis, postgres or rabbitmq gets a TriggerAuthentication
    /// `<backend>-prism-keda` (while KEDA is installed) mapping KEDA's parameters to its rendered
    /// ConfigMap and Secret: redis `host`, `port`, `username`, `password`; postgresql `host`,
    /// `port`, `dbName` (from the URL path; else set `metadata.dbName`), `userName`, `password`;
    /// rabbitmq `host` (the connection URL), `username`, `password`. The trigger then uses it as
    /// its `authenticationRef`. For postgresql the operator also sets `metadata.sslmode`
    /// (`require` when the backend's `tls.enabled`, else `disable`) unless given. TLS material
    /// (CA, client certificates) is not passed: use `authenticationRef` for TLS backends.
    /// Mutually exclusive with `authenticationRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<TriggerBackendRef>,
    /// How the target value is read: AverageValue, Value or Utilization (cpu/memory triggers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_type: Option<KedaMetricType>,
    /// Let KEDA serve this trigger's metric from its cache between polls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_cached_metrics: Option<bool>,
}

/// One pattern setting: a string or a whole number (`ttl: "1h"`, `maxKeys: 10000`). Quote
/// fractional numbers and booleans (`ratio: "0.5"`, `compress: "true"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigValue {
    /// A whole number.
    Int(i64),
    /// A string.
    String(String),
}

impl fmt::Display for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "{i}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

impl JsonSchema for ConfigValue {
    fn schema_name() -> Cow<'static, str> {
        "ConfigValue".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // A structural schema can hold "string or integer" only through int-or-string; the API
        // server then rejects objects, lists, booleans and fractions naming the offending key.
        json_schema!({
            "description": "A setting value: a string or a whole number.",
            "x-kubernetes-int-or-string": true
        })
    }
}

/// Pattern-specific settings, passed to the runner (see the PrismPattern `config` field).
pub type PatternConfig = BTreeMap<String, ConfigValue>;

/// CEL: every `config` key is a valid ConfigMap key (letters, digits, `-`, `_`, `.`).
pub const CONFIG_KEYS_RULE: &str = "self.all(k, k.matches('^[-._a-zA-Z0-9]+$'))";
/// Message of [`CONFIG_KEYS_RULE`].
pub const CONFIG_KEYS_MESSAGE: &str = "config keys may hold only letters, digits, '-', '_' and '.'";
/// CEL: no two `config` keys become the same environment variable `PRISM_CONFIG_<KEY>` (key
/// upper-cased, `-` and `.` as `_`), e.g. `a-b` and `a_b`, or `maxKeys` and `MAXKEYS`.
pub const CONFIG_ENV_RULE: &str = "self.all(k, self.filter(j, j.upperAscii().replace('-', '_').replace('.', '_') == k.upperAscii().replace('-', '_').replace('.', '_')).size() == 1)";
/// Message of [`CONFIG_ENV_RULE`].
pub const CONFIG_ENV_MESSAGE: &str = "two config keys become the same environment variable PRISM_CONFIG_<KEY> (upper-cased, '-' and '.' as '_'), e.g. a-b and a_b: rename one";
