//! Credentials as the operator holds them: a [`Sensitive`] string whose `Debug` and `Display`
//! never show the value, and the reading of a connection Secret's keys.
//!
//! Everything that holds a password goes through [`Sensitive`], so a stray `{:?}` in a log line,
//! an error or an Event cannot leak it. Only [`Sensitive::expose`] gives the value out, and its
//! callers are the renderer (into the owned Secret) and the health checks (onto the wire).

use std::{collections::BTreeMap, fmt};

use k8s_openapi::{ByteString, api::core::v1::Secret};
use prism_api::v1alpha1::SecretKeys;

/// Default key of the connection URL in a referenced Secret.
pub const DEFAULT_URL_KEY: &str = "url";
/// Default key of the user name in a referenced Secret.
pub const DEFAULT_USERNAME_KEY: &str = "username";
/// Default key of the password in a referenced Secret.
pub const DEFAULT_PASSWORD_KEY: &str = "password";

/// A secret string: compares and clones like a string, prints as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive(String);

impl Sensitive {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: for the wire or the owned Secret only, never for logs or status.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The URL, user name and password of a backend, each optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Connection URL (may embed a password, so it is treated as secret).
    pub url: Option<Sensitive>,
    /// User name.
    pub username: Option<Sensitive>,
    /// Password.
    pub password: Option<Sensitive>,
}

/// The key names to read, with the documented defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyNames {
    /// Key of the URL.
    pub url: String,
    /// Key of the user name.
    pub username: String,
    /// Key of the password.
    pub password: String,
}

impl KeyNames {
    /// `spec.connection.secretRef.keys` with defaults `url`, `username`, `password`.
    pub fn from_spec(keys: Option<&SecretKeys>) -> Self {
        let pick = |v: Option<&String>, d: &str| v.cloned().unwrap_or_else(|| d.to_owned());
        Self {
            url: pick(keys.and_then(|k| k.url.as_ref()), DEFAULT_URL_KEY),
            username: pick(keys.and_then(|k| k.username.as_ref()), DEFAULT_USERNAME_KEY),
            password: pick(keys.and_then(|k| k.password.as_ref()), DEFAULT_PASSWORD_KEY),
        }
    }

    /// Whether a rename was asked for: then every renamed key must exist.
    pub fn explicit(keys: Option<&SecretKeys>) -> Vec<&str> {
        keys.map(|k| [&k.url, &k.username, &k.password].into_iter().flatten().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

/// The string values of a Secret (`data` decoded, `stringData` merged on top), wrapped so that
/// they cannot be printed. Values that are not UTF-8 are reported as such, not read.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues {
    values: BTreeMap<String, Sensitive>,
    not_utf8: Vec<String>,
}

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key names are not secret; values are.
        f.debug_struct("SecretValues").field("keys", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

impl SecretValues {
    /// Reads a Secret's values. Takes ownership so no copy of the raw data outlives this call.
    pub fn from_secret(secret: Secret) -> Self {
        let mut out = Self::default();
        let data = secret.data.unwrap_or_default();
        for (key, ByteString(bytes)) in data {
            match String::from_utf8(bytes) {
                Ok(s) => {
                    out.values.insert(key, Sensitive(s));
                }
                Err(_) => out.not_utf8.push(key),
            }
        }
        for (key, value) in secret.string_data.unwrap_or_default() {
            out.values.insert(key, Sensitive(value));
        }
        out
    }

    /// Values from plain pairs (tests, and the TLS CA which is not secret).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            values: pairs.into_iter().map(|(k, v)| (k.to_owned(), Sensitive::new(v))).collect(),
            not_utf8: Vec::new(),
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Sensitive> {
        self.values.get(key)
    }

    /// Whether `key` exists but is not UTF-8.
    pub fn is_binary(&self, key: &str) -> bool {
        self.not_utf8.iter().any(|k| k == key)
    }

    /// Whether `key` exists at all.
    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key) || self.is_binary(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints() {
        let c = Credentials {
            url: Some(Sensitive::new("redis://u:hunter2@h")),
            username: Some(Sensitive::new("u")),
            password: Some(Sensitive::new("hunter2")),
        };
        let shown = format!("{c:?} {}", Sensitive::new("hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        let values = SecretValues::from_pairs([("password", "hunter2")]);
        assert!(!format!("{values:?}").contains("hunter2"));
        assert_eq!(values.get("password").map(Sensitive::expose), Some("hunter2"));
    }

    #[test]
    fn secret_data_and_string_data_are_read() {
        let secret = Secret {
            data: Some(BTreeMap::from([
                ("url".to_owned(), ByteString(b"redis://h".to_vec())),
                ("bin".to_owned(), ByteString(vec![0xff, 0xfe])),
            ])),
            string_data: Some(BTreeMap::from([("password".to_owned(), "p".to_owned())])),
            ..Default::default()
        };
        let v = SecretValues::from_secret(secret);
        assert_eq!(v.get("url").map(Sensitive::expose), Some("redis://h"));
        assert_eq!(v.get("password").map(Sensitive::expose), Some("p"));
        assert!(v.is_binary("bin") && v.contains("bin") && v.get("bin").is_none());
    }

    #[test]
    fn key_names_default_and_rename() {
        let k = KeyNames::from_spec(None);
        assert_eq!((k.url.as_str(), k.password.as_str()), ("url", "password"));
        let keys = SecretKeys { url: Some("nats-url".into()), username: None, password: Some("nats-password".into()) };
        let k = KeyNames::from_spec(Some(&keys));
        assert_eq!(
            (k.url.as_str(), k.username.as_str(), k.password.as_str()),
            ("nats-url", "username", "nats-password")
        );
        assert_eq!(KeyNames::explicit(Some(&keys)), ["nats-url", "nats-password"]);
    }
}
