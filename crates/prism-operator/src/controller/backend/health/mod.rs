//! Health checks of a backend in its own protocol: Redis PING (with AUTH), NATS INFO/CONNECT/
//! PING/PONG, PostgreSQL startup, authentication and `SELECT 1`, Kafka ApiVersions, RabbitMQ's
//! AMQP protocol header and Connection.Start; memstore is always healthy.
//!
//! A check resolves the host first (an unknown host is a configuration error, not an outage),
//! then runs the provider's exchange under the configured timeout. Results carry a reason and a
//! message fit for status and Events: an address and the server's own words, never a URL or a
//! credential.

mod amqp;
mod kafka;
mod nats;
mod postgres;
mod redis;
pub mod tls;

use std::time::Duration;

use prism_api::v1alpha1::BackendProvider;

use super::endpoint::Endpoint;
use crate::credentials::Sensitive;

/// Reason: the TCP connection failed (refused, reset, closed).
pub const CONNECTION_FAILED: &str = "ConnectionFailed";
/// Reason: no complete answer within the timeout.
pub const TIMEOUT: &str = "HealthCheckTimeout";
/// Reason: the server rejected the credentials.
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
/// Reason: the server answered, but not as the protocol says.
pub const PROTOCOL_ERROR: &str = "ProtocolError";
/// Reason: the TLS handshake failed.
pub const TLS_ERROR: &str = "TLSError";
/// Reason: the host name does not resolve.
pub const UNKNOWN_HOST: &str = "UnknownHost";

/// TLS material for a check: CA bundle and optional client certificate, all PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsMaterial {
    /// CA bundle (`ca.crt`); the system roots when absent.
    pub ca_pem: Option<String>,
    /// Client certificate chain (`tls.crt`) for mutual TLS.
    pub client_cert_pem: Option<String>,
    /// Client key (`tls.key`) for mutual TLS.
    pub client_key_pem: Option<Sensitive>,
}

/// What to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Protocol to speak.
    pub provider: BackendProvider,
    /// Where.
    pub endpoint: Endpoint,
    /// User name, if any.
    pub username: Option<Sensitive>,
    /// Password, if any.
    pub password: Option<Sensitive>,
    /// TLS, when enabled.
    pub tls: Option<TlsMaterial>,
    /// Time the whole check may take.
    pub timeout: Duration,
}

/// Result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// The backend answered correctly; the message says how.
    Healthy(String),
    /// The backend did not answer correctly.
    Unhealthy {
        /// PascalCase reason (one of this module's constants).
        reason: &'static str,
        /// What happened, for people.
        message: String,
    },
    /// The host does not resolve: the spec (or its Secret) is wrong.
    UnknownHost(String),
}

impl Health {
    /// An unhealthy result.
    pub fn unhealthy(reason: &'static str, message: impl Into<String>) -> Self {
        Self::Unhealthy { reason, message: message.into() }
    }
}

/// Runs one check of `target`.
pub async fn check(target: &Target) -> Health {
    if target.provider == BackendProvider::Memstore {
        return Health::Healthy("memstore is in-process and always available".to_owned());
    }
    let address = target.endpoint.address();
    let started = tokio::time::Instant::now();
    match tokio::time::timeout(target.timeout, lookup_host(&target.endpoint)).await {
        Err(_) => {
            return Health::unhealthy(TIMEOUT, format!("resolving {address} took longer than {:?}", target.timeout));
        }
        Ok(Err(health)) => return health,
        Ok(Ok(())) => {}
    }
    let remaining = target.timeout.saturating_sub(started.elapsed());
    let exchange = async {
        match target.provider {
            BackendProvider::Redis => redis::check(target).await,
            BackendProvider::Nats => nats::check(target).await,
            BackendProvider::Postgres => postgres::check(target).await,
            BackendProvider::Kafka => kafka::check(target).await,
            BackendProvider::Rabbitmq => amqp::check(target).await,
            BackendProvider::Memstore => Health::Healthy(String::new()),
        }
    };
    match tokio::time::timeout(remaining, exchange).await {
        Ok(health) => health,
        Err(_) => Health::unhealthy(
            TIMEOUT,
            format!("{} at {address} did not answer within {:?}", target.provider.as_str(), target.timeout),
        ),
    }
}

