//! Pure: a PrismBackend and the Secrets `resolve` read -> the validated connection (endpoint,
//! credentials, TLS material, health-check timing), or why it cannot be used.
//!
//! Rules the schema cannot express live here: the referenced Secrets exist in the backend's own
//! namespace and hold the keys asked for, the URL parses and matches the provider, the TLS CA is
//! PEM. Messages name the field, the Secret and the key, never a value.

use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use prism_api::v1alpha1::{BackendProvider, BackendType, PrismBackend};

use super::{
    endpoint::{self, Endpoint},
    health::{TlsMaterial, tls},
};
use crate::conditions::Invalid;
use crate::{
    credentials::{Credentials, KeyNames, SecretValues, Sensitive},
    go_duration,
};

/// Default time between health checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default time one health check may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Key of the CA bundle in the TLS Secret.
pub const CA_KEY: &str = "ca.crt";
/// Key of the client certificate in the TLS Secret.
pub const CERT_KEY: &str = "tls.crt";
/// Key of the client key in the TLS Secret.
pub const KEY_KEY: &str = "tls.key";

/// What `resolve` found for one Secret reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretLookup {
    /// No reference.
    NotReferenced,
    /// The reference names another namespace (refused: see [`validate`]).
    OtherNamespace(String),
    /// The Secret does not exist.
    Missing(String),
    /// The Secret's values.
    Found(String, SecretValues),
}

/// The referenced Secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    /// `spec.connection.secretRef`.
    pub connection: SecretLookup,
    /// `spec.tls.secretRef`.
    pub tls: SecretLookup,
}

/// Health-check timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// Checks run at all.
    pub enabled: bool,
    /// Time between checks.
    pub interval: Duration,
    /// Time one check may take.
    pub timeout: Duration,
}

/// A usable backend connection.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidatedBackend {
    /// PrismBackend name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Controller reference for the rendered children.
    pub owner: OwnerReference,
    /// Kind of backend.
    pub type_: BackendType,
    /// Backend software.
    pub provider: BackendProvider,
    /// Where it listens (None for memstore without a connection).
    pub endpoint: Option<Endpoint>,
    /// URL and credentials, rendered into the Secret.
    pub credentials: Credentials,
    /// TLS material when TLS is on.
    pub tls: Option<TlsMaterial>,
    /// Name of the TLS Secret, when given (published for runners to mount).
    pub tls_secret: Option<String>,
    /// Health-check timing.
    pub health: HealthCheck,
}

fn invalid(reason: &'static str, message: String) -> Invalid {
    Invalid { reason, message }
}

