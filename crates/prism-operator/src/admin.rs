//! The Prism admin's ControlPlane gRPC service (package `prism`, generated at build time from
//! `proto/prism_admin.proto`) and the operator's calls to it: CreateNamespace, with "already
//! exists" taken as success, and RevokeNamespace. Plain-text gRPC (h2c).
//!
//! `BackendConfig` carries credentials, so its `Debug` is written here and redacts them; a
//! request can be logged or asserted on without leaking a password.

use std::{fmt, time::Duration};

use tonic::{Code, transport::Endpoint};

/// Messages, client and server of the `prism.ControlPlane` service.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("prism");
}

use proto::{
    BackendConfig, CreateNamespaceRequest, CreateNamespaceResponse, NamespaceRevocation, NamespaceRevocationAck,
    control_plane_client::ControlPlaneClient,
};

impl fmt::Debug for BackendConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackendConfig")
            .field("backend_type", &self.backend_type)
            .field("connection_string", &"<redacted>")
            .field("credentials", &self.credentials.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish()
    }
}

/// How long one admin call (connect and answer) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How an admin call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The endpoint is not a usable URL.
    #[error("admin endpoint {endpoint:?} is not a valid URL: {message}")]
    InvalidEndpoint {
        /// The endpoint.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// No connection, or no answer in time.
    #[error("admin at {endpoint} is unreachable: {message}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// Why.
        message: String,
    },
    /// The admin answered with an error or `success: false`.
    #[error("admin at {endpoint} refused {method}: {message}")]
    Refused {
        /// The endpoint.
        endpoint: String,
        /// The RPC.
        method: &'static str,
        /// gRPC code name, or `Rejected` for `success: false`.
        code: String,
        /// The admin's message.
        message: String,
    },
}

impl AdminError {
    /// Whether the admin could not be reached at all (vs. answered with an error).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// The condition, Event and metric reason of this error.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidEndpoint { .. } => "InvalidAdminEndpoint",
            Self::Unreachable { .. } => "AdminUnreachable",
            Self::Refused { .. } => "AdminRejected",
        }
    }
}

/// Whether an admin message says the namespace exists already.
pub fn is_already_exists(message: &str) -> bool {
    message.to_ascii_lowercase().contains("already exists")
}

async fn client(endpoint: &str) -> Result<ControlPlaneClient<tonic::transport::Channel>, AdminError> {
    let ep = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| AdminError::InvalidEndpoint { endpoint: endpoint.to_owned(), message: e.to_string() })?
        .connect_timeout(CALL_TIMEOUT)
        .timeout(CALL_TIMEOUT);
    let channel = ep
        .connect()
        .await
        .map_err(|e| AdminError::Unreachable { endpoint: endpoint.to_owned(), message: error_chain(&e) })?;
    Ok(ControlPlaneClient::new(channel))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

fn from_status(endpoint: &str, method: &'static str, status: &tonic::Status) -> AdminError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => AdminError::Unreachable {
            endpoint: endpoint.to_owned(),
            message: format!("{:?}: {}", status.code(), status.message()),
        },
        code => AdminError::Refused {
            endpoint: endpoint.to_owned(),
            method,
            code: format!("{code:?}"),
            message: status.message().to_owned(),
        },
    }
}

/// Provisions a namespace. An "already exists" answer (gRPC code or message) counts as success
/// and yields a default response (no assigned partition/proxy).
pub async fn create_namespace(
    endpoint: &str,
    request: CreateNamespaceRequest,
) -> Result<CreateNamespaceResponse, AdminError> {
    let mut client = client(endpoint).await?;
    match client.create_namespace(request).await {
        Ok(response) => {
            let response = response.into_inner();
            if response.success || is_already_exists(&response.message) {
                Ok(response)
            } else {
                Err(AdminError::Refused {
                    endpoint: endpoint.to_owned(),
                    method: "CreateNamespace",
                    code: "Rejected".to_owned(),
                    message: response.message,
                })
            }
        }
        Err(status) if status.code() == Code::AlreadyExists || is_already_exists(status.message()) => {
            Ok(CreateNamespaceResponse { success: true, message: status.message().to_owned(), ..Default::default() })
        }
        Err(status) => Err(from_status(endpoint, "CreateNamespace", &status)),
    }
}