/// Resolves the endpoint's host: NXDOMAIN-like failures are [`Health::UnknownHost`], temporary
/// resolver failures an outage.
async fn lookup_host(endpoint: &Endpoint) -> Result<(), Health> {
    match tokio::net::lookup_host((endpoint.host.as_str(), endpoint.port)).await {
        Ok(mut addrs) => match addrs.next() {
            Some(_) => Ok(()),
            None => Err(Health::UnknownHost(format!("host {:?} has no addresses", endpoint.host))),
        },
        Err(err) => {
            let text = err.to_string();
            if text.contains("Temporary failure") || text.contains("try again") {
                Err(Health::unhealthy(CONNECTION_FAILED, format!("cannot resolve {:?}: {text}", endpoint.host)))
            } else {
                Err(Health::UnknownHost(format!("host {:?} does not resolve: {text}", endpoint.host)))
            }
        }
    }
}

/// Reason for an error text from a client library, when it has no typed kind.
pub fn classify(text: &str) -> &'static str {
    let lower = text.to_ascii_lowercase();
    if ["auth", "password", "wrongpass", "noauth", "access_refused"].iter().any(|k| lower.contains(k)) {
        AUTHENTICATION_FAILED
    } else if ["certificate", "tls", "handshake", "ssl"].iter().any(|k| lower.contains(k)) {
        TLS_ERROR
    } else if lower.contains("timed out") || lower.contains("timeout") {
        TIMEOUT
    } else if ["refused", "reset", "broken pipe", "closed", "unreachable", "eof"].iter().any(|k| lower.contains(k)) {
        CONNECTION_FAILED
    } else {
        PROTOCOL_ERROR
    }
}

/// An unhealthy result from a client library's error text.
fn failed(provider: &str, address: &str, text: String) -> Health {
    let reason = classify(&text);
    let message = match reason {
        AUTHENTICATION_FAILED => format!("{provider} at {address}: authentication failed: {text}"),
        TLS_ERROR => format!("{provider} at {address}: TLS handshake failed: {text}"),
        CONNECTION_FAILED => format!("cannot connect to {provider} at {address}: {text}"),
        _ => format!("{provider} at {address}: {text}"),
    };
    Health::unhealthy(reason, message)
}

/// A TCP connection to the endpoint, wrapped in TLS when the target asks for it.
async fn connect(target: &Target) -> Result<tls::Stream, Health> {
    let address = target.endpoint.address();
    let provider = target.provider.as_str();
    let tcp = tokio::net::TcpStream::connect((target.endpoint.host.as_str(), target.endpoint.port))
        .await
        .map_err(|e| failed(provider, &address, e.to_string()))?;
    match &target.tls {
        None => Ok(Box::new(tcp)),
        Some(material) => tls::wrap(tcp, &target.endpoint.host, material)
            .await
            .map_err(|e| Health::unhealthy(TLS_ERROR, format!("{provider} at {address}: {e}"))),
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A plain-text target on 127.0.0.1:`port`.
    pub fn target(provider: BackendProvider, port: u16) -> Target {
        Target {
            provider,
            endpoint: Endpoint {
                host: "127.0.0.1".into(),
                port,
                tls: false,
                database: None,
                username: None,
                password: None,
            },
            username: None,
            password: None,
            tls: None,
            timeout: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_are_classified() {
        assert_eq!(classify("WRONGPASS invalid username-password pair"), AUTHENTICATION_FAILED);
        assert_eq!(classify("db error: FATAL: password authentication failed for user \"app\""), AUTHENTICATION_FAILED);
        assert_eq!(classify("Connection refused (os error 111)"), CONNECTION_FAILED);
        assert_eq!(classify("invalid peer certificate: UnknownIssuer"), TLS_ERROR);
        assert_eq!(classify("unexpected response"), PROTOCOL_ERROR);
    }

    #[tokio::test]
    async fn memstore_is_always_healthy_and_closed_ports_are_refused() {
        let endpoint =
            Endpoint { host: "127.0.0.1".into(), port: 1, tls: false, database: None, username: None, password: None };
        let mut target = Target {
            provider: BackendProvider::Memstore,
            endpoint,
            username: None,
            password: None,
            tls: None,
            timeout: Duration::from_secs(2),
        };
        assert!(matches!(check(&target).await, Health::Healthy(_)));
        target.provider = BackendProvider::Redis;
        match check(&target).await {
            Health::Unhealthy { reason, message } => {
                assert_eq!(reason, CONNECTION_FAILED);
                assert!(message.contains("127.0.0.1:1"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn unknown_hosts_are_reported_as_such() {
        let endpoint = Endpoint {
            host: "no-such-host.invalid".into(),
            port: 6379,
            tls: false,
            database: None,
            username: None,
            password: None,
        };
        let target = Target {
            provider: BackendProvider::Redis,
            endpoint,
            username: None,
            password: None,
            tls: None,
            timeout: Duration::from_secs(5),
        };
        assert!(matches!(check(&target).await, Health::UnknownHost(_)));
    }
}