/// Validates `backend` in `namespace` against what `resolve` read.
pub fn validate(
    backend: &PrismBackend,
    namespace: &str,
    owner: OwnerReference,
    resolved: &Resolved,
) -> Result<ValidatedBackend, Invalid> {
    let spec = &backend.spec;
    let health = health_check(backend)?;
    let connection = spec.connection.as_ref();
    let secret_ref = connection.and_then(|c| c.secret_ref.as_ref());
    let keys = KeyNames::from_spec(secret_ref.and_then(|r| r.keys.as_ref()));

    let mut credentials = Credentials::default();
    match &resolved.connection {
        SecretLookup::NotReferenced => {}
        SecretLookup::OtherNamespace(other) => {
            return Err(invalid(
                "SecretNamespace",
                format!(
                    "spec.connection.secretRef.namespace is {other:?}; a PrismBackend may only read Secrets in its own namespace {namespace:?}"
                ),
            ));
        }
        SecretLookup::Missing(name) => {
            return Err(invalid(
                "SecretNotFound",
                format!(
                    "spec.connection.secretRef names Secret {name:?}, which does not exist in namespace {namespace:?}"
                ),
            ));
        }
        SecretLookup::Found(name, values) => {
            let explicit = KeyNames::explicit(secret_ref.and_then(|r| r.keys.as_ref()));
            if let Some(key) = explicit.iter().find(|k| !values.contains(k)) {
                return Err(invalid(
                    "SecretKeyMissing",
                    format!("Secret {name:?} has no key {key:?} (named in spec.connection.secretRef.keys)"),
                ));
            }
            for key in [&keys.url, &keys.username, &keys.password] {
                if values.is_binary(key) {
                    return Err(invalid(
                        "SecretKeyNotText",
                        format!("key {key:?} of Secret {name:?} is not UTF-8 text"),
                    ));
                }
            }
            credentials = Credentials {
                url: values.get(&keys.url).cloned(),
                username: values.get(&keys.username).cloned(),
                password: values.get(&keys.password).cloned(),
            };
        }
    }
    // The Secret's URL wins over spec.connection.url.
    if credentials.url.is_none() {
        credentials.url = connection.and_then(|c| c.url.clone()).map(Sensitive::new);
    }

    let endpoint = match (&credentials.url, spec.provider) {
        (None, BackendProvider::Memstore) => None,
        (None, _) => {
            let from = match &resolved.connection {
                SecretLookup::Found(name, _) => {
                    format!("spec.connection.url nor key {:?} of Secret {name:?}", keys.url)
                }
                _ => "spec.connection.url".to_owned(),
            };
            return Err(invalid("MissingURL", format!("no connection URL: neither {from} is set")));
        }
        (Some(url), provider) => Some(
            endpoint::parse(provider, url.expose())
                .map_err(|e| invalid("InvalidURL", format!("connection URL of provider {}: {e}", provider.as_str())))?,
        ),
    };
    if let Some(ep) = &endpoint {
        // Credentials embedded in the URL fill what the Secret leaves out.
        if credentials.username.is_none() {
            credentials.username = ep.username.clone();
        }
        if credentials.password.is_none() {
            credentials.password = ep.password.clone();
        }
    }

    let tls_spec = spec.tls.as_ref();
    let tls_enabled = tls_spec.and_then(|t| t.enabled).unwrap_or(false) || endpoint.as_ref().is_some_and(|e| e.tls);
    let tls_secret = tls_spec.and_then(|t| t.secret_ref.as_ref()).map(|r| r.name.clone());
    let tls = if tls_enabled && spec.provider != BackendProvider::Memstore {
        Some(tls_material(&resolved.tls, namespace)?)
    } else {
        None
    };

    Ok(ValidatedBackend {
        name: owner.name.clone(),
        namespace: namespace.to_owned(),
        owner,
        type_: spec.type_,
        provider: spec.provider,
        endpoint,
        credentials,
        tls,
        tls_secret,
        health,
    })
}

fn health_check(backend: &PrismBackend) -> Result<HealthCheck, Invalid> {
    let hc = backend.spec.health_check.as_ref();
    let parse = |field: &str, value: Option<&String>, default| {
        go_duration::parse_or(value.map(String::as_str), default)
            .map_err(|e| invalid("InvalidHealthCheck", format!("spec.healthCheck.{field}: {e}")))
    };
    let interval = parse("interval", hc.and_then(|h| h.interval.as_ref()), DEFAULT_INTERVAL)?;
    let timeout = parse("timeout", hc.and_then(|h| h.timeout.as_ref()), DEFAULT_TIMEOUT)?;
    if interval.is_zero() || timeout.is_zero() || timeout >= interval {
        return Err(invalid(
            "InvalidHealthCheck",
            "spec.healthCheck.timeout must be positive and shorter than spec.healthCheck.interval".to_owned(),
        ));
    }
    Ok(HealthCheck { enabled: hc.and_then(|h| h.enabled).unwrap_or(true), interval, timeout })
}

fn tls_material(lookup: &SecretLookup, namespace: &str) -> Result<TlsMaterial, Invalid> {
    match lookup {
        SecretLookup::NotReferenced => Ok(TlsMaterial::default()),
        SecretLookup::OtherNamespace(other) => Err(invalid(
            "SecretNamespace",
            format!(
                "spec.tls.secretRef.namespace is {other:?}; a PrismBackend may only read Secrets in its own namespace {namespace:?}"
            ),
        )),
        SecretLookup::Missing(name) => Err(invalid(
            "TLSSecretNotFound",
            format!("spec.tls.secretRef names Secret {name:?}, which does not exist in namespace {namespace:?}"),
        )),
        SecretLookup::Found(name, values) => {
            let ca = values.get(CA_KEY).map(|v| v.expose().to_owned());
            if let Some(pem) = &ca {
                tls::parse_certs(pem)
                    .map_err(|e| invalid("InvalidTLSSecret", format!("key {CA_KEY:?} of Secret {name:?}: {e}")))?;
            } else if !values.contains(CERT_KEY) {
                return Err(invalid(
                    "InvalidTLSSecret",
                    format!("Secret {name:?} has neither {CA_KEY:?} nor {CERT_KEY:?}"),
                ));
            }
            Ok(TlsMaterial {
                ca_pem: ca,
                client_cert_pem: values.get(CERT_KEY).map(|v| v.expose().to_owned()),
                client_key_pem: values.get(KEY_KEY).cloned(),
            })
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