/// Revokes a namespace (idempotent on the server).
pub async fn revoke_namespace(
    endpoint: &str,
    request: NamespaceRevocation,
) -> Result<NamespaceRevocationAck, AdminError> {
    let mut client = client(endpoint).await?;
    match client.revoke_namespace(request).await {
        Ok(ack) => {
            let ack = ack.into_inner();
            if ack.success {
                Ok(ack)
            } else {
                Err(AdminError::Refused {
                    endpoint: endpoint.to_owned(),
                    method: "RevokeNamespace",
                    code: "Rejected".to_owned(),
                    message: ack.message,
                })
            }
        }
        Err(status) if status.code() == Code::NotFound => {
            Ok(NamespaceRevocationAck { success: true, message: status.message().to_owned(), revoked_at: 0 })
        }
        Err(status) => Err(from_status(endpoint, "RevokeNamespace", &status)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn backend_config_debug_redacts_credentials() {
        let b = BackendConfig {
            backend_type: "redis".into(),
            connection_string: "redis://u:hunter2@h".into(),
            credentials: BTreeMap::from([("password".into(), "hunter2".into())]),
            options: BTreeMap::new(),
        };
        let shown = format!("{b:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("password"), "{shown}");
    }

    /// The field numbers are the wire contract: a renumbering must fail here.
    #[test]
    fn field_numbers_match_the_wire_contract() {
        use prost::Message;

        use super::proto::{AuthConfig, NamespaceConfig, PatternConfig};
        // Tag byte of a length-delimited field n: (n << 3) | 2; of a varint field: (n << 3) | 0.
        let request = CreateNamespaceRequest {
            namespace: "n".into(),
            requesting_proxy: "p".into(),
            config: Some(NamespaceConfig::default()),
            principal: "x".into(),
        };
        assert_eq!(request.encode_to_vec(), [0x0a, 1, b'n', 0x12, 1, b'p', 0x1a, 0, 0x22, 1, b'x']);
        let revoke = NamespaceRevocation { proxy_id: "p".into(), namespace: "n".into(), graceful_timeout_seconds: 30 };
        assert_eq!(revoke.encode_to_vec(), [0x0a, 1, b'p', 0x12, 1, b'n', 0x18, 30]);
        let response = CreateNamespaceResponse {
            success: true,
            message: "m".into(),
            assigned_partition: 7,
            assigned_proxy: "q".into(),
        };
        assert_eq!(response.encode_to_vec(), [0x08, 1, 0x12, 1, b'm', 0x18, 7, 0x22, 1, b'q']);
        let ack = NamespaceRevocationAck { success: true, message: String::new(), revoked_at: 5 };
        assert_eq!(ack.encode_to_vec(), [0x08, 1, 0x18, 5]);
        let backend = BackendConfig {
            backend_type: "t".into(),
            connection_string: "c".into(),
            credentials: BTreeMap::from([("k".into(), "v".into())]),
            options: BTreeMap::new(),
        };
        assert_eq!(&backend.encode_to_vec()[..6], [0x0a, 1, b't', 0x12, 1, b'c']);
        assert_eq!(backend.encode_to_vec()[6], 0x1a, "credentials is field 3");
        let pattern = PatternConfig {
            pattern_name: "k".into(),
            settings: BTreeMap::new(),
            required_interfaces: vec!["i".into()],
        };
        assert_eq!(pattern.encode_to_vec(), [0x0a, 1, b'k', 0x1a, 1, b'i']);
        let auth = AuthConfig { enabled: true, provider: "oidc".into(), options: BTreeMap::new() };
        assert_eq!(auth.encode_to_vec(), [0x08, 1, 0x12, 4, b'o', b'i', b'd', b'c']);
        let config = NamespaceConfig {
            backends: BTreeMap::new(),
            patterns: BTreeMap::new(),
            auth: Some(AuthConfig::default()),
            metadata: BTreeMap::from([("a".into(), "b".into())]),
        };
        assert_eq!(config.encode_to_vec()[..2], [0x1a, 0], "auth is field 3");
        assert_eq!(config.encode_to_vec()[2], 0x22, "metadata is field 4");
    }

    #[test]
    fn already_exists_is_recognised() {
        assert!(is_already_exists("namespace acme-prod already exists"));
        assert!(is_already_exists("Namespace Already Exists"));
        assert!(!is_already_exists("quota exceeded"));
    }

    #[tokio::test]
    async fn unreachable_admin_is_reported_as_such() {
        let err = create_namespace("http://127.0.0.1:1", CreateNamespaceRequest::default())
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.is_unreachable(), "{err}");
        let err = create_namespace("not a url", CreateNamespaceRequest::default()).await.expect_err("invalid");
        assert!(matches!(err, AdminError::InvalidEndpoint { .. }), "{err}");
    }
}
