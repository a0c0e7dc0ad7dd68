//! PrismBackend: a backend connection, rendered by the operator into a ConfigMap and a Secret
//! that pattern runners mount, and health-checked in the backend's own protocol.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{DURATION_PATTERN, ObjectReference};

/// A backend connection: where a backend is, how to authenticate, TLS, and how to health-check it.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[kube(
    group = "prism.io",
    version = "v1alpha1",
    kind = "PrismBackend",
    namespaced,
    status = "PrismBackendStatus",
    shortname = "pbackend",
    category = "prism",
    doc = "A backend connection (Redis, NATS, Kafka, PostgreSQL, RabbitMQ, memstore): rendered into a ConfigMap and a Secret for pattern runners (and, while KEDA is installed, for redis, postgres and rabbitmq a KEDA TriggerAuthentication `<name>-prism-keda` for triggers with backendRef), and health-checked in the backend's own protocol.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type", description = "Backend kind"),
    printcolumn(name = "Provider", type_ = "string", json_path = ".spec.provider", description = "Backend software"),
    printcolumn(
        name = "Healthy",
        type_ = "boolean",
        json_path = ".status.healthy",
        description = "Last health check passed"
    ),
    printcolumn(
        name = "Phase",
        type_ = "string",
        json_path = ".status.phase",
        description = "Ready, Unhealthy or Invalid"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters: it is a label value of the rendered <name>-prism-connection ConfigMap and <name>-prism-credentials Secret"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.provider == 'memstore' || has(self.connection)")
    .message("connection is required for every provider except memstore"))]
pub struct PrismBackendSpec {
    /// Kind of backend: messaging, database, cache, keyvalue, queue or memory.
    #[serde(rename = "type")]
    pub type_: BackendType,
    /// Backend software: redis, nats, kafka, postgres, rabbitmq or memstore. Selects the
    /// health-check protocol.
    pub provider: BackendProvider,
    /// Where the backend is: a `url`, a `secretRef`, or both (the Secret's values win).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionSpec>,
    /// TLS to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Periodic health check in the backend's protocol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
}

// Kind of backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendType {
    /// Message brokers and streams (NATS, Kafka, RabbitMQ).
    #[default]
    Messaging,
    /// Relational databases (PostgreSQL).
    Database,
    /// Caches (Redis).
    Cache,
    /// Key-value stores.
    Keyvalue,
    /// Work queues.
    Queue,
    /// In-process memory (memstore).
    Memory,
}

// Backend software.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendProvider {
    /// Redis (health check: PING).
    Redis,
    /// NATS (health check: INFO, then PING/PONG).
    Nats,
    /// Apache Kafka (health check: ApiVersions).
    Kafka,
    /// PostgreSQL (health check: startup, authentication, `SELECT 1`).
    Postgres,
    /// RabbitMQ (health check: AMQP protocol header and Connection.Start).
    Rabbitmq,
    /// Prism's in-memory store (always healthy).
    #[default]
    Memstore,
}

impl BackendProvider {
    /// Every provider, in declaration order.
    pub const ALL: [Self; 6] = [Self::Redis, Self::Nats, Self::Kafka, Self::Postgres, Self::Rabbitmq, Self::Memstore];

    /// The lowercase name used in the API and in the admin wire protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Redis => "redis",
            Self::Nats => "nats",
            Self::Kafka => "kafka",
            Self::Postgres => "postgres",
            Self::Rabbitmq => "rabbitmq",
            Self::Memstore => "memstore",
        }
    }

    /// The provider a name or URL scheme stands for (`postgresql` and `amqp` included).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "redis" | "rediss" => Some(Self::Redis),
            "nats" | "tls" => Some(Self::Nats),
            "kafka" => Some(Self::Kafka),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "rabbitmq" | "amqp" | "amqps" => Some(Self::Rabbitmq),
            "memstore" => Some(Self::Memstore),
            _ => None,
        }
    }
}

/// Where the backend is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.url) || has(self.secretRef)")
    .message("connection.url or connection.secretRef is required"))]
pub struct ConnectionSpec {
    /// Connection URL, e.g. `nats://nats.prism-system.svc.cluster.local:4222`. Do not put
    /// passwords here: use `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2048))]
    pub url: Option<String>,
    /// A Secret holding the URL and credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeysReference>,
}

/// A Secret and the keys in it that hold the connection settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeysReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret. Defaults to the PrismBackend's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// Which keys of the Secret hold which setting. Defaults: `url`, `username`, `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<SecretKeys>,
}

/// Key names inside a connection Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeys {
    /// Key of the connection URL. Defaults to `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub url: Option<String>,
    /// Key of the user name. Defaults to `username`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub username: Option<String>,
    /// Key of the password. Defaults to `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub password: Option<String>,
}

/// TLS to the backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TlsSpec {
    /// Use TLS. Defaults to false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// A Secret with the CA bundle (`ca.crt`) and, for mutual TLS, `tls.crt` and `tls.key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<ObjectReference>,
}

/// Periodic health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("duration(has(self.interval) ? self.interval : '10s') > duration(has(self.timeout) ? self.timeout : '5s')")
    .message("healthCheck.timeout must be shorter than healthCheck.interval (defaults 5s and 10s)"))]
pub struct HealthCheckSpec {
    /// Check the backend. Defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Time between checks (a duration such as `10s`). Defaults to 10s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub interval: Option<String>,
    /// Time one check may take (e.g. `5s`). Defaults to 5s. Must be shorter than `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<String>,
}

// Health of a PrismBackend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum BackendPhase {
    /// The last health check passed (or checks are disabled and the config rendered).
    Ready,
    /// The last health check failed; `message` says why.
    Unhealthy,
    /// The spec or its referenced Secret cannot be used; `message` says why.
    Invalid,
}

/// Observed state of a PrismBackend, written by the operator. Never holds credentials.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrismBackendStatus {
    /// Ready, Unhealthy or Invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<BackendPhase>,
    /// Whether the last health check passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Result of the last check, e.g. `Backend connection verified` or the failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When health was last checked. Refreshed when health changes, otherwise at most every
    /// 5 minutes, so that a healthy backend does not cause a write every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked: Option<Time>,
    /// Hash of the rendered connection; pattern pods carry it so that they roll when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` (healthy and rendered) and `ConfigRendered`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}
